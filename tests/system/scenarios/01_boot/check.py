# SPDX-License-Identifier: GPL-2.0-or-later
"""Scenario 1: the unit comes from the .deb and was enabled and started by its postinst;
Type=notify start, WatchdogUSec set, the packaged hardening in effect, 30 s idle without stall or
watchdog timeout, the code run from its file (daemon.huge_code off), `systemctl reload` keeps the
same process active; the textfile is written through the sandbox, status.json refreshes swap two
inodes; `dpkg -r` removes the textfile and its spare."""

# CapabilityBoundingSet= of systemd/stallwatch.service, as capability numbers (linux/capability.h).
PACKAGED_CAPS = {"CAP_DAC_READ_SEARCH": 2, "CAP_IPC_LOCK": 14, "CAP_SYS_PTRACE": 19,
                 "CAP_SYS_ADMIN": 21, "CAP_SYS_NICE": 23, "CAP_SYSLOG": 34}


def check_package(run):
    begin = run.marks("package-install-begin")
    inst = run.marks("package-installed")
    run.require(begin and inst, "install-package ran (dpkg -i of the .deb)")
    b, i = begin[0], inst[0]
    run.expect_field(b, "TEST_LOADSTATE", "not-found", "no stallwatch.service before dpkg -i")
    run.expect(i.get("TEST_OWNER", "").startswith("stallwatch:"),
               "dpkg -S: the unit file belongs to the stallwatch package", i.get("TEST_OWNER"))
    run.expect(i.get("TEST_FRAGMENT") in ("/lib/systemd/system/stallwatch.service",
                                          "/usr/lib/systemd/system/stallwatch.service"),
               "systemd loaded the packaged unit file", i.get("TEST_FRAGMENT"))
    run.expect_field(i, "TEST_ENABLED", "enabled", "enabled after dpkg -i")
    run.expect(i.get("TEST_WANTS_LINK", "").endswith("/systemd/system/stallwatch.service"),
               "multi-user.target.wants link created", i.get("TEST_WANTS_LINK"))
    run.expect_field(i, "TEST_DSH_STATE", "present",
                     "enabled by the postinst (deb-systemd-helper state file)")
    run.expect_field(i, "TEST_ACTIVE", "active", "active when dpkg -i returned")
    run.expect(int(i.get("TEST_CATALOG") or 0) > 0,
               "journald catalog entries installed (dpkg trigger ran journalctl --update-catalog)",
               f"{i.get('TEST_CATALOG')} entries")
    # The only start of the unit in this boot is the postinst's deb-systemd-invoke, during dpkg -i.
    t0, t1 = int(b["__MONOTONIC_TIMESTAMP"]), int(i["__MONOTONIC_TIMESTAMP"])
    # (The metrics step at the end restarts the unit on purpose: starts after it do not count.)
    metrics_step = run.marks("textfile")
    t_metrics = int(metrics_step[0]["__MONOTONIC_TIMESTAMP"]) if metrics_step else None
    starts = [e for e in run.select(UNIT="stallwatch.service", JOB_TYPE="start")
              if e.get("JOB_RESULT") == "done"
              and (t_metrics is None or int(e["__MONOTONIC_TIMESTAMP"]) < t_metrics - 30_000_000)]
    run.expect(len(starts) == 1 and t0 <= int(starts[0]["__MONOTONIC_TIMESTAMP"]) <= t1,
               "started once, by the postinst while dpkg -i ran",
               f"{len(starts)} start job(s) at "
               f"{[int(e['__MONOTONIC_TIMESTAMP']) / 1e6 for e in starts]} s, "
               f"dpkg -i from {t0 / 1e6:.2f} to {t1 / 1e6:.2f} s")


def check_hardening(run):
    h = run.marks("hardening")
    run.require(h, "hardening mark")
    h = h[0]
    run.expect_field(h, "TEST_SECCOMP", "2", "system-call filter active (Seccomp: 2)")
    run.expect_field(h, "TEST_NO_NEW_PRIVS", "1", "NoNewPrivileges in effect")
    try:
        bits = int(h.get("TEST_CAP_BND", ""), 16)
    except ValueError:
        bits = -1
    caps = {n for n in range(64) if bits >= 0 and bits >> n & 1}
    run.expect(caps == set(PACKAGED_CAPS.values()),
               "capability bounding set is the unit's six capabilities",
               f"CapBnd={h.get('TEST_CAP_BND')}")
    run.expect_field(h, "TEST_PROTECT_SYSTEM", "strict", "ProtectSystem=strict")
    run.expect_field(h, "TEST_DEVICE_POLICY", "closed", "DevicePolicy=closed")
    run.expect_field(h, "TEST_PRIVATE_NETWORK", "yes", "PrivateNetwork=yes")
    run.expect("/etc/stallwatch/stallwatch.toml" in h.get("TEST_CONFFILES", "").split(),
               "/etc/stallwatch/stallwatch.toml is a conffile of the package",
               h.get("TEST_CONFFILES"))


def check_huge_code(run):
    h = run.marks("huge-code")
    run.require(h, "huge-code mark")
    h = h[0]
    run.expect_field(h, "TEST_FILE_RX", "1",
                     "the packaged daemon runs its code from /usr/sbin/stallwatchd's r-x mapping "
                     f"(daemon.huge_code off by default; transparent_hugepage: {h.get('TEST_THP')})")
    run.expect_field(h, "TEST_ANON_HUGE_KB", "", "no anonymous r-x mapping")
    run.expect_field(h, "TEST_LOGGED", "0", "nothing about huge_code in the unit's journal")


def check(run):
    check_package(run)
    check_hardening(run)
    check_huge_code(run)
    active = run.marks("service-active")
    run.require(active, "stallwatch.service became active")
    a = active[0]
    run.expect_field(a, "TEST_TYPE", "notify", "the unit is Type=notify")
    run.expect(a.get("TEST_WATCHDOG_USEC") not in (None, "", "0", "infinity"),
               "WatchdogUSec is set", f"WatchdogUSec={a.get('TEST_WATCHDOG_USEC')}")
    cfg = run.marks("shipped-config")
    run.expect(cfg and cfg[0].get("TEST_ETC") == "present",
               "the package put the shipped config at /etc/stallwatch/stallwatch.toml",
               f"found instead at: {cfg[0].get('TEST_ELSEWHERE', '').strip() or 'nowhere'}"
               if cfg else "no mark")
    idle = run.marks("idle-done")
    run.require(idle, "30 s idle period completed")
    i = idle[0]
    run.expect_field(i, "TEST_ACTIVE", "active", "still active after 30 s idle")
    run.expect_field(i, "TEST_NRESTARTS", "0", "no restarts during idle")
    run.expect_field(i, "TEST_MAINPID", a.get("TEST_MAINPID"), "same main PID after idle")
    timeouts = [e for e in run.unit_messages("stallwatch.service", "[Ww]atchdog timeout")]
    run.expect(not timeouts, "no systemd watchdog timeout",
               "; ".join(e.get("MESSAGE", "") for e in timeouts))
    stalls = run.events("stall") + run.events("ongoing") + run.events("global-pause")
    run.expect(not stalls, "no stall event while idle",
               "; ".join(run.describe(e) for e in stalls[:3]))
    run.expect_monitoring_ran(a, i, "30 s idle")
    hotplug = run.unit_messages("stallwatch.service", r"checks run on the heartbeats \(hotplug: ")
    run.expect(hotplug and all("(hotplug: uevents)" in e.get("MESSAGE", "") for e in hotplug),
               "under the packaged sandbox CPU hotplug comes from the kernel's uevents (AF_NETLINK "
               "allowed, received in the private network namespace), not a 1 s poll",
               "; ".join(e.get("MESSAGE", "")[-60:] for e in hotplug))
    try:
        sup = int(i.get("TEST_SUP_RUNS", "")) - int(a.get("TEST_SUP_RUNS", ""))
    except ValueError:
        sup = None
    run.expect(sup is not None and sup <= 2,
               "the supervisor thread did not wake during the 30 s idle (no polling)",
               f"{sup} runs of the main thread")
    r = run.marks("reloaded")
    run.require(r, "reload step ran")
    r = r[0]
    run.expect_field(r, "TEST_RC", "0", "systemctl reload succeeded")
    run.expect_field(r, "TEST_ACTIVE", "active", "active after reload")
    run.expect_field(r, "TEST_PID_AFTER", r.get("TEST_PID_BEFORE"), "same process after reload")
    done = [e for e in run.select(UNIT="stallwatch.service", JOB_TYPE="reload")
            if e.get("JOB_RESULT") == "done"]
    run.expect(done, "systemd logged the reload job as done (JOB_TYPE=reload JOB_RESULT=done)")
    tf = run.marks("textfile")
    run.require(tf, "metrics step ran")
    tf = tf[0]
    run.expect_field(tf, "TEST_ACTIVE", "active", "active after the restart with the textfile dir")
    run.expect_field(tf, "TEST_TEXTFILE", "present",
                     "the packaged daemon writes /var/lib/prometheus/node-exporter/stallwatch.prom "
                     "(metrics.textfile = \"auto\", allowed by the unit's ReadWritePaths=)")
    run.expect_field(tf, "TEST_MODE", "644", "the textfile is readable by node_exporter (0644)")
    run.expect_field(tf, "TEST_BUILD_INFO", "1", "it holds stallwatch_build_info")
    run.expect_field(tf, "TEST_HEARTBEAT_SERIES", "2", "one heartbeat-age series per CPU")
    sw = run.marks("swapfile")
    run.require(sw, "AtomicFile step ran")
    sw = sw[0]
    inodes = sw.get("TEST_INODES", "").split()
    run.expect(len(inodes) == 4 and len(set(inodes) | {sw.get("TEST_SPARE")}) == 2,
               "status.json refreshes swap two inodes (spare reused in place under the sandbox: "
               "write lease and RENAME_EXCHANGE allowed)",
               f"status.json inodes {inodes}, spare {sw.get('TEST_SPARE')}")
    rf = run.marks("textfile-refresh")
    run.require(rf, "textfile refresh step ran")
    rf = rf[0]
    run.expect(rf.get("TEST_AFTER") and rf.get("TEST_AFTER") != rf.get("TEST_BEFORE"),
               "the idle textfile is refreshed within metrics.interval (60 s) and a margin",
               f"inode {rf.get('TEST_BEFORE')} -> {rf.get('TEST_AFTER')} after {rf.get('TEST_WAITED_S')} s")
    run.expect_field(rf, "TEST_SPARE", rf.get("TEST_BEFORE"),
                     "the previous version became the spare stallwatch.prom.tmp (RENAME_EXCHANGE)")
    run.expect_field(rf, "TEST_HEARTBEAT_SERIES", "2", "the refreshed file has both CPUs' heartbeats")
    run.metric("textfile_refresh_wait_s", int(rf.get("TEST_WAITED_S") or 0))
    rm = run.marks("package-removed")
    run.require(rm, "dpkg -r step ran")
    rm = rm[0]
    run.expect_field(rm, "TEST_RC", "0", "dpkg -r stallwatch succeeded")
    run.expect(rm.get("TEST_STATUS", "").startswith("deinstall ok config-files"),
               "removed with its configuration kept", rm.get("TEST_STATUS"))
    run.expect(rm.get("TEST_ACTIVE") != "active", "the unit was stopped by the removal",
               rm.get("TEST_ACTIVE"))
    run.expect_field(rm, "TEST_PROM", "missing", "the postrm removed stallwatch.prom")
    run.expect_field(rm, "TEST_PROM_SPARE", "missing", "the postrm removed stallwatch.prom.tmp")
    run.expect_field(rm, "TEST_CONFIG", "present", "/etc/stallwatch/stallwatch.toml kept (a conffile)")
