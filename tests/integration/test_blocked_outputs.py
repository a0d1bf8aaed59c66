# SPDX-License-Identifier: GPL-2.0-or-later
"""Nothing the daemon writes to may stop its watchdog pings (issue 9, items 2 and 3). Under a fake
systemd (a NOTIFY_SOCKET read by the test, WATCHDOG_USEC = 2 s):
  1. stderr is a full pipe nobody reads, and a SIGHUP flood (20/s for 5 s) makes it log;
  2. a test journald frozen with SIGSTOP while the daemon logs to it (JOURNAL_STREAM, as under
     systemd) during the same kind of flood;
  3. stderr's read end is closed during a real stall (SCHED_FIFO hog on CPU 1): the stall event
     meets EPIPE, the daemon must not die of SIGPIPE and must keep monitoring and pinging.
Each time WATCHDOG=1 must keep its cadence: no gap longer than WATCHDOG_USEC/2 + 300 ms."""
import fcntl
import select
import shutil
import sys
import threading

from swtest import *
from fakesd import (BackgroundHog, NotifySocket, TestJournald, check_alive_and_checking,
                    check_ping_cadence, read_status)

require_root_and_cpus()
binary = sys.argv[1]
lock = rt_lock()
WD_USEC = 2_000_000
FLOOD_S, FLOOD_HZ = 5.0, 20


class Run:
    """stallwatchd with caller-chosen stdout/stderr and the fake systemd environment."""

    def __init__(self, notify, out, extra_args=(), env_extra=None):
        self.dir = tempfile.mkdtemp(prefix="stallwatch-it-")
        self.config = os.path.join(self.dir, "stallwatch.toml")
        self.runtime = os.path.join(self.dir, "run")
        self.write_config("1s")
        env = dict(os.environ)
        for k in ("JOURNAL_STREAM", "NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"):
            env.pop(k, None)
        env.update(notify.env(WD_USEC))
        env.update(env_extra or {})
        self.proc = subprocess.Popen([binary, "--config", self.config, *extra_args],
                                     stdin=subprocess.DEVNULL, stdout=out, stderr=out, env=env)

    def write_config(self, threshold):
        # Both thresholds are valid with repeat_interval 2 s: every reload is applied (and logged)
        # by the monitoring side, none is refused by the signal-handling thread.
        text = base_config(threshold, repeat="2s").replace("@DIR@", self.dir)
        with open(self.config + ".tmp", "w") as f:
            f.write(text)
        os.rename(self.config + ".tmp", self.config)

    def flood(self, seconds, hz):
        """SIGHUP reloads `hz` times a second, the threshold alternating so each one logs."""
        end = time.monotonic() + seconds
        n = 0
        while time.monotonic() < end:
            self.write_config("1s" if n % 2 else "1500ms")
            self.proc.send_signal(signal.SIGHUP)
            n += 1
            time.sleep(1.0 / hz)
        return n

    def alive(self):
        return self.proc.poll() is None

    def stop(self, timeout_s=10):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                return None
        return self.proc.returncode


def part_full_stderr_pipe():
    print("== 1: stderr a full pipe nobody reads, SIGHUP flood")
    notify = NotifySocket()
    r, w = os.pipe()
    fcntl.fcntl(w, fcntl.F_SETPIPE_SZ, 4096)
    run = Run(notify, w)
    os.close(w)
    try:
        check(notify.wait_for("READY=1", 10), "READY=1 received")
        # Fill the pipe through a second, non-blocking open of it (the daemon's own file
        # description stays blocking, as a real stderr would be).
        filler = os.open(f"/proc/self/fd/{r}", os.O_WRONLY | os.O_NONBLOCK)
        filled = 0
        try:
            while True:
                filled += os.write(filler, b"x" * 512)
        except BlockingIOError:
            pass
        os.close(filler)
        print(f"stderr pipe filled with {filled} bytes; nobody reads it now")
        t0 = time.monotonic()
        n = run.flood(FLOOD_S, FLOOD_HZ)
        time.sleep(2.0)
        t1 = time.monotonic()
        print(f"{n} SIGHUPs sent")
        check(run.alive(), "daemon still running with its stderr blocked")
        check_ping_cadence(notify, t0, t1, WD_USEC, "full stderr pipe + SIGHUP flood")
    finally:
        # Drain so a daemon blocked on stderr can stop; its exit is not what this part tests.
        drained = threading.Event()

        def drain():
            while not drained.is_set():
                if select.select([r], [], [], 0.1)[0] and not os.read(r, 65536):
                    return
        th = threading.Thread(target=drain, daemon=True)
        th.start()
        rc = run.stop()
        drained.set()
        th.join(2)
        os.close(r)
        notify.close()
    check(rc == 0, f"daemon stopped cleanly once stderr drained (status {rc})")


def part_frozen_journald():
    print("== 2: a test journald frozen with SIGSTOP while the daemon logs to it")
    if not os.path.exists(TestJournald.BINARY) or not shutil.which("journalctl"):
        fail("systemd-journald is not installed (scripts/install-deps.sh installs systemd)")
    journald = TestJournald()
    if not journald.own:
        fail("a journald not started by this test is running; refusing to SIGSTOP it")
    notify = NotifySocket()
    stream, stream_id = journald.stream()
    run = Run(notify, stream.fileno(), extra_args=["--events", "journal"],
              env_extra={"JOURNAL_STREAM": stream_id})
    try:
        check(notify.wait_for("READY=1", 10), "READY=1 received")
        run.flood(1.0, 5)
        journald.stop(signal.SIGSTOP)
        print("journald stopped (SIGSTOP)")
        t0 = time.monotonic()
        n = run.flood(FLOOD_S * 2, FLOOD_HZ)
        time.sleep(2.0)
        t1 = time.monotonic()
        print(f"{n} SIGHUPs sent while journald was frozen")
        check(run.alive(), "daemon still running with journald frozen")
        check_ping_cadence(notify, t0, t1, WD_USEC, "frozen journald + SIGHUP flood")
        journald.stop(signal.SIGCONT)
        time.sleep(1.0)
        rc = run.stop()
        check(rc == 0, f"daemon stopped cleanly after journald resumed (status {rc})")
    finally:
        journald.stop(signal.SIGCONT)
        if run.alive():
            run.stop()
        stream.close()
        notify.close()
        journald.close()


def part_closed_stderr_during_stall():
    print("== 3: stderr's read end closed during a real stall on CPU 1")
    notify = NotifySocket()
    r, w = os.pipe()
    run = Run(notify, w)
    os.close(w)
    out = []
    stop_reading = threading.Event()

    def reader():
        while not stop_reading.is_set():
            if select.select([r], [], [], 0.05)[0]:
                data = os.read(r, 65536)
                if not data:
                    return
                out.append(data)
    th = threading.Thread(target=reader, daemon=True)
    th.start()
    try:
        check(notify.wait_for("READY=1", 10), "READY=1 received")
        time.sleep(0.5)
        stop_reading.set()
        th.join(2)
        os.close(r)
        print("stderr read end closed; starting a 3 s SCHED_FIFO hog on CPU 1")
        t0 = time.monotonic()
        hog = BackgroundHog(3.0)
        hog.wait()
        time.sleep(3.0)
        t1 = time.monotonic()
        if not run.alive():
            rc = run.proc.returncode
            fail(f"daemon died during the stall (status {rc}"
                 f"{', SIGPIPE' if rc == -signal.SIGPIPE else ''})")
        check(True, "daemon alive after writing the stall into a closed pipe")
        check_ping_cadence(notify, t0, t1, WD_USEC, "closed stderr + stall")
        st = read_status(run.runtime)
        check(int(st["stalls_total"]) >= 1, f"the stall was detected (stalls_total {st['stalls_total']})")
        check_alive_and_checking(run.runtime, "after the stall", gap_s=1.5)
        rc = run.stop()
        check(rc == 0, f"daemon stopped cleanly (status {rc})")
    finally:
        if run.alive():
            run.stop()
        notify.close()
    print("".join(b.decode(errors="replace") for b in out), end="")


# Every part runs even when an earlier one failed: each says something different about the daemon.
failed = []
for part in (part_full_stderr_pipe, part_frozen_journald, part_closed_stderr_during_stall):
    try:
        part()
    except SystemExit as e:
        if e.code not in (0, None):
            failed.append(part.__name__)
if failed:
    fail(f"failed parts: {', '.join(failed)}")
print("PASS")
