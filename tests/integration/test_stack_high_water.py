# SPDX-License-Identifier: GPL-2.0-or-later
"""The locked part of the heartbeats' and relays' stacks holds their deepest paths, with room.

Every heartbeat (sw-hb/N) and relay (sw-relay/N) keeps the top 12 KiB of its 16 KiB stack locked
and unlocks the rest, a reserve (thread_start.h), paints the locked part at entry and measures
its high-water at exit; stallwatchd logs the largest of each kind once at stop: "stack
high-water: heartbeats A KiB of S KiB, L KiB locked (max over N threads), relays B KiB of R KiB,
M KiB locked (...)".
This test runs the real daemon, at its default stack sizes, through the deepest paths a heartbeat
or relay takes: WATCHDOG=1 to a fake systemd notify socket all along (WATCHDOG_USEC = 2 s), a real
stall (a SCHED_FIFO hog above the heartbeats on CPU 1 for 3 s: stall, ongoing and recovered
events) escalated (escalation.action = "systemd" after 2 s: the check hands the escalation to
the actor through the relay; WATCHDOG=trigger goes to the fake socket), a blackout (the whole
daemon SIGSTOPped for 3 s), a SIGHUP reload that changes the interval and threshold, and every
thread moved to CPU 0 (taskset -a: sw-hb/1 displaced and put back by its relay); then a clean
stop, whose SIGRTMIN wake pushes a signal frame on each heartbeat's stack. Each path is checked
to have happened; after them no reserve page is resident, and each high-water leaves at least
2 KiB of its locked part unused. The helpers (sw-log, sw-kmsg, sw-evio, sw-sysrq, sw-counters,
sw-report, sw-dispatch) keep only the top 32 KiB of their larger stacks locked: after the same
paths (a stall's evidence gathered and its report written among them) none has touched the
reserve below.

Before that, at start: each heartbeat's and relay's stack is 12 KiB locked and resident on top
of a 4 KiB reserve neither locked nor resident, and the guard page below is still PROT_NONE but
not locked (thread_start.cpp unlocks it: a locked guard counts in VmLck and against
RLIMIT_MEMLOCK without ever being resident)."""
import re
import subprocess
import sys

from swtest import *
from fakesd import NotifySocket

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "bench"))
import overhead  # noqa: E402  bench/overhead.py: its smaps reader and stack lookup

require_root_and_cpus()
binary = sys.argv[1]
lock = rt_lock()

# No heartbeat.stack_kib: the default is what is measured.
CONFIG = f"""
[heartbeat]
interval = "@INTERVAL@"
priority = {HB_PRIO}
[checker]
interval = "100ms"
threshold = "@THRESHOLD@"
repeat_interval = "@THRESHOLD@"
[escalation]
action = "systemd"
after = "2s"
[daemon]
state_dir = "@DIR@/state"
runtime_dir = "@DIR@/run"
[metrics]
textfile = ""
"""
HIGH_WATER_RE = re.compile(
    r"stack high-water: heartbeats ([\d.]+) KiB of (\d+) KiB, (\d+) KiB locked \(max over "
    r"(\d+) threads?\), relays ([\d.]+) KiB of (\d+) KiB, (\d+) KiB locked \(max over "
    r"(\d+) threads?\)")
STACK_KIB, LOCKED_KIB = 16, 12
HELPER_LOCKED_KIB = 32  # kHelperLockedStackBytes (thread_start.h)


def config(interval, threshold):
    return CONFIG.replace("@INTERVAL@", interval).replace("@THRESHOLD@", threshold)


def check_stack_locking(pid, at_start):
    maps = overhead.vmas(pid)
    seen = 0
    for prefix in ("sw-hb/", "sw-relay/"):
        for tid in [t for c in range(os.cpu_count()) for t in thread_tids(pid, f"{prefix}{c}")]:
            seen += 1
            parts, guard = overhead.stack_mappings(pid, tid, maps)
            top, reserve = parts[0], parts[1] if len(parts) > 1 else None
            kib = (top[1] - top[0]) // 1024
            if at_start:
                check(top[4] and top[3] == kib == LOCKED_KIB,
                      f"{prefix}{tid}: the top {kib} KiB of its stack are locked and resident "
                      f"(Locked {top[3]} KiB)")
                check(guard and not guard[4],
                      f"{prefix}{tid}: the guard below it is PROT_NONE and not locked "
                      f"({guard and guard[2]}, locked {guard and guard[4]})")
            check(reserve and not reserve[4] and reserve[5] == 0
                  and (reserve[1] - reserve[0]) // 1024 == STACK_KIB - LOCKED_KIB,
                  f"{prefix}{tid}: its {STACK_KIB - LOCKED_KIB} KiB reserve is neither locked nor "
                  f"resident" + (f" (locked {reserve[4]}, Rss {reserve[5]} KiB)" if reserve else
                                 " (no reserve mapping)"))
    check(seen >= 4, f"every heartbeat and relay looked at ({seen} threads)")


def check_helper_stacks(pid):
    """Every other sw-* thread (logging, evidence, reports, dispatch) but the real-time ones
    (sw-escalate, sw-feeder: whole stack locked and resident) keeps the top
    HELPER_LOCKED_KIB of its stack locked and resident (ThreadOptions' default) over a reserve
    that, after the deepest paths, is still neither locked nor resident."""
    maps = overhead.vmas(pid)
    seen = []
    for tid in os.listdir(f"/proc/{pid}/task"):
        comm = open(f"/proc/{pid}/task/{tid}/comm").read().strip()
        if not comm.startswith("sw-") or comm.startswith(("sw-hb/", "sw-relay/", "sw-mover")):
            continue
        parts, _ = overhead.stack_mappings(pid, tid, maps)
        top, reserve = parts[0], parts[1] if len(parts) > 1 else None
        kib = sum(m[1] - m[0] for m in parts) // 1024
        if comm in ("sw-escalate", "sw-feeder") or kib <= HELPER_LOCKED_KIB:
            # the real-time woken threads keep their whole stack locked (woken_thread.cpp)
            check(top[4] and top[3] == kib, f"{comm}: its {kib} KiB stack is locked and resident")
            continue
        seen.append(comm)
        check(top[4] and top[3] == (top[1] - top[0]) // 1024 == HELPER_LOCKED_KIB,
              f"{comm}: the top {HELPER_LOCKED_KIB} KiB of its {kib} KiB stack are locked and "
              f"resident (Locked {top[3]} KiB of {(top[1] - top[0]) // 1024})")
        check(reserve and not reserve[4] and reserve[5] == 0,
              f"{comm}: the {kib - HELPER_LOCKED_KIB} KiB below are an untouched reserve" +
              (f" (locked {reserve[4]}, Rss {reserve[5]} KiB)" if reserve else " (no reserve)"))
    print(f"helpers with a {HELPER_LOCKED_KIB} KiB locked top: {', '.join(sorted(seen))}")
    check(len(seen) >= 5, f"the helpers were looked at ({len(seen)})")


def events_of(d, kind, cpu=None):
    return [e for e in d.events() if e["event"] == kind and (cpu is None or e.get("cpu") == cpu)]


notify = NotifySocket()
d = Daemon(binary, config("100ms", "1s"), env_extra=notify.env(2_000_000))
try:
    d.wait_ready()
    check(notify.wait_for("READY=1", 5), "READY=1 on the fake notify socket")
    check_stack_locking(d.proc.pid, True)

    print("1. a stall on CPU 1 for 3 s, escalated after 2 s")
    run_hog(3.0)
    check(d.wait_for(lambda d: events_of(d, "recovered", "1"), 5), "event=recovered for cpu=1")
    check(events_of(d, "stall", "1"), "event=stall for cpu=1")
    check(events_of(d, "escalation", "1"), "event=escalation for cpu=1")
    check(notify.wait_for("WATCHDOG=trigger", 2), "WATCHDOG=trigger (the escalation acted)")

    print("2. the whole daemon frozen for 3 s (SIGSTOP, SIGCONT)")
    n = len(d.events())
    os.kill(d.proc.pid, signal.SIGSTOP)
    time.sleep(3.0)
    os.kill(d.proc.pid, signal.SIGCONT)
    check(d.wait_for(lambda d: any(e["event"] in ("global-pause", "blackout", "stall")
                                   for e in d.events()[n:]), 5),
          "the freeze was seen (an event after SIGCONT)")

    print("3. a reload: heartbeat.interval 100ms -> 150ms, threshold 1s -> 1500ms")
    d.write_config(config("150ms", "1500ms"))
    d.hup()
    check(d.wait_for(lambda d: any("configuration reloaded" in l for l in d.lines()), 5),
          "the reload was applied")

    print("4. every thread of the daemon moved to CPU 0 (taskset -a)")
    r = subprocess.run(["taskset", "-a", "-p", "-c", "0", str(d.proc.pid)],
                       capture_output=True, text=True)
    check(r.returncode == 0, f"taskset -a -p -c 0 worked {r.stderr.strip()}")
    check(d.wait_for(lambda d: events_of(d, "displaced", "1"), 5), "event=displaced for cpu=1")
    end = time.monotonic() + 5
    while time.monotonic() < end and any(os.sched_getaffinity(t) != {1}
                                         for t in thread_tids(d.proc.pid, "sw-hb/1")):
        time.sleep(0.1)
    check(all(os.sched_getaffinity(t) == {1} for t in thread_tids(d.proc.pid, "sw-hb/1")),
          "sw-hb/1 is back on CPU 1 alone")
    time.sleep(0.5)

    print("5. after the deepest paths, the reserves are still untouched")
    check_stack_locking(d.proc.pid, False)
    check_helper_stacks(d.proc.pid)

    pings = notify.times("WATCHDOG=1")
    check(len(pings) >= 2, f"WATCHDOG=1 pings were sent by the checks ({len(pings)})")
    check(d.stop() == 0, "clean stop")
    print_events(d.events())
    lines = [l for l in d.lines() if "stack high-water" in l]
    print("".join(lines), end="")
    check(len(lines) == 1, "one stack high-water line at stop")
    m = HIGH_WATER_RE.search(lines[0])
    check(m is not None, "the line reads as expected")
    hb_used, hb_stack, hb_locked, hb_n = float(m.group(1)), int(m.group(2)), int(m.group(3)), \
        int(m.group(4))
    relay_used, relay_stack, relay_locked, relay_n = float(m.group(5)), int(m.group(6)), \
        int(m.group(7)), int(m.group(8))
    check(hb_n >= 2 and relay_n >= 2, f"every heartbeat and relay reported ({hb_n}, {relay_n})")
    check((hb_stack, hb_locked, relay_stack, relay_locked) == (STACK_KIB, LOCKED_KIB) * 2,
          f"stacks of {STACK_KIB} KiB with {LOCKED_KIB} KiB locked ({hb_stack}/{hb_locked}, "
          f"{relay_stack}/{relay_locked})")
    check(hb_used <= hb_locked - 2,
          f"heartbeats used {hb_used} KiB: at least 2 KiB of their {hb_locked} KiB locked unused")
    check(relay_used <= relay_locked - 2,
          f"relays used {relay_used} KiB: at least 2 KiB of their {relay_locked} KiB locked unused")
except SystemExit:
    if d.proc.poll() is None:
        os.kill(d.proc.pid, signal.SIGCONT)
    d.dump()
    d.stop()
    raise
finally:
    notify.close()
print("PASS")
