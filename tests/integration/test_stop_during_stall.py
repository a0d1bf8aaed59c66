# SPDX-License-Identifier: GPL-2.0-or-later
"""A clean stop must not wait for a stalled CPU (issue 9, item 4): SIGTERM while a SCHED_FIFO hog
above the heartbeat's priority holds CPU 1 (its heartbeat cannot run, so cannot be joined) makes
the daemon exit with status 0 within 2 s, long before the hog ends."""
import sys

from swtest import *
from fakesd import BackgroundHog

require_root_and_cpus()
binary = sys.argv[1]
lock = rt_lock()
HOG_S, STOP_AFTER_S, EXIT_LIMIT_S = 8.0, 2.5, 2.0
d = Daemon(binary, base_config("1s"))
hog = None
try:
    d.wait_ready()
    time.sleep(0.5)
    hog = BackgroundHog(HOG_S)
    check(d.wait_for(lambda d: any(e["event"] == "stall" and e["cpu"] == "1" for e in d.events()),
                     STOP_AFTER_S), "CPU 1's stall reported before the stop")
    time.sleep(max(0.0, hog.start_us / 1e6 + STOP_AFTER_S - time.monotonic()))
    check(hog.proc.poll() is None, "the hog still holds CPU 1")
    t0 = time.monotonic()
    d.proc.send_signal(signal.SIGTERM)
    try:
        rc = d.proc.wait(HOG_S + 10)
    except subprocess.TimeoutExpired:
        d.proc.kill()
        fail("stallwatchd did not exit at all after SIGTERM")
    took = time.monotonic() - t0
    still_hogging = hog.proc.poll() is None
    print(f"exit status {rc} {took * 1000:.0f} ms after SIGTERM (hog still running: {still_hogging})")
    check(rc == 0, "exit status 0")
    check(took <= EXIT_LIMIT_S, f"exited within {EXIT_LIMIT_S:.0f} s of SIGTERM during the stall "
                                f"({took * 1000:.0f} ms)")
    hog.wait()
except SystemExit:
    d.dump()
    d.stop()
    if hog:
        hog.wait()
    raise
print("PASS")
