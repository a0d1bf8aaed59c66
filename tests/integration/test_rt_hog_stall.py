# SPDX-License-Identifier: GPL-2.0-or-later
"""A real stall: a SCHED_FIFO hog above the heartbeat's priority on CPU 1 for 3 x threshold.
CPU 1, and only CPU 1, is reported stalled within threshold + check interval + 100 ms of the hog's
start; an ongoing and a recovered event follow; the recovered duration matches the hog's run."""
import sys

from swtest import *

require_root_and_cpus()
binary = sys.argv[1]
lock = rt_lock()
THRESHOLD_MS, CHECK_MS, HOG_S = 1000, 100, 3.0
d = Daemon(binary, base_config("1s"))
try:
    d.wait_ready()
    time.sleep(0.5)
    hog_start_us, hog_pid, hog_end_us = run_hog(HOG_S)
    d.wait_for(lambda d: any(e["event"] == "recovered" for e in d.events()), 5)
    time.sleep(0.3)
    evs = d.events()
    for e in evs:
        print("event:", e["headline"], "|", {k: v for k, v in e.items() if k != "headline"})
    stalls = [e for e in evs if e["event"] == "stall"]
    check(len(stalls) == 1, f"exactly one stall event (got {len(stalls)})")
    check(all(e["cpu"] == "1" for e in evs), "every event names CPU 1 only")
    s = stalls[0]
    latency_ms = (int(s["detected_mono_us"]) - hog_start_us) / 1000
    print(f"detection latency: {latency_ms:.0f} ms after the hog started")
    check(0 < latency_ms <= THRESHOLD_MS + CHECK_MS + 100,
          f"stall detected within threshold + check interval + 100 ms ({latency_ms:.0f} ms)")
    check(s["headline"].startswith("CPU#1 stuck for "), "headline reads like the kernel's")
    check(int(s["stall_ms"]) >= THRESHOLD_MS and s["threshold_ms"] == str(THRESHOLD_MS),
          "stall_ms past the threshold, threshold_ms reported")
    kinds = [e["event"] for e in evs]
    check("ongoing" in kinds and kinds.index("ongoing") > kinds.index("stall"),
          "an ongoing event follows the stall")
    rec = [e for e in evs if e["event"] == "recovered"]
    check(len(rec) == 1 and kinds.index("recovered") == len(kinds) - 1, "one recovered event, last")
    hog_ms = (hog_end_us - hog_start_us) / 1000
    rec_ms = int(rec[0]["stall_ms"])
    print(f"hog ran {hog_ms:.0f} ms; recovered event says {rec_ms} ms")
    check(abs(rec_ms - hog_ms) <= 0.10 * hog_ms, "recovered duration within 10 % of the hog's run")
    check(d.stop() == 0, "SIGTERM stops the daemon with status 0")
except SystemExit:
    d.dump()
    d.stop()
    raise
print("PASS")
