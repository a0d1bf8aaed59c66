# SPDX-License-Identifier: GPL-2.0-or-later
"""Scenario 9 (issue 9): every stall kind on each CPU, with the daemon's non-heartbeat threads
pinned to the CPU about to stall; an IRQ-heavy CPU that is not stalled; a frozen journald.

For each stall (start = the kernel timestamp of the module's or the hog's start line, the clock
of STALLWATCH_DETECTED_MONO_US): a stall event for that CPU within threshold + check interval +
500 ms, the right class (and culprit where there is one), no stall/ongoing event for the other
CPU and no global pause while it lasts, a recovered event for the CPU before the next one.

Issue 21 (the flight recorder, docs/timeline.md), from the reports' `timeline` objects:
(a) a 2.2 s preempt-off stall by a short-lived insmod names that insmod (comm, pid) as the holder
and as the task switched in before the silence; (b) a CPU stuck in a device IRQ handler shows the
IRQ's entry without an exit (silent_after kind irq, an open irq segment on its row); (c) the CPU
taking an IRQ load meanwhile shows its IRQ rate (irq_per_s) in that report."""
import json
import re

import checklib
import reports

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


# ---- issue 21: the flight recorder's timeline ------------------------------------------------
# (c): CPU 0's irq_per_s at least this share of the rate the module measured. irq_per_s counts
# the IRQs the recorder still had over its whole window; at ~1400 IRQs/s the ring buffer
# (buffer_kib 256 per CPU) may have overwritten the window's start (lost_events), which lowers it
# without hiding the load: an idle CPU takes a few IRQs per second. The share is a metric.
TIMELINE_MIN_RATE_SHARE = 0.25


def stall_update(run, e):
    """(report file, the update of the stall event, all updates) of a stall event's report."""
    f = reports.report_file(run, e)
    if not f:
        return None, None, []
    try:
        with open(f) as fh:
            doc = json.load(fh)
    except ValueError:
        return f, None, []
    ups = doc.get("updates", []) if isinstance(doc, dict) else []
    st = [u for u in ups if isinstance(u, dict) and (u.get("event") or {}).get("kind") == "stall"]
    return f, (st or ups or [None])[0], ups


def cpu_row(tl, cpu):
    for row in (tl or {}).get("cpus") or []:
        if isinstance(row, dict) and row.get("cpu") == cpu:
            return row
    return None


def trimmed(tl, cpu, keep=8):
    """The timeline for a failure message: the stalled CPU's last `keep` segments, the other
    rows' counts only."""
    if not isinstance(tl, dict):
        return repr(tl)
    out = {k: v for k, v in tl.items() if k != "cpus"}
    out["cpus"] = []
    for row in tl.get("cpus") or []:
        r = {k: v for k, v in row.items() if k != "segments"}
        segs = row.get("segments") or []
        r["segments"] = (f"{len(segs)} total, last {keep}: " + json.dumps(segs[-keep:])
                         if row.get("cpu") == cpu else f"{len(segs)} segments")
        out["cpus"].append(r)
    return json.dumps(out, indent=1)


def timeline_of_stall(run, what, cpu, start_us, end_us):
    """The stall event for `cpu` detected in [start_us, end_us + 1 s] and its stall update's
    timeline (aborts when either is missing)."""
    stalls = [e for e in run.events("stall", cpu=cpu)
              if start_us - 1000 <= run.detected_us(e) <= end_us + 1_000_000]
    near = [e for e in run.events() if start_us - 1000 <= run.detected_us(e) <= end_us + 1_000_000]
    run.require(stalls, f"{what}: a stall event for CPU {cpu} while it lasted",
                "" if stalls else f"events meanwhile: {[run.describe(e) for e in near][:4]}")
    s = stalls[0]
    run.metric(f"timeline_{what.split()[2].strip('()')}_class",
               f"{s.get('STALLWATCH_CLASS')}/{s.get('STALLWATCH_COMM')}")
    f, u, ups = stall_update(run, s)
    run.require(u is not None, f"{what}: the stall's report file holds its update",
                f"STALLWATCH_REPORT={s.get('STALLWATCH_REPORT')}, file {f}, {len(ups)} update(s)")
    tl = u.get("timeline")
    run.require(isinstance(tl, dict), f"{what}: the report's update has a timeline object",
                "" if isinstance(tl, dict) else f"keys: {sorted(u)}")
    print(f"  {what}: timeline of {f}:\n    " + trimmed(tl, cpu).replace("\n", "\n    "))
    run.require(tl.get("status") == "recorded", f"{what}: timeline status recorded",
                f"status {tl.get('status')!r}, note {tl.get('note')!r}")
    run.expect(tl.get("stalled_cpu") == cpu, f"{what}: timeline.stalled_cpu is {cpu}",
               f"{tl.get('stalled_cpu')!r}")
    return s, tl, ups


def check_timeline_preempt(run):
    """(a) a preempt-off stall of threshold + 200 ms by an insmod started from a short-lived
    shell: the timeline names it (comm:pid) as the holder and the task switched in last."""
    what = "issue 21 (a) 2.2 s preempt-off by a short-lived insmod"
    m = run.marks("timeline-preempt-start")
    run.require(m, f"{what}: the step ran (timeline-preempt-start mark)")
    since = int(m[0]["__MONOTONIC_TIMESTAMP"])
    rx = r"stallwatch_stall: start mode=preempt cpu=1 ms=\d+ task=(\S+):(\d+)"
    line = [e for e in run.kernel(rx) if run.mono_us(e) >= since]
    end = [e for e in run.kernel(r"stallwatch_stall: end mode=preempt cpu=1") if run.mono_us(e) >= since]
    run.require(line and end, f"{what}: the spin ran on CPU 1 (start line with task=, end line)")
    comm, pid = re.search(r"task=(\S+):(\d+)", line[0]["MESSAGE"]).groups()
    start_us, end_us = run.mono_us(line[0]), run.mono_us(end[0])
    run.metric("timeline_a_spin_ms", round((end_us - start_us) / 1000))
    s, tl, _ = timeline_of_stall(run, what, 1, start_us, end_us)
    run.metric("timeline_a_latency_ms", round((run.detected_us(s) - start_us) / 1000))
    gone = run.marks("timeline-preempt-end")
    if gone:   # the shell's wait returned: insmod had exited
        run.metric("timeline_a_insmod_exit_after_detection_ms",
                   round((int(gone[0]["__MONOTONIC_TIMESTAMP"]) - run.detected_us(s)) / 1000))
    holder = tl.get("holder") or {}
    sa = tl.get("silent_after") or {}
    run.metric("timeline_a_holder", holder.get("label") or f"{holder.get('comm')}:{holder.get('pid')}")
    run.metric("timeline_a_holder_share", holder.get("share"))
    run.metric("timeline_a_silent_after", sa.get("text"))
    run.expect(holder.get("kind") == "task" and holder.get("comm") == comm
               and str(holder.get("pid")) == pid,
               f"{what}: timeline.holder is the spinning task {comm}:{pid} (kind task, comm, pid)",
               f"holder {json.dumps(holder)}")
    run.expect(sa.get("kind") == "switch" and f"{comm}:{pid}" in str(sa.get("text", "")),
               f"{what}: silent_after is the switch to {comm}:{pid} (kind switch, text names it)",
               f"silent_after {json.dumps(sa)}")
    # "open" only when nothing the recorder read later ended it: insmod may have switched out
    # before the read, so the segment must reach the window's end, open or not.
    row = cpu_row(tl, 1)
    segs = [g for g in (row or {}).get("segments") or [] if g.get("kind") == "task"]
    last = segs[-1] if segs else {}
    run.metric("timeline_a_holder_segment_open", last.get("open", False))
    run.expect(last.get("label") == f"{comm}:{pid}" and last.get("end") == tl.get("detected_mono_ns"),
               f"{what}: CPU 1's row ends in {comm}:{pid}'s task segment, up to the detection",
               f"last task segment {json.dumps(last)}" if row else "no row for CPU 1")
    idle0 = cpu_row(tl, 0)
    if idle0:   # the IRQ rate of CPU 0 without a load, for (c)
        run.metric("timeline_a_cpu0_irq_per_s", idle0.get("irq_per_s"))


def check_timeline_devirq(run):
    """(b) CPU 1 stuck in the handler of the module's IRQ: the entry without an exit;
    (c) CPU 0 under the module's IRQ load meanwhile: its irq_per_s in that report."""
    what = "issue 21 (b) CPU 1 stuck in a device IRQ handler"
    m = run.marks("timeline-devirq-start")
    run.require(m, f"{what}: the step ran (timeline-devirq-start mark)")
    since = int(m[0]["__MONOTONIC_TIMESTAMP"])
    rx = r"stallwatch_stall: start mode=devirq cpu=1 ms=\d+ irq=(\d+) in_hardirq=(\d)"
    line = [e for e in run.kernel(rx) if run.mono_us(e) >= since]
    end = [e for e in run.kernel(r"stallwatch_stall: end mode=devirq cpu=1 ") if run.mono_us(e) >= since]
    run.require(line and end, f"{what}: the handler ran on CPU 1 (module start and end lines)")
    irq, hard = (int(x) for x in re.search(r"irq=(\d+) in_hardirq=(\d)", line[0]["MESSAGE"]).groups())
    run.expect(hard == 1, f"{what}: the handler ran in hard-IRQ context", line[0]["MESSAGE"])
    start_us, end_us = run.mono_us(line[0]), run.mono_us(end[0])
    s, tl, ups = timeline_of_stall(run, what, 1, start_us, end_us)
    run.metric("timeline_b_latency_ms", round((run.detected_us(s) - start_us) / 1000))
    sa = tl.get("silent_after") or {}
    holder = tl.get("holder") or {}
    run.metric("timeline_b_silent_after", sa.get("text"))
    run.metric("timeline_b_holder", holder.get("label") or holder.get("kind"))
    text = str(sa.get("text", ""))
    run.expect(sa.get("kind") == "irq" and sa.get("irq") == irq
               and f"irq {irq}" in text and "stallwatch_stall" in text,
               f"{what}: silent_after is irq {irq} (stallwatch_stall) entered, no exit "
               "(kind irq, its number, text names it)", f"silent_after {json.dumps(sa)}")
    row = cpu_row(tl, 1)
    open_irq = [g for g in (row or {}).get("segments") or []
                if g.get("kind") == "irq" and g.get("irq") == irq and g.get("open") is True]
    run.expect(open_irq, f"{what}: CPU 1's row has an open irq {irq} segment",
               "row: " + (json.dumps((row.get("segments") or [])[-4:]) if row else "none"))

    what = "issue 21 (c) CPU 0 IRQ-heavy while CPU 1 stalled"
    lrx = r"stallwatch_stall: start mode=irqheavy cpu=0 .* irq=(\d+)"
    lstart = [e for e in run.kernel(lrx) if run.mono_us(e) >= since]
    lend = [e for e in run.kernel(r"stallwatch_stall: end mode=irqheavy cpu=0 fired=(\d+) burnt_ms=(\d+)")
            if run.mono_us(e) >= since]
    run.require(lstart and lend, f"{what}: the IRQ load ran on CPU 0 (module start and end lines)")
    fired = int(re.search(r"fired=(\d+)", lend[0]["MESSAGE"]).group(1))
    load_s = (run.mono_us(lend[0]) - run.mono_us(lstart[0])) / 1e6
    rate = fired / load_s if load_s > 0 else 0
    run.metric("timeline_c_module_irq_rate_hz", round(rate))
    run.expect(lstart[0] and run.mono_us(lstart[0]) < start_us - 1_000_000,
               f"{what}: the load started well before the stall",
               f"{(start_us - run.mono_us(lstart[0])) / 1000:.0f} ms before")
    # The stall's report first; any update of it (ongoing, recovered) will do.
    rows = [cpu_row(tl, 0)] + [cpu_row(u.get("timeline"), 0) for u in ups if isinstance(u, dict)]
    rows = [r for r in rows if r is not None]
    best = max(rows, key=lambda r: r.get("irq_per_s") or 0) if rows else None
    got = best.get("irq_per_s") if best else None
    run.metric("timeline_c_cpu0_irq_per_s", got)
    if best:
        run.metric("timeline_c_cpu0_lost_events", best.get("lost_events"))
    run.require(best is not None, f"{what}: the stall's report has a row for CPU 0",
                f"rows: {[r.get('cpu') for r in (tl.get('cpus') or [])]}")
    want = TIMELINE_MIN_RATE_SHARE * rate
    if isinstance(got, (int, float)) and rate > 0:
        run.metric("timeline_c_rate_share_pct", round(100 * got / rate))
    run.expect(isinstance(got, (int, float)) and got >= want and got > 0,
               f"{what}: CPU 0's irq_per_s shows the load (>= {TIMELINE_MIN_RATE_SHARE:.0%} of the "
               f"module's {rate:.0f}/s)",
               f"irq_per_s {got}, irqs {best.get('irqs')}, events {best.get('events')}, "
               f"lost_events {best.get('lost_events')}, first event "
               f"{best.get('first_event_mono_ns')}, window {tl.get('window_start_mono_ns')}.."
               f"{tl.get('detected_mono_ns')}")


def check(run):
    # Each part aborts on its own: a missing snapshot in one must not hide the others' results.
    for part in (check_irqheavy, check_timeline_preempt, check_timeline_devirq, check_stalls,
                 check_journald):
        try:
            part(run)
        except checklib.Abort:
            pass
    done = run.marks("done")
    run.expect(done and done[0].get("TEST_ACTIVE") == "active", "the service is still active")
