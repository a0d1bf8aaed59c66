# SPDX-License-Identifier: GPL-2.0-or-later
"""escalation.dry_run on the host: a real hog past escalation.after produces the "would escalate"
event and nothing else: no reset reason written, no WATCHDOG=trigger sent to systemd's notify
socket (a socket this test listens on), and the daemon keeps monitoring."""
import socket
import sys

from swtest import *

require_root_and_cpus()
binary = sys.argv[1]
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
dry_run = true
"""
d = Daemon(binary, base_config("1s", extra=extra), env_extra={"NOTIFY_SOCKET": sock_path})
messages = []


def drain():
    while True:
        try:
            messages.append(sock.recv(4096).decode())
        except BlockingIOError:
            return


try:
    d.wait_ready()
    run_hog(3.5)
    d.wait_for(lambda d: any(e["event"] == "recovered" for e in d.events()), 5)
    time.sleep(0.3)
    drain()
    evs = d.events()
    for e in evs:
        print("event:", e["headline"], "|", e.get("event"))
    esc = [e for e in evs if e.get("event") == "escalation"]
    check(len(esc) == 1, "exactly one escalation event")
    check("would escalate" in esc[0]["headline"] and esc[0].get("cpu") == "1",
          "it says what would be done, for CPU 1")
    check(any("READY=1" in m for m in messages), "notify socket works (READY=1 received)")
    check(not any("WATCHDOG=trigger" in m for m in messages), "no WATCHDOG=trigger sent")
    state = os.path.join(d.dir, "state")
    leftovers = [f for f in os.listdir(state) if f.startswith("reset-reason")] if os.path.isdir(state) else []
    check(not leftovers, f"no reset reason written ({leftovers})")
    check(d.proc.poll() is None, "the daemon keeps running")
    check(d.stop() == 0, "clean stop")
except SystemExit:
    d.dump()
    d.stop()
    raise
print("PASS")
