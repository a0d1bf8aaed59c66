# SPDX-License-Identifier: GPL-2.0-or-later
"""The whole daemon frozen (SIGSTOP ... SIGCONT, as a paused VM or a debugger would) for about the
stall threshold is a global pause, never a stall: with the defaults (heartbeat.interval 500 ms,
checker.threshold 2 s) freezes of 1.6, 1.8, 2.0, 2.2 and 2.4 s give one event=global-pause each
and no event=stall or event=ongoing. A real hog on CPU 1 afterwards is still detected."""
import sys

from swtest import *

require_root_and_cpus()
binary = sys.argv[1]
lock = rt_lock()
FREEZES_S = (1.6, 1.8, 2.0, 2.2, 2.4)
# The daemon's defaults but for the heartbeat priority (below the hog's) and the test's own
# directories; metrics off (see base_config).
CONFIG = f"""
[heartbeat]
priority = {HB_PRIO}
[daemon]
state_dir = "@DIR@/state"
runtime_dir = "@DIR@/run"
[metrics]
textfile = ""
"""
d = Daemon(binary, CONFIG)
try:
    d.wait_ready()
    time.sleep(2.0)
    for secs in FREEZES_S:
        n = len(d.events())
        os.kill(d.proc.pid, signal.SIGSTOP)
        time.sleep(secs)
        os.kill(d.proc.pid, signal.SIGCONT)
        time.sleep(3.0)
        new = d.events()[n:]
        print(f"freeze of {secs} s: " + (", ".join(f"{e['event']} cpu={e.get('cpu')}" for e in new)
                                         or "no event"))
    evs = d.events()
    print_events(evs)
    stalls = [e for e in evs if e["event"] in ("stall", "ongoing")]
    check(not stalls, f"no event=stall or event=ongoing for any CPU after the freezes (got {len(stalls)})")
    pauses = [e for e in evs if e["event"] == "global-pause"]
    for e in pauses:
        print("global pause:", e["headline"], "|", {k: v for k, v in e.items() if k != "headline"})
    check(len(pauses) == len(FREEZES_S),
          f"one event=global-pause per freeze ({len(pauses)} for {len(FREEZES_S)} freezes)")
    print("control: a 3.5 s hog on CPU 1")
    run_hog(3.5)
    check(d.wait_for(lambda d: any(e["event"] == "stall" and e.get("cpu") == "1"
                                   for e in d.events()), 3),
          "detection still works after the freezes: event=stall cpu=1 for the hog")
    check(d.stop() == 0, "clean stop")
except SystemExit:
    if d.proc.poll() is None:
        os.kill(d.proc.pid, signal.SIGCONT)
    d.dump()
    d.stop()
    raise
print("PASS")
