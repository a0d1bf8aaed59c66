# SPDX-License-Identifier: GPL-2.0-or-later
"""Scenario 5 (4 vCPUs on a 2-core host): CPU 1 offline for 10 s then online gives no stall event;
afterwards CPU 1 is monitored again: a 3 s SCHED_FIFO 99 hog on it (threshold 1 s) is detected.

Issue 18, the hotplug cascade, twice: interrupts off on CPU 2 (stallwatch_stall.ko mode=irqoff)
while CPU 3 is taken offline, requested before the threshold; the offline completes only after
the spin. "inflight": the other CPUs run on, so CPU 2's stall event comes within threshold + check
interval + 500 ms of the module's start line. "stop-machine": a stop_machine() (clocksource
switch) started once the offline is under way, before the threshold, holds CPUs 0, 1 and 3 until
the spin ends, so every heartbeat is silent together: the stall is found within 1 s of the spin's
end with STALLWATCH_CASCADE_CPUS=3.
Each time: exactly one stall event for CPU 2, class `interrupts-off`, one recovered event of the
same episode; no stall/ongoing event for CPU 3 (the CPU going offline) nor any other CPU, and no
global pause (a freeze verdict) instead of the stall; CPU 3 monitored again once back online."""
import json

import checklib

THRESHOLD_MS = 1000
INTERVAL_MS = 100
SLACK_MS = 500
LIMIT_MS = THRESHOLD_MS + INTERVAL_MS + SLACK_MS
SPIN_CPU, OFFLINE_CPU = 2, 3


def t(e):
    return int(e["__MONOTONIC_TIMESTAMP"])


def cpulist(text):
    """The CPU numbers of a kernel CPU list ("0-2,4") as strings."""
    out = set()
    for part in filter(None, text.strip().split(",")):
        lo, _, hi = part.partition("-")
        out.update(str(c) for c in range(int(lo), int(hi or lo) + 1))
    return out


def check_hotplug(run):
    off, before = run.marks("offline"), run.marks("before-hog")
    run.require(off and before, "CPU 1 went offline and online")
    t_off = t(off[0])
    t_before = t(before[0])
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


def case_mark(run, name, case):
    m = run.select(TEST_MARK=name, TEST_CASE=case)
    return m[0] if m else None


def check_cascade(run, case):
    """One interrupts-off spin on CPU 2 with CPU 3 going offline; with stop_machine() holding every
    other CPU through it when case is "stop-machine"."""
    freeze = case == "stop-machine"
    m = case.replace("-", "_")   # metric prefix
    begin, during = case_mark(run, "cascade-start", case), case_mark(run, "offline-during-spin", case)
    done, after = case_mark(run, "offline-done", case), case_mark(run, "cascade-done", case)
    run.require(begin and during and done and after, f"{case}: the hotplug cascade ran")
    spin = run.module_stall("irqoff", SPIN_CPU, t(begin))
    run.require(spin, f"{case}: interrupts were off on CPU {SPIN_CPU} (module start and end lines)")
    start_us, end_us = spin
    run.metric(f"{m}_spin_ms", round((end_us - start_us) / 1000))

    # The premise: CPU 3's offline was requested during the spin, before the threshold, and
    # completed only after the spin ended; with the freeze, the stop_machine() too.
    print(f"  {case}: {(t(during) - start_us) / 1e6:.1f} s into the spin (online CPUs "
          f"{during.get('TEST_ONLINE_CPUS')}), the offline waited in {during.get('TEST_DIAG', '')}")
    req_us = int(done.get("TEST_REQ_MONO_US") or 0)
    req_ms = (req_us - start_us) / 1000
    run.metric(f"{m}_offline_request_ms", round(req_ms))
    # /proc/uptime has 10 ms steps: a request may read up to 10 ms before the start line.
    run.expect(req_us and -10 <= req_ms < THRESHOLD_MS,
               f"{case}: CPU {OFFLINE_CPU}'s offline was requested during the spin, before the threshold",
               f"{req_ms:.0f} ms after the spin's start")
    if not freeze:
        run.expect(during.get("TEST_SPINNING") == "yes" and t(during) < end_us and
                   str(OFFLINE_CPU) in cpulist(during.get("TEST_ONLINE_CPUS", "")),
                   f"{case}: CPU {OFFLINE_CPU} was still online 2 s into the spin (the offline waits for CPU {SPIN_CPU})",
                   f"spinning {during.get('TEST_SPINNING')}, online CPUs {during.get('TEST_ONLINE_CPUS')}")
    gone = [e for e in run.kernel(rf"smpboot: CPU {OFFLINE_CPU} is now offline")
            if run.mono_us(e) >= t(begin)]
    run.require(gone, f"{case}: the kernel took CPU {OFFLINE_CPU} offline")
    gone_us = run.mono_us(gone[0])
    run.metric(f"{m}_offline_after_spin_end_ms", round((gone_us - end_us) / 1000))
    run.expect(gone_us >= end_us, f"{case}: CPU {OFFLINE_CPU} went offline only after the spin ended",
               f"{(gone_us - end_us) / 1000:.0f} ms after the spin's end")
    run.expect(done.get("TEST_RC") == "0" and done.get("TEST_ONLINE") == "0",
               f"{case}: the offline write succeeded and CPU {OFFLINE_CPU} was offline",
               f"rc {done.get('TEST_RC')}, online {done.get('TEST_ONLINE')}")
    if freeze:
        frz_us = int(done.get("TEST_FREEZE_MONO_US") or 0)
        frz_ms = (frz_us - start_us) / 1000
        run.metric(f"{m}_freeze_request_ms", round(frz_ms))
        switched = [e for e in run.kernel(r"clocksource: Switched to clocksource ")
                    if run.mono_us(e) >= t(begin)]
        # Frozen as soon as the offline was under way (scenario.sh): within one heartbeat interval
        # (250 ms) of the spin's start, stamps cannot order the silences; the daemon's verdict
        # must name CPU 2 from the evidence (its heartbeat was not woken, the others' waited).
        verdicts = [e for e in run.unit_messages("stallwatch.service", r"every heartbeat was silent")
                    if start_us <= run.mono_us(e) <= t(after)]
        print(f"  {case}: frozen {frz_ms:.0f} ms into the spin; verdict: "
              + " | ".join(e.get("MESSAGE", "")[:300] for e in verdicts))
        run.expect(any(f"CPU {SPIN_CPU}'s heartbeat was not woken" in e.get("MESSAGE", "") or
                       f"CPU {SPIN_CPU}'s heartbeat alone has not run since" in e.get("MESSAGE", "")
                       for e in verdicts),
                   f"{case}: the blackout's verdict names CPU {SPIN_CPU} the root from evidence "
                   "(its heartbeat not woken while the held CPUs' waited)",
                   " | ".join(e.get("MESSAGE", "")[-250:] for e in verdicts) or "no verdict logged")
        run.expect(frz_us and req_us <= frz_us and frz_ms < THRESHOLD_MS and switched
                   and run.mono_us(switched[0]) >= end_us,
                   f"{case}: a stop_machine() (clocksource {done.get('TEST_CLOCKSOURCE')}) began once the "
                   "offline was under way, before the threshold, and ended only after the spin",
                   f"requested {frz_ms:.0f} ms into the spin, switched "
                   f"{(run.mono_us(switched[0]) - end_us) / 1000 if switched else float('nan'):.0f} ms "
                   "after its end")

    # What the daemon reported from the spin's start until CPU 3 was back and settled.
    win = [e for e in run.events() if start_us - 1000 <= run.detected_us(e) <= t(after)]
    print(f"  {case} events: " + "; ".join(f"{e['STALLWATCH_EVENT']}{run.describe(e)}" for e in win))
    stalls = [e for e in win if e["STALLWATCH_EVENT"] == "stall"
              and e.get("STALLWATCH_CPU") == str(SPIN_CPU)]
    run.expect(len(stalls) == 1, f"{case}: exactly one stall event for the spinning CPU {SPIN_CPU}",
               f"{len(stalls)}: " + "; ".join(run.describe(e) for e in stalls[:3]))
    if stalls:
        s = stalls[0]
        latency_ms = (run.detected_us(s) - start_us) / 1000
        run.metric(f"{m}_detection_latency_ms", round(latency_ms))
        if not freeze:
            run.expect(latency_ms <= LIMIT_MS,
                       f"{case}: CPU {SPIN_CPU} detected within threshold + interval + 500 ms "
                       f"({LIMIT_MS} ms), while it still spun", f"{latency_ms:.0f} ms after the spin's start")
        else:
            # No check can run while every heartbeat is held: the stall is found when they run
            # again, and every other CPU's silence is attributed to it.
            # The spin's end is the kernel's stamp on its "end" line (local_clock()), the
            # detection the daemon's CLOCK_MONOTONIC: under TCG the two clocks differ by a few
            # ms (CI, 2026-12-04: detected 3 ms "before" the end line), hence -50 ms.
            after_ms = (run.detected_us(s) - end_us) / 1000
            run.expect(-50 <= after_ms <= 1000,
                       f"{case}: CPU {SPIN_CPU} reported as soon as the heartbeats ran again "
                       "(within 1 s of the spin's end)", f"{after_ms:.0f} ms after the spin's end")
            run.expect_field(s, "STALLWATCH_CASCADE_CPUS", 3,
                             f"{case}: the 3 CPUs held by stop_machine() are attributed to CPU {SPIN_CPU}")
        run.expect_field(s, "STALLWATCH_CLASS", "interrupts-off",
                         f"{case}: CPU {SPIN_CPU}'s stall is classified interrupts-off")
        # Recorded, not asserted: with a kworker queued behind the spin, the daemon may pick it.
        print(f"  {case}: culprit {s.get('STALLWATCH_COMM')} (pid {s.get('STALLWATCH_PID')})")
        ep = s.get("STALLWATCH_EPISODE")
        rec = [e for e in win if e["STALLWATCH_EVENT"] == "recovered"
               and e.get("STALLWATCH_CPU") == str(SPIN_CPU)]
        run.expect(len(rec) == 1 and rec[0].get("STALLWATCH_EPISODE") == ep
                   and run.detected_us(rec[0]) >= run.detected_us(s),
                   f"{case}: one recovered event for CPU {SPIN_CPU}, same episode ({ep})",
                   "; ".join(run.describe(e) for e in rec[:3]))
    offline = [e for e in win if e["STALLWATCH_EVENT"] in ("stall", "ongoing", "escalation")
               and e.get("STALLWATCH_CPU") == str(OFFLINE_CPU)]
    run.expect(not offline, f"{case}: no stall event for CPU {OFFLINE_CPU}, the CPU going offline",
               "; ".join(run.describe(e) for e in offline[:3]))
    others = [e for e in win if e["STALLWATCH_EVENT"] in ("stall", "ongoing")
              and e.get("STALLWATCH_CPU") not in (str(SPIN_CPU), str(OFFLINE_CPU))]
    run.expect(not others, f"{case}: no stall event for any other CPU",
               "; ".join(run.describe(e) for e in others[:3]))
    pauses = [e for e in win if e["STALLWATCH_EVENT"] == "global-pause"]
    run.expect(not pauses, f"{case}: no global pause (freeze verdict) reported instead of the stall",
               "; ".join(f"{run.describe(e)} {e.get('MESSAGE', '')[:100]}" for e in pauses[:2]))
    displaced = [e for e in win if e["STALLWATCH_EVENT"] == "displaced"]
    run.metric(f"{m}_displaced_events", len(displaced))

    # CPU 3 back online: monitored again (status.json, refreshed by stallwatchctl status).
    try:
        st = json.loads(after.get("TEST_STATUS_JSON", ""))
    except ValueError:
        st = {}
    c3 = {c.get("cpu"): c for c in st.get("cpus", [])}.get(OFFLINE_CPU, {})
    run.expect(c3.get("state") == "healthy",
               f"{case}: CPU {OFFLINE_CPU} is monitored again once back online (status.json: healthy)",
               f"CPU {OFFLINE_CPU}: state {c3.get('state')}, seq {c3.get('seq')}" if c3 else "not listed")


def check(run):
    # Each part aborts on its own: a missing mark in one must not hide the other's results.
    for part in (check_hotplug, lambda r: check_cascade(r, "inflight"),
                 lambda r: check_cascade(r, "stop-machine")):
        try:
            part(run)
        except checklib.Abort:
            pass
    done = run.marks("done")
    run.expect(done and done[0].get("TEST_ACTIVE") == "active", "the service is still active")
