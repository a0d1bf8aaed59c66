# SPDX-License-Identifier: GPL-2.0-or-later
"""SIGHUP with a broken file keeps the daemon running with the old settings; SIGHUP with a valid
file changes the threshold."""
import sys

from swtest import *

require_root_and_cpus()
binary = sys.argv[1]
lock = rt_lock()
d = Daemon(binary, base_config("1s"))
try:
    d.wait_ready()
    d.write_config(base_config("1s").replace('threshold = "1s"', 'threshold = 1'))
    d.hup()
    check(d.wait_for(lambda d: any("reload failed" in l for l in d.lines()), 5),
          "a broken file is reported on SIGHUP")
    err = [l for l in d.lines() if "reload failed" in l][0]
    print("logged:", err.strip())
    check(re.search(r"stallwatch.toml:\d+:\d+: checker.threshold: expected a duration", err),
      "the error names file:line:col and the key")
    check(d.proc.poll() is None, "the daemon keeps running")
    run_hog(1.6)
    check(d.wait_for(lambda d: any(e["event"] == "recovered" for e in d.events()), 3),
          "old 1 s threshold still in force: a 1.6 s hog is reported")
    before = len(d.events())

    d.write_config(base_config("2500ms", repeat="5s"))
    d.hup()
    check(d.wait_for(lambda d: any("configuration reloaded" in l and "1s -> 2500ms" in l
                                   for l in d.lines()), 5), "valid reload logged with the new threshold")
    run_hog(1.6)
    time.sleep(0.5)
    check(len(d.events()) == before, "a 1.6 s hog is below the new 2.5 s threshold: no event")
    run_hog(3.2)
    check(d.wait_for(lambda d: any(e["event"] == "stall" and e["threshold_ms"] == "2500"
                                   for e in d.events()), 3), "stall reported with threshold_ms=2500")
    check(d.stop() == 0, "clean stop")
except SystemExit:
    d.dump()
    d.stop()
    raise
print("PASS")
