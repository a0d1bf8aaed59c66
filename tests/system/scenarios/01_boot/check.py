"""Scenario 1: Type=notify start, WatchdogUSec set, 30 s idle without stall or watchdog timeout,
`systemctl reload` keeps the same process active."""


def check(run):
    active = run.marks("service-active")
    run.require(active, "stallwatch.service became active")
    a = active[0]
    run.expect_field(a, "TEST_TYPE", "notify", "the unit is Type=notify")
    run.expect(a.get("TEST_WATCHDOG_USEC") not in (None, "", "0", "infinity"),
               "WatchdogUSec is set", f"WatchdogUSec={a.get('TEST_WATCHDOG_USEC')}")
    cfg = run.marks("shipped-config")
    run.expect(cfg and cfg[0].get("TEST_ETC") == "present",
               "the install put the shipped config at /etc/stallwatch/stallwatch.toml",
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
    r = run.marks("reloaded")
    run.require(r, "reload step ran")
    r = r[0]
    run.expect_field(r, "TEST_RC", "0", "systemctl reload succeeded")
    run.expect_field(r, "TEST_ACTIVE", "active", "active after reload")
    run.expect_field(r, "TEST_PID_AFTER", r.get("TEST_PID_BEFORE"), "same process after reload")
    done = [e for e in run.select(UNIT="stallwatch.service", JOB_TYPE="reload")
            if e.get("JOB_RESULT") == "done"]
    run.expect(done, "systemd logged the reload job as done (JOB_TYPE=reload JOB_RESULT=done)")
