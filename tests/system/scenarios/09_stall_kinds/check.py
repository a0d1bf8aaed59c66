# SPDX-License-Identifier: GPL-2.0-or-later
"""Scenario 9 (issue 9): every stall kind on each CPU, with the daemon's non-heartbeat threads
pinned to the CPU about to stall; an IRQ-heavy CPU that is not stalled; a frozen journald.

For each stall (start = the kernel timestamp of the module's or the hog's start line, the clock
of STALLWATCH_DETECTED_MONO_US): a stall event for that CPU within threshold + check interval +
500 ms, the right class (and culprit where there is one), no stall/ongoing event for the other
CPU and no global pause while it lasts, a recovered event for the CPU before the next one."""
import json
import re

import checklib

THRESHOLD_MS = 2000
INTERVAL_MS = 100
SLACK_MS = 500
LIMIT_MS = THRESHOLD_MS + INTERVAL_MS + SLACK_MS
STALL_MS = 5000
WATCHDOG_SEC = 10   # the packaged unit's WatchdogSec

# kind -> (kernel start line pattern with {cpu}, class, culprit comm or None)
# A CPU stuck in a hard-IRQ handler has interrupts off for the whole stall: its local timer
# count and its /proc/stat times stand still and an NMI finds EFLAGS.IF clear, which is what
# `interrupts-off` states (src/evidence/classify.cpp); it is not an IRQ storm (one handler, no
# rate). The interrupted task is whatever ran, so no culprit is asserted for it.
KINDS = {
    "preempt": (r"stallwatch_stall: start mode=preempt cpu={cpu} ", "kernel-nonpreemptible", "insmod"),
    "irqoff": (r"stallwatch_stall: start mode=irqoff cpu={cpu} ", "interrupts-off", "insmod"),
    "hardirq": (r"stallwatch_stall: start mode=hardirq cpu={cpu} ", "interrupts-off", None),
    "rt-hog": (r"rt-hog: start pid=\d+ cpu={cpu} ", "rt-hog", "rt-hog"),
}


def status_cpu(mark, cpu):
    try:
        st = json.loads(mark.get("TEST_STATUS_JSON", ""))
    except ValueError:
        return None
    for c in st.get("cpus", []):
        if c.get("cpu") == cpu:
            return c
    return None


def check_irqheavy(run):
    before, d1, d2 = run.marks("irqheavy-before"), run.marks("irqheavy-during1"), run.marks("irqheavy-during2")
    run.require(before and d1 and d2, "the IRQ-heavy run took its status snapshots")
    start = run.kernel(r"stallwatch_stall: start mode=irqheavy cpu=1 ")
    end = run.kernel(r"stallwatch_stall: end mode=irqheavy cpu=1 fired=(\d+) burnt_ms=(\d+)")
    run.require(start and end, "the IRQ-heavy timer ran on CPU 1 (module start and end lines)")
    m = re.search(r"fired=(\d+) burnt_ms=(\d+)", end[0]["MESSAGE"])
    fired, burnt_ms = int(m.group(1)), int(m.group(2))
    run_ms = (run.mono_us(end[0]) - run.mono_us(start[0])) / 1000
    share = burnt_ms / run_ms if run_ms > 0 else 0
    run.metric("irqheavy_rate_hz", round(fired / (run_ms / 1000)) if run_ms > 0 else 0)
    run.metric("irqheavy_hardirq_share_pct", round(share * 100))
    # Measured 14-24 % under TCG on a loaded 2-core host (the issue saw ~43 % on a quiet one).
    run.expect(share >= 0.10, "the IRQ load was real: >= 10 % of CPU 1 burnt in hard IRQ",
               f"{burnt_ms} ms of {run_ms:.0f} ms, {fired} callbacks")
    start_us, end_us = run.mono_us(start[0]), run.mono_us(end[0])
    bad = [e for e in run.events() if e["STALLWATCH_EVENT"] in ("stall", "ongoing", "global-pause")
           and start_us - 1000 <= run.detected_us(e) <= end_us + 1_000_000]
    run.expect(not bad, "no stall (or global pause) while CPU 1 was IRQ-heavy",
               "; ".join(run.describe(e) for e in bad[:3]))
    a, b = status_cpu(d1[0], 1), status_cpu(d2[0], 1)
    run.require(a and b, "status.json lists CPU 1 during the IRQ load")
    gap_s = (int(d2[0]["__MONOTONIC_TIMESTAMP"]) - int(d1[0]["__MONOTONIC_TIMESTAMP"])) / 1e6
    grew = int(b["seq"]) - int(a["seq"])
    run.metric("irqheavy_heartbeats_in_window", grew)
    run.expect(grew >= gap_s / 0.25 * 0.5 - 2,
               "CPU 1's heartbeat kept running under the IRQ load (status.json seq)",
               f"seq {a['seq']} -> {b['seq']} in {gap_s:.1f} s at a 250 ms interval")
    run.expect(b.get("state") == "healthy", "CPU 1 healthy in status.json", f"state {b.get('state')}")
    pre = status_cpu(before[0], 1)
    run.metric("irqheavy_late_max_us", int(b.get("late_max_us", -1)))
    if pre:
        run.metric("pre_irqheavy_late_max_us", int(pre.get("late_max_us", -1)))
    ctl = d2[0].get("TEST_CTL", "")
    row = [r for r in ctl.split("|") if re.match(r"\s*1\s+\S+\s+", r)]
    print(f"  stallwatchctl status during the IRQ load: {ctl.replace('|', chr(10) + '    ')}")
    run.expect(row and re.search(r"\d+(\.\d+)?(us|ms|s)\s+\d+(\.\d+)?(us|ms|s)", row[0]),
               "`stallwatchctl status` shows CPU 1's lateness (LATE-MAX, LATE-P99)",
               row[0].strip() if row else "no row for CPU 1")
    # late_max_us is a maximum since the start: a slow boot can already hold a larger one (seen
    # 12750 -> 12750 us in one run, 11687 -> 25615 us in another), so it is recorded, not asserted.


def check_stalls(run):
    starts = run.marks("stall-start")
    run.require(len(starts) == 8, "eight stalls started (4 kinds x CPUs 1, 0)", f"{len(starts)}")
    cases = []
    for m in starts:
        kind, cpu = m["TEST_KIND"], int(m["TEST_CPU"])
        pattern, cls, culprit = KINDS[kind]
        lines = [e for e in run.kernel(pattern.format(cpu=cpu))
                 if run.mono_us(e) >= int(m["__MONOTONIC_TIMESTAMP"]) - 1_000_000]
        cases.append((kind, cpu, m, lines[0] if lines else None, cls, culprit))
    for i, (kind, cpu, mark, line, cls, culprit) in enumerate(cases):
        name = f"{kind} on CPU {cpu}"
        pinned = mark.get("TEST_PINNED", "")
        if not run.expect(line is not None, f"{name}: the stall started (kernel start line)"):
            continue
        start_us = run.mono_us(line)
        nxt = [c[3] for c in cases[i + 1:] if c[3] is not None]
        end_us = run.mono_us(nxt[0]) if nxt else 1 << 62
        run.expect(pinned != "", f"{name}: daemon threads pinned to CPU {cpu} first", pinned)
        win = [e for e in run.events() if start_us - 1000 <= run.detected_us(e) < end_us]
        stalls = [e for e in win if e["STALLWATCH_EVENT"] == "stall" and e.get("STALLWATCH_CPU") == str(cpu)]
        if not run.expect(stalls, f"{name}: a stall event for CPU {cpu}",
                          f"events: {[run.describe(e) for e in win][:4]}"):
            continue
        s = stalls[0]
        latency_ms = (run.detected_us(s) - start_us) / 1000
        run.metric(f"latency_ms_{kind}_cpu{cpu}", round(latency_ms))
        run.expect(latency_ms <= LIMIT_MS, f"{name}: detected within threshold + interval + 500 ms "
                   f"({LIMIT_MS} ms)", f"{latency_ms:.0f} ms after the start")
        run.expect_field(s, "STALLWATCH_CLASS", cls, f"{name}: class {cls}")
        if culprit:
            run.expect_field(s, "STALLWATCH_COMM", culprit, f"{name}: culprit {culprit}")
        other = [e for e in win if e["STALLWATCH_EVENT"] in ("stall", "ongoing")
                 and e.get("STALLWATCH_CPU") != str(cpu)]
        run.expect(not other, f"{name}: no stall event for any other CPU",
                   "; ".join(run.describe(e) for e in other[:3]))
        pauses = [e for e in win if e["STALLWATCH_EVENT"] == "global-pause"]
        run.expect(not pauses, f"{name}: no global pause reported",
                   "; ".join(run.describe(e) for e in pauses[:3]))
        rec = [e for e in win if e["STALLWATCH_EVENT"] == "recovered"
               and e.get("STALLWATCH_CPU") == str(cpu) and run.detected_us(e) > run.detected_us(s)]
        run.expect(rec, f"{name}: a recovered event for CPU {cpu} follows")


def check_journald(run):
    frz, thaw = run.marks("journald-freeze"), run.marks("journald-thawed")
    run.require(frz and thaw, "the journald freeze ran")
    f, t = frz[0], thaw[0]
    run.expect(t.get("TEST_PROBE_RC") == "124",
               "journald's socket was full while frozen (a probe logger blocked)",
               f"probe rc {t.get('TEST_PROBE_RC')}")
    run.expect_field(t, "TEST_PID", f.get("TEST_PID"), "same MainPID after the freeze (not restarted)")
    run.expect_field(t, "TEST_NRESTARTS", f.get("TEST_NRESTARTS"), "NRestarts unchanged")
    run.expect_field(t, "TEST_WATCHDOG_TIMEOUTS", "0", "no 'Watchdog timeout' for stallwatch.service")
    # PID 1 logs it through /dev/kmsg when journald's socket is full (no UNIT= field then).
    wd = (run.unit_messages("stallwatch.service", r"[Ww]atchdog timeout") +
          run.kernel(r"stallwatch\.service: [Ww]atchdog timeout"))
    run.expect(not wd, "systemd logged no watchdog timeout", "; ".join(e["MESSAGE"] for e in wd[:2]))
    # 0 = no ping yet from the current process (after a restart); a restart fails above anyway.
    stamps = [int(x) for x in t.get("TEST_WATCHDOG_STAMPS", "").split() if x.isdigit() and int(x) > 0]
    changes = sorted(set(stamps))
    gaps = [(b - a) / 1e6 for a, b in zip(changes, changes[1:])]
    worst = max(gaps) if gaps else None
    run.metric("frozen_journald_ping_gap_max_s", round(worst, 2) if worst is not None else -1)
    run.expect(len(changes) >= 3 and worst <= WATCHDOG_SEC / 2 + 1.5,
               "WATCHDOG=1 went on while journald was frozen (WatchdogTimestamp kept moving)",
               f"{len(changes)} distinct ping stamps in 16 s, longest gap {worst} s")
    run.expect_field(t, "TEST_ACTIVE", "active", "the service is active after the freeze")


def check(run):
    # Each part aborts on its own: a missing snapshot in one must not hide the others' results.
    for part in (check_irqheavy, check_stalls, check_journald):
        try:
            part(run)
        except checklib.Abort:
            pass
    done = run.marks("done")
    run.expect(done and done[0].get("TEST_ACTIVE") == "active", "the service is still active")
