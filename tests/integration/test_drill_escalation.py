# SPDX-License-Identifier: GPL-2.0-or-later
"""A drill proves detection, never escalation (issue 10 item 3), on the host with the real
daemon: escalation.action = "systemd", escalation.after (2 s) shorter than the drill (4 s), and a
fake systemd notify socket this test listens on.
- `stallwatchctl drill`: says what the escalation would have done; the daemon logs the drill as
  posted to its check before the stall is reported (issue 19: the tool starts its hog only once
  status.json lists it); the stall is reported; the escalation event says "escalation skipped:
  drill" with drill=1; no WATCHDOG=trigger; no reset reason file; the announcement file is gone
  afterwards.
- Then a real hog whose pid a non-root user "announced" (file owned by uid 65534): not a drill,
  so the daemon escalates for real (WATCHDOG=trigger, reset reason written)."""
import socket
import sys

from swtest import *

require_root_and_cpus()
binary = sys.argv[1]
ctl = os.environ.get("STALLWATCHCTL") or os.path.join(os.path.dirname(binary), "ctl", "stallwatchctl")
if not os.access(ctl, os.X_OK):
    fail(f"stallwatchctl not found at {ctl}")
lock = rt_lock()
tmp = tempfile.mkdtemp(prefix="stallwatch-notify-")
sock_path = os.path.join(tmp, "notify")
sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
sock.bind(sock_path)
sock.setblocking(False)
extra = """
[escalation]
action = "systemd"
after = "2s"
"""
d = Daemon(binary, base_config("1s", extra=extra), env_extra={"NOTIFY_SOCKET": sock_path})
messages = []


def drain():
    while True:
        try:
            messages.append(sock.recv(4096).decode())
        except BlockingIOError:
            return


def reset_reason():
    return os.path.join(d.dir, "state", "reset-reason.json")


try:
    d.wait_ready()
    time.sleep(1.5)  # drill reads status.json (it asks the daemon for a fresh one)
    r = subprocess.run([ctl, "-c", d.config, "drill", "--cpu", "1", "--duration", "4"],
                       capture_output=True, text=True, timeout=60)
    print(f"$ stallwatchctl drill -> {r.returncode}\n{r.stdout}{r.stderr}", end="")
    check(r.returncode == 0 and "PASS" in r.stdout, "the drill's stall was reported (PASS)")
    check('escalation: action = "systemd" after 2s: a real stall would send WATCHDOG=trigger'
          in r.stdout, "drill says what the escalation would have done")
    d.wait_for(lambda d: any(e.get("event") == "recovered" for e in d.events()), 5)
    time.sleep(0.3)
    drain()
    evs = d.events()
    for e in evs:
        print("event:", e["headline"], "|", e.get("event"), "drill=" + str(e.get("drill")))
    stalls = [e for e in evs if e.get("event") in ("stall", "ongoing")]
    check(stalls and all(e.get("drill") == "1" for e in stalls),
          "the drill's stall events are marked drill=1 (STALLWATCH_DRILL=1)")
    esc = [e for e in evs if e.get("event") == "escalation"]
    check(len(esc) == 1, "one escalation event")
    check("escalation skipped: drill" in esc[0]["headline"] and esc[0].get("drill") == "1",
          "it says escalation skipped: drill, marked drill=1")
    check(any("READY=1" in m for m in messages), "notify socket works (READY=1 received)")
    check(not any("WATCHDOG=trigger" in m for m in messages), "no WATCHDOG=trigger sent")
    check(not os.path.exists(reset_reason()), "no reset reason written")
    drills = os.path.join(d.dir, "run", "drills")
    check(os.path.isdir(drills) and not os.listdir(drills), "the announcement was removed")
    # Issue 19: the check knew the drill before anything could act (the tool starts its hog only
    # once the daemon lists the announcement in status.json).
    lines = d.lines()
    known = [i for i, l in enumerate(lines) if "drill announced on CPU 1" in l]
    stuck = [i for i, l in enumerate(lines) if "CPU#1 stuck" in l]
    check(known and stuck and known[0] < stuck[0],
          "the daemon posted the drill to its check before the stall was reported")

    # A non-root "announcement" for a real hog must not hide it.
    p = subprocess.Popen([sys.executable, "-c", HOG_SRC, str(HOG_CPU), "3.5", str(HOG_PRIO),
                          "sw-fake-drill"], stdout=subprocess.PIPE, text=True)
    start_us, pid = (int(x) for x in p.stdout.readline().split())
    planted = os.path.join(drills, f"{pid}.json")
    with open(planted, "w") as f:
        json.dump({"format": "stallwatch-drill/1", "cpu": HOG_CPU, "pid": pid,
                   "start_mono_ns": start_us * 1000, "end_mono_ns": start_us * 1000 + 10**10}, f)
    os.chown(planted, 65534, 65534)
    p.wait(30)
    d.wait_for(lambda d: len([e for e in d.events() if e.get("event") == "escalation"]) >= 2, 5)
    time.sleep(0.3)
    drain()
    evs = [e for e in d.events() if e.get("event") == "escalation"]
    for e in evs:
        print("event:", e["headline"], "|", e.get("event"), "drill=" + str(e.get("drill")))
    check(len(evs) == 2 and evs[1].get("drill") is None and "escalating" in evs[1]["headline"],
          "a hog announced by a non-root owner is escalated for real")
    check(any("WATCHDOG=trigger" in m for m in messages), "WATCHDOG=trigger sent for it")
    check(os.path.exists(reset_reason()), "reset reason written for it")
    check(any("ignored" in l and planted in l for l in d.lines()), "the planted file was ignored, said once")
    os.unlink(planted)
    check(d.proc.poll() is None, "the daemon keeps running")
    check(d.stop() == 0, "clean stop")
except SystemExit:
    d.dump()
    d.stop()
    raise
print("PASS")
