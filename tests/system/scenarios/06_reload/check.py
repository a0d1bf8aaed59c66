# SPDX-License-Identifier: GPL-2.0-or-later
"""Scenario 6: `systemctl reload` with a broken config -> a config-error event, the service stays
active (same process) on the old threshold (a 2 s hog is no stall at 3 s); a valid config -> the
threshold becomes 1 s (the same 2 s hog is a stall with STALLWATCH_THRESHOLD_MS=1000)."""

CONFIG_ERROR_ID = "04feed33751548db998fbced2ceb4d1e"


def t(e):
    return int(e["__MONOTONIC_TIMESTAMP"])


def check(run):
    rb, ab = run.marks("reload-broken"), run.marks("after-broken")
    rv, av = run.marks("reload-valid"), run.marks("after-valid")
    run.require(rb and ab and rv and av, "both reloads ran")
    run.expect_field(ab[0], "TEST_ACTIVE", "active", "active after the broken reload")
    first_pid = run.marks("done")[0].get("TEST_FIRST_PID") if run.marks("done") else None
    run.expect_field(ab[0], "TEST_PID", first_pid, "same process after the broken reload")
    errors = [e for e in run.select(MESSAGE_ID=CONFIG_ERROR_ID) if t(rb[0]) <= t(e) <= t(rv[0])]
    run.expect(errors, "a config-error event (MESSAGE_ID config error) for the broken reload")
    if errors:
        run.expect_field(errors[0], "STALLWATCH_EVENT", "config-error")
        run.expect_field(errors[0], "_SYSTEMD_UNIT", "stallwatch.service")
    old = [e for e in run.events() if e["STALLWATCH_EVENT"] in ("stall", "ongoing")
           and t(rb[0]) <= t(e) <= t(rv[0])]
    run.expect(not old, "the old 3 s threshold still applies (a 2 s hog is no stall)",
               "; ".join(run.describe(e) for e in old[:3]))
    run.expect_field(av[0], "TEST_ACTIVE", "active", "active after the valid reload")
    run.expect_field(av[0], "TEST_PID", first_pid, "same process after the valid reload")
    new = [e for e in run.events("stall", cpu=1) if t(e) >= t(av[0])]
    run.expect(new, "the new 1 s threshold applies (a 2 s hog is a stall on CPU 1)")
    if new:
        run.expect_field(new[0], "STALLWATCH_THRESHOLD_MS", "1000")
    done = run.marks("done")
    run.expect(done and done[0].get("TEST_ACTIVE") == "active", "the service is still active")
