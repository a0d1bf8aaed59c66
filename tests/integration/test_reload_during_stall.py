# SPDX-License-Identifier: GPL-2.0-or-later
"""A SIGHUP reload (here a new heartbeat.interval, which restarts the heartbeats) in the middle of a
stall of CPU 1 must not lose the stall: the daemon says RELOADING=1 then READY=1 within 2 s, and
the episode goes on across the reload (event=ongoing after it, same episode number, no second
event=stall) until one event=recovered for the whole 9 s hog."""
import sys
import threading

from swtest import *

require_root_and_cpus()
binary = sys.argv[1]
lock = rt_lock()
HOG_S = 9.0
sock = NotifySocket()
d = Daemon(binary, base_config(threshold="1s", repeat="1s"), env_extra={"NOTIFY_SOCKET": sock.path})


def notify_lines(msgs):
    return [l for m in msgs for l in m.split("\n") if l]


try:
    d.wait_ready()
    time.sleep(0.5)
    hog = {}
    th = threading.Thread(target=lambda: hog.setdefault("r", run_hog(HOG_S)), daemon=True)
    t_hog = time.monotonic()
    th.start()
    time.sleep(3.0)
    old = base_config(threshold="1s", repeat="1s")
    new = old.replace('interval = "100ms"\npriority', 'interval = "80ms"\npriority')
    if new == old:
        fail("test bug: the heartbeat interval was not replaced in the config")
    d.write_config(new)
    seen = len(sock.drain())
    reload_us = mono_us()
    d.hup()
    got, t_ready = [], None
    end = time.monotonic() + 2.0
    while time.monotonic() < end:
        got = notify_lines(sock.drain()[seen:])
        if "RELOADING=1" in got and "READY=1" in got[got.index("RELOADING=1"):]:
            t_ready = time.monotonic()
            break
        time.sleep(0.05)
    print(f"notify after SIGHUP ({time.monotonic() - t_hog:.1f} s into the hog): {got}")
    check("RELOADING=1" in got, "RELOADING=1 within 2 s of the SIGHUP")
    check(t_ready is not None, "READY=1 after RELOADING=1, within 2 s of the SIGHUP")
    check(d.wait_for(lambda d: any("configuration reloaded" in l for l in d.lines()), 3),
          "'configuration reloaded' logged")
    print([l.strip() for l in d.lines() if "configuration reloaded" in l][0])
    th.join(HOG_S + 40)
    check("r" in hog, "the hog ran")
    hog_start_us, hog_pid, hog_end_us = hog["r"]
    print(f"hog {hog_start_us}..{hog_end_us} ({(hog_end_us - hog_start_us) / 1000:.0f} ms), "
          f"SIGHUP at {reload_us} ({(reload_us - hog_start_us) / 1000:.0f} ms into it)")
    d.wait_for(lambda d: any(e["event"] == "recovered" and e.get("cpu") == "1" for e in d.events()), 5)
    time.sleep(0.3)
    evs = [e for e in d.events() if e.get("cpu") == "1"]
    print_events(d.events())
    stalls = [e for e in evs if e["event"] == "stall"]
    check(stalls, "an event=stall for cpu=1")
    ep = stalls[0]["episode"]
    during = [e for e in stalls if hog_start_us <= int(e["detected_mono_us"]) <= hog_end_us]
    check(len(during) == 1, f"one event=stall for cpu=1 during the hog, no second one (got {len(during)})")
    ongoing_after = [e for e in evs if e["event"] == "ongoing" and int(e["detected_mono_us"]) > reload_us]
    check(ongoing_after, f"event=ongoing for cpu=1 after the reload ({len(ongoing_after)})")
    ongoing = [e for e in evs if e["event"] == "ongoing"]
    check(all(e["episode"] == ep for e in ongoing),
          f"every event=ongoing for cpu=1 is in episode {ep} of the first stall "
          f"({sorted(set(e['episode'] for e in ongoing))})")
    rec = [e for e in evs if e["event"] == "recovered" and e["episode"] == ep]
    check(rec, f"an event=recovered for cpu=1 in episode {ep}")
    check(int(rec[0]["stall_ms"]) >= 8000, f"it lasted the whole hog: stall_ms {rec[0]['stall_ms']} >= 8000")
    check(d.stop() == 0, "clean stop")
except SystemExit:
    d.dump()
    d.stop()
    sock.close()
    raise
sock.close()
print("PASS")
