# SPDX-License-Identifier: GPL-2.0-or-later
"""Scenario 5: CPU 1 offline for 10 s then online gives no stall event; afterwards CPU 1 is
monitored again: a 3 s SCHED_FIFO 99 hog on it (threshold 1 s) is detected."""


def check(run):
    off, before = run.marks("offline"), run.marks("before-hog")
    run.require(off and before, "CPU 1 went offline and online")
    t_off = int(off[0]["__MONOTONIC_TIMESTAMP"])
    t_before = int(before[0]["__MONOTONIC_TIMESTAMP"])
    kernel_off = run.kernel(r"smpboot: CPU 1 is now offline")
    run.expect(kernel_off, "the kernel took CPU 1 offline")
    quiet = [e for e in run.events() if e["STALLWATCH_EVENT"] in ("stall", "ongoing")
             and t_off <= run.detected_us(e) <= t_before]
    run.expect(not quiet, "no stall event across offline/online",
               "; ".join(run.describe(e) for e in quiet[:4]))
    pauses = [e for e in run.events("global-pause") if t_off <= run.detected_us(e) <= t_before]
    run.expect(not pauses, "hotplug is not mistaken for a global pause either",
               "; ".join(f"{run.describe(e)} {e.get('MESSAGE', '')[:100]}" for e in pauses[:2]))
    start = run.kernel(r"rt-hog: start pid=\d+ cpu=1 ")
    run.require(start, "the hog ran on CPU 1 after onlining")
    start_us = run.mono_us(start[0])
    hog = [e for e in run.events("stall", cpu=1) if run.detected_us(e) >= start_us - 1000]
    run.expect(hog, "a hog on the re-onlined CPU 1 is detected (STALLWATCH_CPU=1)")
    if hog:
        run.metric("detection_latency_ms", round((run.detected_us(hog[0]) - start_us) / 1000))
    done = run.marks("done")
    run.expect(done and done[0].get("TEST_ACTIVE") == "active", "the service is still active")
