# SPDX-License-Identifier: GPL-2.0-or-later
"""Scenario 4: 60 s of stress-ng CPU + VM + I/O load on both CPUs with a 1 s threshold gives no
stall event (and no restart or systemd watchdog timeout)."""


def check(run):
    start, end = run.marks("load-start"), run.marks("load-end")
    run.require(start and end, "the load ran")
    run.expect_field(end[0], "TEST_STATUS", "0", "stress-ng completed successfully")
    secs = (int(end[0]["__MONOTONIC_TIMESTAMP"]) - int(start[0]["__MONOTONIC_TIMESTAMP"])) / 1e6
    run.expect(secs >= 55, "the load lasted about 60 s", f"{secs:.0f} s")
    bad = [e for e in run.events() if e["STALLWATCH_EVENT"] in ("stall", "ongoing", "escalation")]
    run.expect(not bad, "zero stall events under load",
               "; ".join(run.describe(e) for e in bad[:4]))
    # Zero stalls means something only if the heartbeats and the checks ran under the load.
    mid = run.marks("load-mid")
    run.expect_monitoring_ran(start[0], mid[0] if mid else None, "first half of the load")
    run.expect_monitoring_ran(mid[0] if mid else None, end[0], "second half of the load")
    pauses = run.events("global-pause")
    run.metric("global_pause_events", len(pauses))
    timeouts = run.unit_messages("stallwatch.service", "[Ww]atchdog timeout")
    run.expect(not timeouts, "no systemd watchdog timeout")
    done = run.marks("done")
    run.expect(done and done[0].get("TEST_ACTIVE") == "active", "the service is still active")
    run.expect(done and done[0].get("TEST_NRESTARTS") == "0", "the service never restarted")
