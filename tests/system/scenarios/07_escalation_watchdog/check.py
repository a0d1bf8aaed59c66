# SPDX-License-Identifier: GPL-2.0-or-later
"""Scenario 7: escalation.action = "watchdog-device" on the i6300esb. Boot 1: `stallwatchctl
doctor --json` (watchdog_thresh 2, no kdump) reports the i6300esb fed by stallwatch and the
ladder in time order; a 12 s drill on CPU 1 (issue 19) leaves the guest running, its escalation
skipped as a drill and the device still armed; then a kernel spin (preemption off) past
escalation.after -> a PRIORITY=1 escalation event, then the device resets the guest (QEMU's QMP
WATCHDOG event, action reset). Boot 2 from the same disk: a previous-boot event naming the
escalation, CPU 1 and the culprit (insmod and its pid, class kernel-nonpreemptible), action watchdog-device. Then, still in
boot 2, escalation.action = "systemd" with the packaged escalation-reboot.conf drop-in: a stall
past escalation.after -> an escalation event (action systemd), systemd fails the unit with result
'watchdog' without restarting it, and reboots the guest (QMP SHUTDOWN guest-reset, no WATCHDOG).
Before that (issue 19), action "systemd" with the shipped unit and journald SIGSTOPped: an 8 s RT
hog gets the unit restarted by systemd while the hog still runs."""

import json
import os
import re

import checklib

ESCALATION_ID = "87cf2ea35fc844aeb8c72139d29e0993"
DRY_RUN_ID = "7366235b16634a3a856f3c4d0e26d4f7"   # also the "escalation skipped: drill" event
PREVIOUS_BOOT_ID = "1674528cb53e4c37a51d682a078392f5"
DOCTOR_IDS = ["kernel-softlockup-detector", "kernel-hardlockup-detector", "stallwatch",
              "isolated-cpus", "panic-policy", "crash-dump", "sysrq", "hardware-watchdog",
              "protection-ladder", "clocksource", "cpu-idle", "steal", "rt-throttling",
              "thermal-throttling", "machine-checks", "kernel-taint", "past-lockups",
              "flight-recorder"]


def check_doctor(run):
    marks = run.marks("doctor", boot=1)
    run.require(marks, "boot 1: stallwatchctl doctor ran (TEST_MARK=doctor)")
    m = marks[0]
    try:
        j = json.loads(m.get("TEST_JSON", ""))
    except ValueError as e:
        run.require(False, "doctor --json printed valid JSON", str(e))
    checks = {c["id"]: c for c in j["checks"]}
    run.expect([c["id"] for c in j["checks"]] == DOCTOR_IDS, "doctor: every check id, in order")
    statuses = {c["status"] for c in j["checks"]}
    want = 2 if "fail" in statuses else 1 if "warn" in statuses else 0
    run.expect(m.get("TEST_RC") == str(want) and j["exit_status"] == want,
               f"doctor: exit status follows the statuses ({want})", f"rc={m.get('TEST_RC')}")
    run.metric("doctor_ms", int(m.get("TEST_ELAPSED_MS", "0")), "ms")
    run.expect(int(m.get("TEST_ELAPSED_MS", "99999")) < 2000, "doctor finished in under 2 s",
               f"{m.get('TEST_ELAPSED_MS')} ms")
    hw = checks["hardware-watchdog"]
    run.expect(hw["status"] == "ok" and hw["summary"].startswith("watchdog0 (i6300ESB timer") and
               hw["summary"].endswith("fed by stallwatch (watchdog.device = /dev/watchdog0)"),
               "doctor hardware-watchdog: the i6300esb, fed by stallwatch", hw["summary"])
    run.expect(hw["evidence"].get("/sys/class/watchdog/watchdog0", "").startswith(
                   "identity=i6300ESB timer timeout=5 ") and "state=active" in
               hw["evidence"].get("/sys/class/watchdog/watchdog0", ""),
               "doctor hardware-watchdog evidence: the device's sysfs (timeout 5 s, active)",
               str(hw["evidence"]))
    ladder = checks["protection-ladder"]
    run.expect(ladder["status"] == "ok" and ladder["summary"] ==
               "fires first: stallwatch report (2s) < kernel soft-lockup report (4s) < stallwatch "
               "escalation: stops feeding /dev/watchdog0 (4s) < hardware watchdog reset (9s)",
               "doctor protection-ladder: report 2 s < kernel 4 s < escalation 4 s < reset 9 s",
               ladder["summary"])
    soft = checks["kernel-softlockup-detector"]
    run.expect(soft["status"] == "ok" and soft["summary"] == "soft-lockup detector on: reports a "
               "CPU stuck for 4s (2 x watchdog_thresh 2)", "doctor: kernel detector at 2 x 2 s",
               soft["summary"])
    run.expect(checks["crash-dump"]["status"] in ("warn", "unknown"),
               "doctor crash-dump: no kdump in the guest", checks["crash-dump"]["summary"])
    run.expect(checks["stallwatch"]["status"] == "ok", "doctor: stallwatchd running and fresh",
               checks["stallwatch"]["summary"])
    for c in j["checks"]:
        print(f"  doctor {c['id']}: {c['status']}: {c['summary']}")


def check_drill(run):
    """Issue 19: a drill of 12 s (> escalation.after 4 s + timeout 5 s + 3 s) with the i6300esb
    owned: the guest keeps running (the drill-end mark was written after it), the escalation
    falling due during it is skipped as a drill, the device is still armed and fed."""
    start, end = run.marks("drill-start", boot=1), run.marks("drill-end", boot=1)
    run.require(start, "boot 1: the drill started")
    run.require(end, "boot 1: the guest was still running after a 12 s drill "
                     "(> escalation.after 4 s + watchdog timeout 5 s + 3 s)")
    t0, t1 = int(start[0]["__MONOTONIC_TIMESTAMP"]), int(end[0]["__MONOTONIC_TIMESTAMP"])
    print(f"  drill: {end[0].get('TEST_OUT', '')}")
    run.expect_field(end[0], "TEST_RC", "0", "stallwatchctl drill passed (exit 0)")
    run.expect_field(end[0], "TEST_WATCHDOG_STATE", "active", "the i6300esb is still armed after the drill")
    known = [e for e in run.unit_messages("stallwatch.service", r"drill announced on CPU 1", boot=1)
             if t0 <= int(e["__MONOTONIC_TIMESTAMP"]) <= t1]
    stalls = [e for e in run.events("stall", cpu=1, boot=1) if t0 <= run.detected_us(e) <= t1]
    run.expect(known and stalls and int(known[0]["__MONOTONIC_TIMESTAMP"]) <= run.detected_us(stalls[0]),
               "the daemon posted the drill to its check before the stall was reported")
    run.expect(stalls and all(e.get("STALLWATCH_DRILL") == "1" for e in stalls),
               "the drill's stall is reported, marked STALLWATCH_DRILL=1")
    esc = [e for e in run.select(boot=1, MESSAGE_ID=DRY_RUN_ID)
           if t0 <= int(e["__MONOTONIC_TIMESTAMP"]) <= t1]
    run.expect(esc and esc[0].get("STALLWATCH_DRILL") == "1"
               and "escalation skipped: drill" in esc[0].get("MESSAGE", ""),
               "its escalation was skipped as a drill (STALLWATCH_DRILL=1)")
    real = [e for e in run.select(boot=1, MESSAGE_ID=ESCALATION_ID)
            if t0 <= int(e["__MONOTONIC_TIMESTAMP"]) <= t1]
    run.expect(not real, "no real escalation during the drill")


def check_journald_stopped(run):
    """Issue 19: action systemd (restart), journald SIGSTOPped, an 8 s RT hog (after 3 s): systemd
    restarts the unit while journald is still stopped."""
    start, end = run.marks("journald-stopped-start", boot=2), run.marks("journald-stopped-end", boot=2)
    run.require(start and end, "boot 2: the escalation with journald stopped ran")
    s, e = start[0], end[0]
    esc_ms = int(e.get("TEST_ESCALATED_MS") or -1)
    run.metric("journald_stopped_escalation_ms", esc_ms)
    # The stall's age counts from the last heartbeat before the hog (up to 250 ms earlier).
    run.expect(0 <= esc_ms <= 3000 + 100 + 500,
               "boot 2: with journald stopped, the daemon took the escalation within escalation.after "
               "(3 s) + one check interval + 500 ms of the hog's start (reset reason's time)",
               f"{esc_ms} ms")
    ms = int(e.get("TEST_RESTARTED_MS") or -1)
    run.metric("journald_stopped_restart_ms", ms)
    # Recorded bound only: systemd's own handling waits for journald (PID 1 logs to it).
    run.expect(0 <= ms <= 15000,
               "boot 2: with journald stopped, systemd restarted the unit (a new MainPID)",
               f"{ms} ms after the hog started")
    run.expect(int(e.get("TEST_NRESTARTS") or 0) > int(s.get("TEST_NRESTARTS") or 0),
               "boot 2: NRestarts grew", f"{s.get('TEST_NRESTARTS')} -> {e.get('TEST_NRESTARTS')}")
    run.expect_field(e, "TEST_ACTIVE", "active", "boot 2: the restarted unit is active")


def console_ticks_us(run, boot):
    """The ticks on a boot's serial console, in the printk clock (usec). The console is written
    synchronously by the printing CPU (0), so its last tick dates the reset to within a tick; the
    journal's copy is only a lower bound (journald's writes can wait for the spinning CPU)."""
    out = []
    path = os.path.join(run.run_dir, f"console-{boot}.log")
    try:
        with open(path, errors="replace") as f:
            for line in f:
                m = re.match(r"\[\s*(\d+)\.(\d{6})\] stallwatch-test: tick", line)
                if m:
                    out.append(int(m.group(1)) * 1_000_000 + int(m.group(2)))
    except OSError:
        pass
    return out


def check_spin_reset(run):
    """Issue 19: the real kernel spin resets the guest after escalation.after (4 s) and within
    after + timeout (5 s) + 1 s of its start, dated by the last KERN_CRIT tick on the console."""
    mark = run.marks("spin-start", boot=1)
    run.require(mark, "boot 1: the kernel spin started")
    spin = run.module_stall("preempt", 1, int(mark[0]["__MONOTONIC_TIMESTAMP"]) - 2_000_000, boot=1)
    starts = [e for e in run.kernel(r"stallwatch_stall: start mode=preempt cpu=1 ", boot=1)]
    run.require(starts, "boot 1: the spin's start line")
    t0 = run.mono_us(starts[-1])
    disk = [run.mono_us(e) for e in run.kernel(r"stallwatch-test: tick", boot=1)]
    if disk:
        run.metric("spin_to_last_tick_on_disk_ms", round((max(disk) - t0) / 1000))
    ticks = [t for t in console_ticks_us(run, 1) if t >= t0]
    run.require(ticks, "boot 1: ticks reached the serial console after the spin's start")
    last_s = (max(ticks) - t0) / 1e6
    run.metric("spin_to_last_tick_ms", round(last_s * 1000))
    esc = [e for e in run.select(boot=1, MESSAGE_ID=ESCALATION_ID) if run.detected_us(e) >= t0]
    if esc:
        run.metric("spin_to_escalation_ms", round((run.detected_us(esc[0]) - t0) / 1000))
    run.expect(spin is None, "boot 1: the spin never ended (the reset came first)")
    run.expect(4.0 <= last_s <= 4 + 5 + 1,
               "boot 1: the guest was reset after escalation.after (4 s) and within after + timeout "
               "(5 s) + 1 s of the spin's start (last tick on the serial console)",
               f"last tick {last_s:.2f} s in")


def check(run):
    check_doctor(run)
    for part in (check_drill, check_journald_stopped, check_spin_reset):
        try:
            part(run)
        except checklib.Abort:
            pass
    b1 = run.boot_results[0]
    wd = [e for e in b1["qmp_events"] if e["event"] == "WATCHDOG"]
    run.expect(wd and wd[0]["data"].get("action") == "reset",
               "boot 1 ended by the i6300esb (QMP WATCHDOG event, action reset)",
               f"qmp events: {[e['event'] for e in b1['qmp_events']]}")
    state = run.marks("watchdog-state", boot=1)
    run.expect(state and state[0].get("TEST_STATE") == "active",
               "boot 1: the daemon armed /dev/watchdog0 (sysfs state active)",
               f"state={state[0].get('TEST_STATE') if state else None}")
    hog = run.marks("spin-start", boot=1)
    hog_pid = hog[0].get("TEST_PID") if hog else None
    hog_us = int(hog[0]["__MONOTONIC_TIMESTAMP"]) if hog else 0
    stalls = [e for e in run.events("stall", cpu=1, boot=1) if run.detected_us(e) >= hog_us]
    esc = [e for e in run.select(boot=1, MESSAGE_ID=ESCALATION_ID)
           if int(e["__MONOTONIC_TIMESTAMP"]) >= hog_us]
    # journald's writes can wait behind the spinning CPU: when the journal stopped reaching the
    # disk before an event was due, the event's absence says nothing about the daemon; the
    # persisted reset reason (boot 2's previous-boot event, checked below: CPU 1, the culprit,
    # its class, the action) proves the stall and the escalation then. The stall is due by
    # threshold (2 s) + heartbeat.interval (250 ms) + checker.interval (100 ms); 500 ms margin.
    starts = run.kernel(r"stallwatch_stall: start mode=preempt cpu=1 ", boot=1)
    disk = [run.mono_us(e) for e in run.kernel(r"stallwatch-test: tick", boot=1)]
    disk_s = (max(disk) - run.mono_us(starts[-1])) / 1e6 if starts and disk else None
    if stalls or disk_s is None or disk_s >= 2.85:
        run.expect(stalls, "boot 1: a stall event for CPU 1 (the hog after the drill)",
                   f"journal on disk until {disk_s} s after the spin's start")
    else:
        print(f"  NOTE: boot 1: the journal stopped reaching the disk {disk_s:.2f} s after the "
              "spin's start, before the stall was due (2.85 s): its stall event could not be "
              "written; the reset reason must prove it")
    if esc or disk_s is None or disk_s >= 4.0:
        run.expect(esc, "boot 1: an escalation event (its MESSAGE_ID) reached the disk before the "
                   "reset", f"journal on disk until {disk_s} s after the spin's start")
    else:
        print(f"  NOTE: boot 1: the journal stopped reaching the disk {disk_s:.2f} s after the "
              "spin's start, before the escalation was due (4 s): its event could not be written; "
              "the reset reason must prove it")
    if esc:
        run.expect_field(esc[0], "PRIORITY", "1", "the escalation event is PRIORITY=1")
        run.expect_field(esc[0], "STALLWATCH_CPU", "1")
        run.expect_field(esc[0], "STALLWATCH_ACTION", "watchdog-device")
        if stalls:
            run.metric("stall_to_escalation_ms",
                       round((int(esc[0]["__MONOTONIC_TIMESTAMP"])
                              - run.detected_us(stalls[0])) / 1000))
    run.require(len(run.boot_ids) >= 2, "boot 2 ran from the same state disk")
    prev = run.select(boot=2, MESSAGE_ID=PREVIOUS_BOOT_ID)
    run.require(prev, "boot 2: a previous-boot event (its MESSAGE_ID)",
                f"boot 2 stallwatch events: {[run.describe(e) for e in run.events(boot=2)][:3]}")
    p = prev[0]
    run.expect_field(p, "STALLWATCH_EVENT", "previous-boot")
    run.expect_field(p, "STALLWATCH_PREVIOUS_BOOT_CAUSE", "stallwatch-escalation",
                     "previous boot ended by stallwatch escalation")
    run.expect_field(p, "STALLWATCH_CPU", "1", "names CPU 1")
    run.expect_field(p, "STALLWATCH_ACTION", "watchdog-device")
    run.expect_field(p, "STALLWATCH_COMM", "insmod", "names the culprit's comm (the spinning insmod)")
    run.expect_field(p, "STALLWATCH_CLASS", "kernel-nonpreemptible", "names the class")
    # The reset reason keeps the culprit's thread id: STALLWATCH_TID (the single-threaded hog's
    # tid is its pid); STALLWATCH_PID is only ever a process id (issue 10, item 6).
    run.expect_field(p, "STALLWATCH_TID", hog_pid, f"names the culprit's thread ({hog_pid})")
    boot1 = run.boot_ids[0]
    got = p.get("STALLWATCH_ESCALATION_BOOT_ID", "").replace("-", "")
    run.expect(got == boot1, "the reason belongs to boot 1 (STALLWATCH_ESCALATION_BOOT_ID)",
               f"got {got!r}, boot 1 is {boot1}")
    b2 = run.boot_results[1] if len(run.boot_results) > 1 else None
    run.expect(b2 and not any(e["event"] == "WATCHDOG" for e in b2["qmp_events"]),
               "boot 2 ended without a watchdog reset (clean stop disarms the device)")

    # action = "systemd" + escalation-reboot.conf: systemd reboots.
    armed = run.marks("systemd-escalation", boot=2)
    run.require(armed, "boot 2: the daemon restarted with action systemd and the drop-in")
    a = armed[0]
    prevent = a.get("TEST_PREVENT", "")
    run.expect(a.get("TEST_FAILURE_ACTION") == "reboot" and a.get("TEST_WATCHDOG_SIGNAL") == "12"
               and ("USR2" in prevent or "12" in prevent.split()),
               "the drop-in applies: FailureAction=reboot, WatchdogSignal=SIGUSR2, "
               "RestartPreventExitStatus has SIGUSR2",
               f"{a.get('TEST_FAILURE_ACTION')}, {a.get('TEST_WATCHDOG_SIGNAL')}, {prevent!r}")
    run.expect(a.get("TEST_WATCHDOG_STATE") != "active",
               "the i6300esb was disarmed by the clean restart (not what reboots the guest)",
               f"state {a.get('TEST_WATCHDOG_STATE')}")
    # Only what follows this part's start (the journald-stopped part before it restarts the unit).
    t_a = int(a["__MONOTONIC_TIMESTAMP"])
    esc2 = [e for e in run.select(boot=2, MESSAGE_ID=ESCALATION_ID)
            if e.get("STALLWATCH_ACTION") == "systemd" and int(e["__MONOTONIC_TIMESTAMP"]) >= t_a]
    run.expect(esc2 and esc2[0].get("PRIORITY") == "1" and esc2[0].get("STALLWATCH_CPU") == "1",
               "boot 2: a PRIORITY=1 escalation event, action systemd, CPU 1")
    unit = [e.get("MESSAGE", "") for e in run.select(boot=2, UNIT="stallwatch.service")
            if int(e["__MONOTONIC_TIMESTAMP"]) >= t_a]
    run.expect(any("Watchdog request" in m for m in unit),
               "systemd received the WATCHDOG=trigger ('Watchdog request')", f"{unit[-8:]}")
    run.expect(any("Failed with result 'watchdog'" in m for m in unit),
               "the unit failed with result 'watchdog'")
    run.expect(not any("Scheduled restart job" in m for m in unit),
               "systemd did not restart stallwatchd after the trigger")
    shutdown = [e for e in (b2["qmp_events"] if b2 else []) if e["event"] == "SHUTDOWN"]
    run.expect(shutdown and shutdown[0].get("data", {}).get("reason") == "guest-reset",
               "boot 2 ended in a guest reboot (QMP SHUTDOWN reason guest-reset)",
               f"qmp events: {[(e['event'], e.get('data')) for e in (b2['qmp_events'] if b2 else [])]}")
    run.expect(not run.marks("scenario-end", boot=2),
               "the reboot came while the stall lasted (the scenario never reached its end)")
