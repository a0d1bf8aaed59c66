# SPDX-License-Identifier: GPL-2.0-or-later
"""Helpers never wait behind a stalled CPU (issue 9): every non-real-time thread of the daemon
first runs on CPU 1 (as in QEMU scenario 09: "where they last ran"), then a SCHED_FIFO hog takes
CPU 1. While CPU 1 is stalled, every thread but the heartbeats, their relays and the feeder may run only on the
other CPUs (the dispatcher moved them when CPU 1's heartbeat was half-way to the threshold), the
report's counter window lies inside the stall (the baseline was taken then, not after), and after
the recovery they may use CPU 1 again."""
import sys
import threading

from swtest import *


def parse_cpulist(text):
    cpus = set()
    for part in text.split(","):
        a, _, b = part.partition("-")
        cpus.update(range(int(a), int(b or a) + 1))
    return cpus


def threads(pid):
    """{tid: (comm, Cpus_allowed_list)} of the process."""
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            comm = open(f"/proc/{pid}/task/{tid}/comm").read().strip()
            status = open(f"/proc/{pid}/task/{tid}/status").read()
        except OSError:
            continue
        allowed = re.search(r"^Cpus_allowed_list:\s*(\S+)", status, re.M).group(1)
        out[int(tid)] = (comm, allowed)
    return out


def placed(pid):
    return {t: v for t, v in threads(pid).items()
            if not v[0].startswith(("sw-hb/", "sw-relay/")) and v[0] not in ("sw-feeder", "sw-escalate", "sw-mover")}


require_root_and_cpus()
binary = sys.argv[1]
lock = rt_lock()
all_cpus = sorted(os.sched_getaffinity(0))
others = [c for c in all_cpus if c != HOG_CPU]
d = Daemon(binary, base_config("1s"))
try:
    d.wait_ready()
    pid = d.proc.pid
    start = placed(pid)
    check(len(start) >= 5, f"the daemon's non-real-time threads: {sorted(v[0] for v in start.values())}")
    for tid in start:
        os.sched_setaffinity(tid, {HOG_CPU})
    d.hup()  # every thread that logs or dispatches runs once on CPU 1 ...
    time.sleep(0.5)
    for tid in start:
        os.sched_setaffinity(tid, set(all_cpus))  # ... and is free again: last ran on CPU 1
    time.sleep(0.3)

    hog = threading.Thread(target=run_hog, args=(3.0,))
    hog.start()
    check(d.wait_for(lambda d: any(e["event"] == "stall" for e in d.events()), 5), "a stall event for CPU 1")
    during = placed(pid)
    print("during the stall:", {v[0]: v[1] for v in during.values()})
    off = [v for v in during.values() if HOG_CPU in parse_cpulist(v[1])]
    check(not off, f"no helper may run on stalled CPU {HOG_CPU} (still allowed there: {off})")
    check(all(parse_cpulist(v[1]) == set(others) for v in during.values()),
          f"every helper may use the healthy CPUs {others}")
    hog.join()
    check(d.wait_for(lambda d: any(e["event"] == "recovered" for e in d.events()), 5), "a recovered event")
    s = [e for e in d.events() if e["event"] == "stall"][0]
    check(s.get("class") == "rt-hog", f"class rt-hog (got {s.get('class')})")
    report = json.load(open(s["report"]))
    counters = report["updates"][0]["evidence"]["counters"]
    check(counters.get("window_kind") == "inside-stall",
          f"counter window inside the stall (got {counters.get('window_kind')}, "
          f"{counters.get('window_ns', 0) / 1e9:.2f} s)")
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        after = placed(pid)
        if all(parse_cpulist(v[1]) == set(all_cpus) for v in after.values()):
            break
        time.sleep(0.1)
    print("after the recovery:", {v[0]: v[1] for v in after.values()})
    check(all(parse_cpulist(v[1]) == set(all_cpus) for v in after.values()),
          "after the recovery every helper may use every CPU again")
    check(d.stop() == 0, "clean stop")
except SystemExit:
    d.dump()
    d.stop()
    raise
print("PASS")
