# SPDX-License-Identifier: GPL-2.0-or-later
"""Shared helpers for stallwatch host integration tests: run the real stallwatchd, make real
stalls with a SCHED_FIFO busy-loop hog, and read its events back.

Each test is a plain script run by ctest; exit 77 = skipped (printed reason), 0 = pass. Under
CI=true a skip is a failure (exit 1): CI runs as root on a machine that can run every test."""
import atexit
import contextlib
import fcntl
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

SKIP = 77
HOG_CPU = 1
HOG_PRIO = 60
HB_PRIO = 50


def skip(reason):
    """Skips the test (exit 77) outside CI; under CI=true the same reason fails it (exit 1)."""
    if os.environ.get("CI") == "true":
        print(f"FAIL: skipped under CI=true, which must run every host test: {reason}")
        sys.exit(1)
    print(f"skipped: {reason}")
    sys.exit(SKIP)


def fail(msg):
    print(f"FAIL: {msg}")
    sys.exit(1)


def check(cond, msg):
    if not cond:
        fail(msg)
    print(f"ok: {msg}")


def require_root_and_cpus():
    if os.geteuid() != 0:
        skip("needs root (SCHED_FIFO heartbeats and a SCHED_FIFO hog)")
    if os.cpu_count() < 2:
        skip("needs at least 2 CPUs (the hog must not take CPU 0)")


def rt_lock(wait_s=240):
    """Serialises tests that need quiet CPUs (shared with the QEMU suite and other runs on this
    machine). Fails clearly, rather than by the ctest timeout, if the lock stays held."""
    f = open("/tmp/stallwatch-rt.lock", "w")
    end = time.monotonic() + wait_s
    while True:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return f
        except BlockingIOError:
            if time.monotonic() > end:
                fail(f"/tmp/stallwatch-rt.lock still held after {wait_s} s (another test run?)")
            time.sleep(0.2)


def mono_us():
    return time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000


EVENT_RE = re.compile(r"^stallwatch: (?P<headline>.*) \| (?P<fields>.*)$")
FIELD_RE = re.compile(r'(\w+)=("(?:[^"\\]|\\.)*"|\S+)')


def parse_event(line):
    m = EVENT_RE.match(line.rstrip("\n"))
    if not m:
        return None
    ev = {"headline": m.group("headline")}
    for k, v in FIELD_RE.findall(m.group("fields")):
        ev[k] = json.loads(v) if v.startswith('"') else v
    return ev


class Daemon:
    """stallwatchd in the foreground with events on stderr."""

    def __init__(self, binary, config_text, extra_args=(), env_extra=None, preexec_fn=None):
        self.dir = tempfile.mkdtemp(prefix="stallwatch-it-")
        self.config = os.path.join(self.dir, "stallwatch.toml")
        self.write_config(config_text)
        self.log_path = os.path.join(self.dir, "stderr.log")
        self.log = open(self.log_path, "w+")
        env = dict(os.environ)
        env.pop("JOURNAL_STREAM", None)
        env.pop("NOTIFY_SOCKET", None)
        env.update(env_extra or {})
        self.proc = subprocess.Popen([binary, "--config", self.config, *extra_args],
                                     stdout=self.log, stderr=subprocess.STDOUT, env=env,
                                     preexec_fn=preexec_fn)
        # Whatever ends the test (a failed check, an uncaught exception), the daemon must not
        # outlive it: a leftover daemon's RT heartbeats would disturb every later test.
        atexit.register(self._kill)

    def _kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def write_config(self, text):
        text = text.replace("@DIR@", self.dir)
        with open(self.config + ".tmp", "w") as f:
            f.write(text)
        os.rename(self.config + ".tmp", self.config)

    def lines(self):
        with open(self.log_path) as f:
            return f.readlines()

    def events(self):
        return [e for e in (parse_event(l) for l in self.lines()) if e]

    def wait_for(self, predicate, timeout_s):
        end = time.monotonic() + timeout_s
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                fail(f"stallwatchd exited with {self.proc.returncode}:\n{''.join(self.lines())}")
            if predicate(self):
                return True
            time.sleep(0.05)
        return False

    def wait_ready(self):
        if not self.wait_for(lambda d: any("ready" in l for l in d.lines()), 10):
            fail("stallwatchd did not become ready:\n" + "".join(self.lines()))

    def hup(self):
        self.proc.send_signal(signal.SIGHUP)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                fail("stallwatchd did not stop within 10 s of SIGTERM")
        return self.proc.returncode

    def dump(self):
        print("---- stallwatchd output ----")
        print("".join(self.lines()), end="")
        print("----------------------------")


HOG_SRC = r"""
import ctypes, os, sys, time
cpu, secs, prio = int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
ctypes.CDLL(None).prctl(15, sys.argv[4].encode(), 0, 0, 0)  # PR_SET_NAME: the comm to look for
os.sched_setaffinity(0, {cpu})
os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(prio))
start = time.clock_gettime_ns(time.CLOCK_MONOTONIC)
print(start // 1000, os.getpid(), flush=True)
end = start + int(secs * 1e9)
while time.clock_gettime_ns(time.CLOCK_MONOTONIC) < end:
    pass
"""


def run_hog(seconds, cpu=HOG_CPU, prio=HOG_PRIO, comm="sw-test-hog"):
    """Runs a SCHED_FIFO busy loop pinned to `cpu` for `seconds`; returns (start_mono_us, pid,
    end_mono_us). The hog is bounded by its own clock and runs in a child that dies with us."""
    p = subprocess.Popen([sys.executable, "-c", HOG_SRC, str(cpu), str(seconds), str(prio), comm],
                         stdout=subprocess.PIPE, text=True)
    first = p.stdout.readline().split()
    p.wait(seconds + 30)
    return int(first[0]), int(first[1]), mono_us()


def base_config(threshold="1s", extra="", repeat="1s", metrics='textfile = ""'):
    """metrics: the [metrics] keys; off by default so tests never write the host's real
    node_exporter directory (metrics.textfile = "auto")."""
    return f"""
[heartbeat]
interval = "100ms"
priority = {HB_PRIO}
[checker]
interval = "100ms"
threshold = "{threshold}"
repeat_interval = "{repeat}"
[daemon]
state_dir = "@DIR@/state"
runtime_dir = "@DIR@/run"
[metrics]
{metrics}
{extra}
"""


# --- Hostile task names (issue 10) ----------------------------------------------------------

NAMED_HOG_SRC = r"""
import ctypes, os, sys, time
cpu, secs, prio = int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
name = bytes.fromhex(sys.argv[4])
# PR_SET_NAME with the exact bytes (the kernel keeps at most 15, whatever they are).
if ctypes.CDLL(None).prctl(15, ctypes.c_char_p(name), 0, 0, 0) != 0:
    sys.exit(3)
os.sched_setaffinity(0, {cpu})
os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(prio))
start = time.clock_gettime_ns(time.CLOCK_MONOTONIC)
print(start // 1000, os.getpid(), flush=True)
end = start + int(secs * 1e9)
while time.clock_gettime_ns(time.CLOCK_MONOTONIC) < end:
    pass
"""


def run_named_hog(seconds, comm_bytes, cpu=HOG_CPU, prio=HOG_PRIO):
    """Like run_hog(), but the hog's comm is set to the exact bytes comm_bytes (any bytes, even
    control characters or invalid UTF-8, at most 15 of them). Returns (start_mono_us, pid,
    end_mono_us)."""
    p = subprocess.Popen([sys.executable, "-c", NAMED_HOG_SRC, str(cpu), str(seconds), str(prio),
                          bytes(comm_bytes).hex()], stdout=subprocess.PIPE, text=True)
    first = p.stdout.readline().split()
    p.wait(seconds + 30)
    if len(first) != 2:
        fail(f"the named hog did not start (exit {p.returncode})")
    return int(first[0]), int(first[1]), mono_us()


def raw_control_bytes(data, allow_newline=True):
    """The control bytes (C0 other than the newline that ends each line, DEL) in data (bytes),
    plus whether data is valid UTF-8. Returns (list of (offset, byte), utf8_ok)."""
    bad = [(i, b) for i, b in enumerate(data)
           if (b < 0x20 and not (allow_newline and b == 0x0a)) or b == 0x7f]
    try:
        text = data.decode("utf-8")
        utf8_ok = not any(0x80 <= ord(c) <= 0x9f for c in text)  # no C1 controls either
    except UnicodeDecodeError:
        utf8_ok = False
    return bad, utf8_ok


class NotifySocket:
    """A fake systemd notify socket (AF_UNIX datagrams) for NOTIFY_SOCKET: collects what the
    daemon sends (READY=1, WATCHDOG=trigger, ...)."""

    def __init__(self):
        import socket
        self.dir = tempfile.mkdtemp(prefix="stallwatch-notify-")
        self.path = os.path.join(self.dir, "notify")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.setblocking(False)
        self.messages = []

    def drain(self):
        while True:
            try:
                self.messages.append(self.sock.recv(4096).decode(errors="replace"))
            except BlockingIOError:
                return self.messages

    def close(self):
        self.sock.close()


def thread_tids(pid, comm):
    """The ids of pid's threads whose comm (/proc/<pid>/task/<tid>/comm) is exactly comm."""
    tids = []
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/comm") as f:
                if f.read().rstrip("\n") == comm:
                    tids.append(int(tid))
        except OSError:
            pass  # the thread exited meanwhile
    return sorted(tids)


def print_events(evs):
    for e in evs:
        print("event:", e["headline"], "|", {k: v for k, v in e.items() if k != "headline"})


@contextlib.contextmanager
def dumped_on_failure(d):
    """A failed check (SystemExit) inside prints the daemon's output and stops it, then exits."""
    try:
        yield d
    except SystemExit:
        d.dump()
        d.stop()
        raise
