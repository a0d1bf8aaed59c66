# SPDX-License-Identifier: GPL-2.0-or-later
"""stallwatchctl doctor on this host: every check present with a valid status, JSON valid, exit
status from the statuses (0 ok/unknown, 1 warn, 2 fail), done in under 2 s, read-only. The
soft-lockup check must agree with the live sysctls (on this machine kernel.watchdog is normally 0,
so that check is `warn`); with no daemon the stallwatch check fails, with a real stallwatchd
running it is ok and names its pid; as an unprivileged user the kernel-log check says it needs
root."""
import sys

from swtest import *

IDS = ["kernel-softlockup-detector", "kernel-hardlockup-detector", "stallwatch", "isolated-cpus",
       "panic-policy", "crash-dump", "sysrq", "hardware-watchdog", "protection-ladder",
       "clocksource", "cpu-idle", "steal", "rt-throttling", "thermal-throttling",
       "machine-checks", "kernel-taint", "past-lockups", "flight-recorder"]

require_root_and_cpus()
binary = sys.argv[1]
ctl = os.environ.get("STALLWATCHCTL") or os.path.join(os.path.dirname(binary), "ctl", "stallwatchctl")
if not os.access(ctl, os.X_OK):
    fail(f"stallwatchctl not found at {ctl}")


def doctor(*args, prefix=()):
    cmd = list(prefix) + [ctl] + list(args)
    t0 = time.monotonic()
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    elapsed = time.monotonic() - t0
    print(f"$ {' '.join(cmd)}  -> {r.returncode} in {elapsed:.2f}s\n{r.stdout}{r.stderr}", end="")
    return r, elapsed


def by_id(j):
    return {c["id"]: c for c in j["checks"]}


def sysctl(name):
    with open(f"/proc/sys/kernel/{name}") as f:
        return int(f.read().split()[0])


def check_report(r, elapsed, what):
    check(elapsed < 2.0, f"{what}: finished in {elapsed:.2f} s (< 2 s)")
    j = json.loads(r.stdout)
    check([c["id"] for c in j["checks"]] == IDS, f"{what}: every check id, in order")
    for c in j["checks"]:
        check(c["status"] in ("ok", "warn", "fail", "unknown") and c["summary"]
              and isinstance(c["evidence"], dict) and isinstance(c["fix"], str),
              f"{what}: {c['id']} is {c['status']}: {c['summary']}")
    statuses = {c["status"] for c in j["checks"]}
    want = 2 if "fail" in statuses else 1 if "warn" in statuses else 0
    check(r.returncode == want and j["exit_status"] == want,
          f"{what}: exit status {r.returncode} follows the statuses ({want})")
    return j


# 1. No daemon (a config whose runtime_dir holds no status file).
tmp = tempfile.mkdtemp(prefix="stallwatch-doctor-")
os.chmod(tmp, 0o755)  # the unprivileged run reads the config too
cfg = os.path.join(tmp, "stallwatch.toml")
with open(cfg, "w") as f:
    f.write(f'[daemon]\nruntime_dir = "{tmp}/run"\nstate_dir = "{tmp}/state"\n')
stat_before = os.stat("/proc/sys/kernel/watchdog")
r, elapsed = doctor("-c", cfg, "doctor", "--json")
j = check_report(r, elapsed, "no daemon")
c = by_id(j)
soft = c["kernel-softlockup-detector"]
if sysctl("watchdog") == 0:
    check(soft["status"] == "warn" and soft["summary"] == "soft-lockup detector is off "
          "(kernel.watchdog = 0): stallwatch is the only stall detector",
          "kernel.watchdog = 0 here: kernel-softlockup-detector is warn")
else:
    print(f"note: kernel.watchdog is {sysctl('watchdog')} on this host now (normally 0)")
    thresh = sysctl("watchdog_thresh")
    check(soft["status"] == "ok" and soft["summary"] == "soft-lockup detector on: reports a CPU "
          f"stuck for {2 * thresh}s (2 x watchdog_thresh {thresh})",
          "kernel.watchdog = 1 here: kernel-softlockup-detector is ok with 2 x thresh")
check(soft["evidence"]["/proc/sys/kernel/watchdog"] == str(sysctl("watchdog")),
      "evidence holds the live kernel.watchdog value")
check(c["stallwatch"]["status"] == "fail" and
      c["stallwatch"]["summary"] == f"stallwatchd is not running (no {tmp}/run/status.json)",
      "no daemon: stallwatch check fails")
check(r.returncode != 0, "exit status non-zero")
check(c["steal"]["evidence"].get("/proc/stat steal over the window", "").endswith("%)"),
      "steal measured over a sampling window")
check(c["past-lockups"]["status"] != "unknown", "as root the kernel log is read")
check(os.stat("/proc/sys/kernel/watchdog").st_mtime == stat_before.st_mtime and
      not os.path.exists(f"{tmp}/run"), "read-only: nothing created or written")

# 2. Human output: grouped.
r, elapsed = doctor("-c", cfg, "doctor")
for g in ("Detectors:", "Recovery:", "Known causes:", "This boot:", "Evidence:"):
    check(g in r.stdout.splitlines(), f"human output has the group {g}")
check(elapsed < 2.0 and r.returncode == j["exit_status"], "human output: same exit status")

# 3. As an unprivileged user: the kernel log needs root.
if sysctl("dmesg_restrict") == 1:
    r, elapsed = doctor("-c", cfg, "doctor", "--json",
                        prefix=["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"])
    c = by_id(check_report(r, elapsed, "unprivileged"))
    check(c["past-lockups"]["status"] == "unknown" and "needs root" in c["past-lockups"]["summary"],
          "unprivileged: past-lockups is unknown, needs root")
else:
    print("note: kernel.dmesg_restrict = 0, the kernel log is readable without root")

# 4. A real daemon: the stallwatch check is ok and names it.
lock = rt_lock()
d = Daemon(binary, base_config("1s"))
try:
    d.wait_ready()
    time.sleep(1.5)  # the status file is written once a second
    r, elapsed = doctor("-c", d.config, "doctor", "--json")
    c = by_id(check_report(r, elapsed, "daemon running"))
    s = c["stallwatch"]
    check(s["status"] == "ok" and s["summary"].startswith("stallwatchd ") and
          f"(pid {d.proc.pid}) running: {os.cpu_count()} CPUs monitored, threshold 1.0s" in s["summary"],
          "daemon running: stallwatch check ok, with its pid")
    rt = c["rt-throttling"]
    check(rt["evidence"]["heartbeat.priority"] == str(HB_PRIO) and "stallwatchd" not in
          rt["summary"], "the daemon's own heartbeat threads are not reported as RT hogs")
finally:
    d.stop()
print("PASS")
