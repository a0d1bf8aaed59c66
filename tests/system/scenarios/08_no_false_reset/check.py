"""Scenario 8: the armed i6300esb never resets a healthy guest: after `systemctl stop` (disarmed
with magic close: no "watchdog did not stop!") and after `kill -9` (systemd restarts the daemon,
which re-opens and feeds the device in time), 3 x the device timeout pass without a reset."""


def t(e):
    return int(e["__MONOTONIC_TIMESTAMP"])


def check(run):
    b = run.boot_results[0]
    wd = [e for e in b["qmp_events"] if e["event"] == "WATCHDOG"]
    run.expect(not wd, "QEMU saw no watchdog action", f"{wd}")
    armed = run.marks("armed")
    run.require(armed, "the scenario started")
    run.expect_field(armed[0], "TEST_STATE", "active", "the daemon armed /dev/watchdog0")
    stopped, survived = run.marks("stopped"), run.marks("stop-survived")
    run.require(stopped and survived, "3 x the device timeout passed after systemctl stop")
    run.expect_field(stopped[0], "TEST_STATE", "inactive", "systemctl stop disarmed the device")
    restarted = run.marks("restarted")
    # Counted in the guest before the kill -9 (which does log it: the device stays armed).
    run.expect_field(survived[0], "TEST_NOT_STOPPED", "0",
                     "no 'watchdog did not stop!' in the kernel log after systemctl stop")
    run.require(restarted, "the service was started again")
    run.expect_field(restarted[0], "TEST_STATE", "active", "re-armed after start")
    ks = run.marks("kill-survived")
    run.require(ks, "3 x the device timeout passed after kill -9 without a reset")
    k = ks[0]
    run.expect_field(k, "TEST_ACTIVE", "active", "systemd restarted the daemon after kill -9")
    run.expect(k.get("TEST_PID") not in (None, "", "0", restarted[0].get("TEST_PID")),
               "a new daemon process runs", f"pid {restarted[0].get('TEST_PID')} -> {k.get('TEST_PID')}")
    run.expect(int(k.get("TEST_NRESTARTS") or 0) >= 1, "NRestarts counted the restart",
               f"NRestarts={k.get('TEST_NRESTARTS')}")
    run.expect_field(k, "TEST_STATE", "active", "the new process re-armed the device")
    bad = [e for e in run.events() if e["STALLWATCH_EVENT"] in ("stall", "escalation")]
    run.expect(not bad, "no stall or escalation event", "; ".join(run.describe(e) for e in bad[:3]))
