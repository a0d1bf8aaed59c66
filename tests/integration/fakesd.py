# SPDX-License-Identifier: GPL-2.0-or-later
"""Helpers for host tests of the daemon's outputs: a fake systemd notify socket that records every
sd_notify message with its arrival time, a SCHED_FIFO hog that runs in the background, a test
journald, and the status-file liveness check ("heartbeats advanced and the checker ran") that
every "no false stall" test makes."""
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

from swtest import HOG_CPU, HOG_PRIO, HOG_SRC, check, fail, mono_us


class NotifySocket:
    """An AF_UNIX datagram socket standing in for systemd's NOTIFY_SOCKET. A thread receives
    every message at once (so the daemon never blocks on us) and keeps (mono_s, text) pairs."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="stallwatch-notify-")
        os.chmod(self.dir, 0o755)
        self.path = os.path.join(self.dir, "notify")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        os.chmod(self.path, 0o777)
        self.sock.settimeout(0.2)
        self.messages = []
        self.lock = threading.Lock()
        self.running = True
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while self.running:
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                return
            now = time.monotonic()
            with self.lock:
                for line in data.decode(errors="replace").split("\n"):
                    if line:
                        self.messages.append((now, line))

    def env(self, watchdog_usec=2_000_000):
        """Environment for the daemon: NOTIFY_SOCKET and WATCHDOG_USEC, no WATCHDOG_PID (the PID
        is unknown before the fork; sd_watchdog_enabled accepts a missing WATCHDOG_PID)."""
        e = {"NOTIFY_SOCKET": self.path, "WATCHDOG_USEC": str(watchdog_usec)}
        return e

    def times(self, text):
        with self.lock:
            return [t for t, m in self.messages if m == text]

    def wait_for(self, text, timeout_s):
        end = time.monotonic() + timeout_s
        while time.monotonic() < end:
            if self.times(text):
                return True
            time.sleep(0.05)
        return False

    def close(self):
        self.running = False
        self.thread.join(2)
        self.sock.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def check_ping_cadence(notify, start_s, end_s, watchdog_usec, what):
    """WATCHDOG=1 kept its cadence over [start_s, end_s] (monotonic seconds): no gap, including
    the edges, longer than WATCHDOG_USEC/2 + 300 ms."""
    limit_s = watchdog_usec / 2e6 + 0.3
    pings = [t for t in notify.times("WATCHDOG=1") if start_s - limit_s <= t <= end_s + limit_s]
    points = [start_s] + [t for t in pings if start_s <= t <= end_s] + [end_s]
    gaps = [b - a for a, b in zip(points, points[1:])]
    worst = max(gaps) if gaps else end_s - start_s
    print(f"{what}: {len(points) - 2} WATCHDOG=1 in {end_s - start_s:.1f} s, "
          f"longest gap {worst * 1000:.0f} ms (limit {limit_s * 1000:.0f} ms)")
    check(worst < limit_s, f"{what}: WATCHDOG=1 kept its cadence (every gap < {limit_s * 1000:.0f} ms)")


class BackgroundHog:
    """The swtest SCHED_FIFO busy loop, started without waiting for it: start_us is its
    CLOCK_MONOTONIC start, wait() returns its end."""

    def __init__(self, seconds, cpu=HOG_CPU, prio=HOG_PRIO, comm="sw-test-hog"):
        self.seconds = seconds
        self.proc = subprocess.Popen([sys.executable, "-c", HOG_SRC, str(cpu), str(seconds),
                                      str(prio), comm], stdout=subprocess.PIPE, text=True)
        first = self.proc.stdout.readline().split()
        if len(first) != 2:
            fail("the SCHED_FIFO hog did not start")
        self.start_us, self.pid = int(first[0]), int(first[1])

    def wait(self):
        self.proc.wait(self.seconds + 30)
        return mono_us()


class TestJournald:
    """A standalone systemd-journald owned by the test (as in test_journald.py). `own` is False
    when another journald already runs: the caller must not stop that one."""

    BINARY = "/lib/systemd/systemd-journald"

    def __init__(self):
        self.proc = None
        self.own = False
        running = subprocess.run(["pgrep", "-x", "systemd-journal"], capture_output=True).returncode == 0
        if running and os.path.exists("/run/systemd/journal/socket"):
            return
        shutil.rmtree("/run/systemd/journal", ignore_errors=True)
        self.proc = subprocess.Popen([self.BINARY], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        self.own = True
        for _ in range(100):
            if os.path.exists("/run/systemd/journal/stdout"):
                break
            time.sleep(0.05)
        time.sleep(0.2)

    def stream(self, identifier="stallwatchd"):
        """A stdout stream connection as systemd gives a service: (socket, JOURNAL_STREAM value)."""
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect("/run/systemd/journal/stdout")
        s.sendall(f"{identifier}\n\n6\n0\n0\n0\n0\n".encode())
        s.shutdown(socket.SHUT_RD)
        st = os.fstat(s.fileno())
        return s, f"{st.st_dev}:{st.st_ino}"

    def stop(self, sig):
        if self.proc:
            self.proc.send_signal(sig)

    def close(self):
        if self.proc:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            shutil.rmtree("/run/systemd/journal", ignore_errors=True)


# How status.json names a CPU that is not monitored (offline now).
OFF_STATES = ("offline", "unmonitored")


def read_status(runtime_dir):
    import json
    with open(os.path.join(runtime_dir, "status.json")) as f:
        return json.load(f)


def fresh_status(runtime_dir, wait_s=2.0):
    """status.json after asking the daemon for a fresh one through its status.request FIFO (as
    stallwatchctl does; the daemon rewrites the file on change, on request, or every 10 s).
    Without the FIFO (an older daemon rewrote it every second) the file is read as it is."""
    before = read_status(runtime_dir)
    try:
        fd = os.open(os.path.join(runtime_dir, "status.request"), os.O_WRONLY | os.O_NONBLOCK)
    except OSError:
        return before
    try:
        os.write(fd, b"r")
    finally:
        os.close(fd)
    end = time.monotonic() + wait_s
    while time.monotonic() < end:
        now = read_status(runtime_dir)
        if int(now["updated_mono_ns"]) > int(before["updated_mono_ns"]):
            return now
        time.sleep(0.02)
    return read_status(runtime_dir)


def check_alive_and_checking(runtime_dir, what, gap_s=2.5):
    """The status file proves the monitoring ran: asked for twice, gap_s apart, it was rewritten
    (updated_mono_ns moved on and is recent), every monitored CPU's heartbeat sequence grew and,
    where the daemon counts them, the checks ran (checks_total grew, the last one is recent)."""
    a = fresh_status(runtime_dir)
    time.sleep(gap_s)
    b = fresh_status(runtime_dir)
    now_ns = time.clock_gettime_ns(time.CLOCK_MONOTONIC)
    age_s = (now_ns - int(b["updated_mono_ns"])) / 1e9
    check(int(b["updated_mono_ns"]) > int(a["updated_mono_ns"]) and age_s < 2.5,
          f"{what}: status file rewritten (last update {age_s:.1f} s ago)")
    if "checks_total" in b:
        print(f"{what}: checks_total {a.get('checks_total')} -> {b['checks_total']}, "
              f"last check {b.get('last_check_age_ms')} ms before the update")
        check(int(b["checks_total"]) > int(a.get("checks_total", 0)), f"{what}: the checks ran")
        check(0 <= int(b.get("last_check_age_ms", -1)) < 1000, f"{what}: the last check is recent")
    seq_a = {c["cpu"]: int(c["seq"]) for c in a["cpus"] if c["state"] not in OFF_STATES}
    seq_b = {c["cpu"]: int(c["seq"]) for c in b["cpus"] if c["state"] not in OFF_STATES}
    check(seq_b, f"{what}: some CPUs monitored")
    for cpu, s in sorted(seq_b.items()):
        print(f"{what}: CPU {cpu} heartbeat seq {seq_a.get(cpu)} -> {s}")
        # A CPU that was still starting (or offline) in the first snapshot counts from 0.
        check(s > seq_a.get(cpu, 0), f"{what}: CPU {cpu}'s heartbeat advanced")
    return b
