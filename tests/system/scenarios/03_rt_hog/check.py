# SPDX-License-Identifier: GPL-2.0-or-later
"""Scenario 3: a SCHED_FIFO 99 busy loop on CPU 1 for 3 x threshold -> a stall event for CPU 1,
class rt-hog, naming the hog's pid, comm (rt-hog) and priority (99), then recovered. The daemon
runs with daemon.huge_code = true under the packaged unit and its huge-code.conf drop-in: its
code is one 2 MiB anonymous huge page on Debian's kernel, and the stall is found from it."""

THRESHOLD_MS = 2000
INTERVAL_MS = 100
SLACK_MS = 500


def check_huge_code(run):
    h = run.marks("huge-code")
    run.require(h, "huge-code mark")
    h = h[0]
    run.expect_field(h, "TEST_MDWE", "no", "the huge-code.conf drop-in is in effect")
    run.expect_field(h, "TEST_ANON_HUGE_KB", "2048",
                     "the daemon's code is one 2 MiB anonymous huge page under the packaged unit "
                     f"(transparent_hugepage: {h.get('TEST_THP')}; its log: {h.get('TEST_LOG')!r})")
    run.expect_field(h, "TEST_FILE_RX", "0", "no r-x mapping of /usr/sbin/stallwatchd is left")
    run.expect("code moved into 2048 KiB of huge pages" in h.get("TEST_LOG", ""),
               "the daemon logged the move", h.get("TEST_LOG"))


def check(run):
    check_huge_code(run)
    start = run.kernel(r"rt-hog: start pid=\d+ cpu=1 ")
    run.require(start, "the hog started on CPU 1 (its kmsg start line)")
    start_us = run.mono_us(start[0])
    hog = run.marks("rt-hog-start")
    hog_pid = hog[0].get("TEST_PID") if hog else None
    s, latency_ms = run.first_stall_within(1, start_us, THRESHOLD_MS + INTERVAL_MS + SLACK_MS,
                                           "hog")
    run.expect_field(s, "STALLWATCH_CLASS", "rt-hog")
    run.expect_field(s, "STALLWATCH_PID", hog_pid, f"names the hog's pid ({hog_pid})")
    run.expect_field(s, "STALLWATCH_COMM", "rt-hog", "names the hog's comm")
    run.expect_field(s, "STALLWATCH_PRIO", "99", "names the hog's RT priority")
    policy = s.get("STALLWATCH_POLICY", "")
    run.expect("fifo" in policy.lower(), "names the hog's policy (SCHED_FIFO)", f"got {policy!r}")
    cpu0 = run.events("stall", cpu=0)
    run.expect(not cpu0, "no stall event for CPU 0", "; ".join(run.describe(e) for e in cpu0[:3]))
    rec = [e for e in run.events("recovered", cpu=1) if run.detected_us(e) > run.detected_us(s)]
    run.expect(rec, "a recovered event for CPU 1 follows")
    done = run.marks("done")
    run.expect(done and done[0].get("TEST_ACTIVE") == "active", "the service is still active")
