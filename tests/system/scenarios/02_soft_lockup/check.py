# SPDX-License-Identifier: GPL-2.0-or-later
"""Scenario 2: a real kernel soft lockup on CPU 1 (stallwatch_spin.ko, preemption disabled).

stallwatch must find what the kernel finds, sooner: a stall event for CPU 1 within
threshold + check interval + 500 ms of the module's start message (kernel timestamps), naming
insmod, class kernel-nonpreemptible, the sysrq-l section of CPU 1 holding stallwatch_spin, the
kernel's soft-lockup line attached; before the kernel's report; nothing for CPU 0; recovered after.
"""
import reports

THRESHOLD_MS = 2000
INTERVAL_MS = 100
SLACK_MS = 500


def check(run):
    start = run.kernel(r"stallwatch_spin: start cpu=1")
    run.require(start, "module start message in the kernel log (cpu=1)")
    start_us = run.mono_us(start[0])
    lockup = run.kernel(r"soft lockup - CPU#1 stuck")
    run.expect(lockup, "the kernel reported its own soft lockup on CPU#1 (oracle)")
    mark = run.marks("spin-start")
    insmod_pid = mark[0].get("TEST_PID") if mark else None

    s, latency_ms = run.first_stall_within(1, start_us, THRESHOLD_MS + INTERVAL_MS + SLACK_MS,
                                           "spin")
    if lockup:
        kernel_ms = (run.mono_us(lockup[0]) - start_us) / 1000
        run.metric("kernel_soft_lockup_ms", round(kernel_ms))
        run.expect(run.detected_us(s) < run.mono_us(lockup[0]),
                   "stallwatch's event comes before the kernel's soft-lockup report",
                   f"stallwatch {latency_ms:.0f} ms, kernel {kernel_ms:.0f} ms")
    run.expect_field(s, "STALLWATCH_COMM", "insmod", "the culprit is the insmod task")
    if insmod_pid:
        run.expect_field(s, "STALLWATCH_PID", insmod_pid, f"the culprit pid is insmod's ({insmod_pid})")
    run.expect_field(s, "STALLWATCH_CLASS", "kernel-nonpreemptible")

    episode = s.get("STALLWATCH_EPISODE")
    same = [e for e in run.events(cpu=1) if episode is None or e.get("STALLWATCH_EPISODE") == episode]
    texts = reports.episode_texts(run, same)
    run.expect(any("stallwatch_spin" in reports.sysrq_section(t, 1) for t in texts),
               "the report's sysrq-l section for CPU 1 contains stallwatch_spin",
               reports.describe(run, same))
    run.expect(any("soft lockup" in t for t in texts),
               "the kernel's soft-lockup line is attached to the episode's report",
               reports.describe(run, same))
    cpu0 = run.events("stall", cpu=0) + run.events("ongoing", cpu=0)
    run.expect(not cpu0, "no stall event for CPU 0", "; ".join(run.describe(e) for e in cpu0[:3]))
    rec = [e for e in run.events("recovered", cpu=1) if run.detected_us(e) > run.detected_us(s)]
    run.expect(rec, "a recovered event for CPU 1 follows")
    done = run.marks("done")
    run.expect(done and done[0].get("TEST_ACTIVE") == "active", "the service is still active")
