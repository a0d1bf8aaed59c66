# SPDX-License-Identifier: GPL-2.0-or-later
"""Evidence for a real stall: a SCHED_FIFO hog on CPU 1 above the heartbeat's priority yields a
report that names the hog's pid, comm and priority with class rt-hog, and a JSON report file
that parses and says the same."""
import sys

from swtest import *

require_root_and_cpus()
binary = sys.argv[1]
lock = rt_lock()
d = Daemon(binary, base_config("1s"))
try:
    d.wait_ready()
    time.sleep(0.3)
    _, hog_pid, _ = run_hog(2.5, comm="sw-test-hog")
    d.wait_for(lambda d: any(e["event"] == "recovered" for e in d.events()), 5)
    stalls = [e for e in d.events() if e["event"] == "stall"]
    check(len(stalls) == 1, "one stall event")
    s = stalls[0]
    print("event:", s["headline"])
    check(s.get("class") == "rt-hog", f"class rt-hog (got {s.get('class')})")
    check(s.get("pid") == str(hog_pid), f"names the hog's pid {hog_pid} (got {s.get('pid')})")
    check(s.get("comm") == "sw-test-hog", "names the hog's comm")
    check(s.get("policy") == "SCHED_FIFO" and s.get("prio") == str(HOG_PRIO),
          f"names SCHED_FIFO priority {HOG_PRIO}")
    check(s["headline"] == f"CPU#1 stuck for {float(s['stall_ms']) / 1000:.1f}s! "
                           f"[sw-test-hog:{hog_pid}] class=rt-hog", "headline carries culprit and class")
    path = s.get("report", "")
    check(path.startswith(os.path.join(d.dir, "state", "reports")) and os.path.exists(path),
          "report file written in <state_dir>/reports")
    report = json.load(open(path))
    first = report["updates"][0]
    check(first["class"] == "rt-hog" and first["culprit"]["pid"] == hog_pid and
          first["culprit"]["comm"] == "sw-test-hog" and first["culprit"]["rt_priority"] == HOG_PRIO,
          "the JSON report parses and names the same culprit and class")
    check(first["event"]["cpu"] == 1 and first["event"]["kind"] == "stall", "report is for CPU 1's stall")
    check(d.stop() == 0, "clean stop")
except SystemExit:
    d.dump()
    d.stop()
    raise
print("PASS")
