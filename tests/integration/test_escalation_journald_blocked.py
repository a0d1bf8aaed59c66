# SPDX-License-Identifier: GPL-2.0-or-later
"""Escalation does not wait for reporting (issue 19, item 2), on the host with the real daemon:
escalation.action = "systemd", after = 2 s, threshold 1 s, a fake systemd NOTIFY_SOCKET this
test reads, and journald replaced by a datagram socket nobody reads. The daemon runs in a
private mount namespace (unshare -m) in which /run/systemd/journal is the test's directory; the
test fills that socket's queue first, so every journald write of the daemon blocks (the stall
event of the report worker, as with a journald stuck behind the stalled CPU on a busy host).
A SCHED_FIFO hog on CPU 1 for 5 s: WATCHDOG=trigger must arrive within escalation.after + one
check interval (+ 300 ms for the reset reason's fsync and the wakeup) of the hog's start, with
the reset reason on disk, while no journald write of the daemon could complete. Then the socket
is drained (the events follow) and the daemon stops cleanly."""
import shutil
import socket
import sys

from swtest import *
from fakesd import NotifySocket

require_root_and_cpus()
binary = sys.argv[1]
if shutil.which("unshare") is None:
    skip("unshare (util-linux) is missing")
lock = rt_lock()

AFTER_MS, INTERVAL_MS, SLACK_MS = 2000, 100, 300
work = tempfile.mkdtemp(prefix="stallwatch-jblock-")
jdir = os.path.join(work, "journal")
os.mkdir(jdir)
jpath = os.path.join(jdir, "socket")
journal = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
journal.bind(jpath)
os.chmod(jpath, 0o777)
# Fill its queue: nobody reads, so every later sender blocks (a blocking sendmsg, as
# sd_journal_send makes).
filler = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
filler.setblocking(False)
filled = 0
try:
    while filled < 100_000:
        filler.sendto(b"MESSAGE=filler\n", jpath)
        filled += 1
except BlockingIOError:
    pass
print(f"journal socket queue filled with {filled} datagrams")
check(0 < filled < 100_000, "the journal socket's queue is full")

# The daemon in a private mount namespace whose /run/systemd/journal is jdir.
wrapper = os.path.join(work, "stallwatchd-jblock")
with open(wrapper, "w") as f:
    f.write(f"""#!/bin/sh
exec unshare -m --propagation private sh -c '
  mount -t tmpfs tmpfs /run/systemd 2>/dev/null || {{ mkdir -p /run/systemd && mount -t tmpfs tmpfs /run/systemd; }}
  mkdir -p /run/systemd/journal && mount --bind "$0" /run/systemd/journal && exec "$@"' {jdir} {binary} "$@"
""")
os.chmod(wrapper, 0o755)

notify = NotifySocket()
extra = f"""
[escalation]
action = "systemd"
after = "{AFTER_MS}ms"
"""
env = notify.env()
env["JOURNAL_STREAM"] = "8:1"  # as under systemd: events and logs go to journald
d = Daemon(wrapper, base_config("1s", extra=extra), env_extra=env)


def reset_reason():
    return os.path.join(d.dir, "state", "reset-reason.json")


try:
    end = time.monotonic() + 10
    while not notify.times("READY=1") and time.monotonic() < end and d.proc.poll() is None:
        time.sleep(0.05)
    check(notify.times("READY=1"), "READY=1 while every journald write blocks")
    time.sleep(1.0)
    p = subprocess.Popen([sys.executable, "-c", HOG_SRC, str(HOG_CPU), "5", str(HOG_PRIO),
                          "sw-test-hog"], stdout=subprocess.PIPE, text=True)
    start_us, pid = (int(x) for x in p.stdout.readline().split())
    trigger = None
    end = time.monotonic() + 8
    while trigger is None and time.monotonic() < end:
        t = notify.times("WATCHDOG=trigger")
        trigger = t[0] if t else None
        time.sleep(0.01)
    check(trigger is not None, "WATCHDOG=trigger sent while journald does not read")
    after_ms = (trigger * 1e6 - start_us) / 1000
    print(f"WATCHDOG=trigger {after_ms:.0f} ms after the hog started "
          f"(limit: after {AFTER_MS} + interval {INTERVAL_MS} + {SLACK_MS} ms)")
    check(after_ms <= AFTER_MS + INTERVAL_MS + SLACK_MS,
          "WATCHDOG=trigger within escalation.after + one check interval of the stall")
    check(os.path.exists(reset_reason()), "the reset reason was written before it")
    # Nothing of the daemon's could reach journald meanwhile: the queue is still only ours.
    journal.setblocking(False)
    ours = 0
    try:
        while ours < filled:
            journal.recv(65536)
            ours += 1
    except BlockingIOError:
        pass
    check(ours == filled, f"no journald write of the daemon completed before the trigger "
                          f"({ours} of {filled} queued datagrams were the test's)")
    # Drained: the daemon's blocked writes go through now, and more follow; keep reading.
    theirs = []
    end = time.monotonic() + 8
    while time.monotonic() < end and not any(b"STALLWATCH_EVENT=escalation\n" in m for m in theirs):
        try:
            theirs.append(journal.recv(65536))
        except BlockingIOError:
            time.sleep(0.02)
    esc = [m for m in theirs if b"STALLWATCH_EVENT=escalation\n" in m]
    check(esc and b"escalating: action=systemd" in esc[0],
          "the escalation event followed once journald read again")
    p.wait(30)
    t0 = time.monotonic()
    rc = d.stop()
    print(f"exit status {rc} {1000 * (time.monotonic() - t0):.0f} ms after SIGTERM")
    check(rc == 0, "clean stop")
except SystemExit:
    d.dump()
    d.stop()
    raise
print("PASS")
