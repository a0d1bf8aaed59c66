# SPDX-License-Identifier: GPL-2.0-or-later
"""Only CPU 1 monitored (heartbeat.cpus = "1"): its one heartbeat is the only one that can run the
check. A 3 s SCHED_FIFO hog on CPU 1 silences it: that is a stall of CPU 1 ("CPU#1 stuck"),
reported while the hog still runs and recovered afterwards, not a global pause of the machine."""
import sys

from swtest import *

require_root_and_cpus()
binary = sys.argv[1]
lock = rt_lock()
text = base_config(threshold="1s")
config = text.replace("[heartbeat]\n", '[heartbeat]\ncpus = "1"\n', 1)
if config == text:
    fail("test bug: no [heartbeat] table in base_config() to put cpus = \"1\" in")
d = Daemon(binary, config)
with dumped_on_failure(d):
    d.wait_ready()
    time.sleep(0.5)
    hog_start_us, hog_pid, hog_end_us = run_hog(3.0)
    d.wait_for(lambda d: any(e["event"] == "recovered" for e in d.events()), 5)
    time.sleep(0.3)
    evs = d.events()
    print_events(evs)
    stalls = [e for e in evs if e["event"] == "stall" and e.get("cpu") == "1"]
    check(stalls, "an event=stall for cpu=1")
    s = stalls[0]
    check(s["headline"].startswith("CPU#1 stuck"), f"its headline starts 'CPU#1 stuck' ({s['headline']!r})")
    det_us = int(s["detected_mono_us"])
    print(f"stall detected {(det_us - hog_start_us) / 1000:.0f} ms after the hog started, "
          f"hog ran {(hog_end_us - hog_start_us) / 1000:.0f} ms")
    check(hog_start_us < det_us < hog_end_us, "the stall was detected while the hog still ran")
    rec = [e for e in evs if e["event"] == "recovered" and e.get("cpu") == "1"]
    check(rec and int(rec[0]["stall_ms"]) >= 2000,
          f"an event=recovered for cpu=1 with stall_ms >= 2000 "
          f"({rec[0]['stall_ms'] if rec else 'none'})")
    pauses = [e for e in evs if e["event"] == "global-pause"]
    check(not pauses, f"no event=global-pause (got {len(pauses)})")
    check(d.stop() == 0, "clean stop")
print("PASS")
