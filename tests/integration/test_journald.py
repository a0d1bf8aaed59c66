# SPDX-License-Identifier: GPL-2.0-or-later
"""Stall events land in a real journal as structured entries: a standalone systemd-journald is
started for the test (no systemd PID 1 needed), stallwatchd sends with sd_journal_send, and
`journalctl STALLWATCH_CPU=1 -o json` finds the stall with its fields."""
import shutil
import sys

from swtest import *

require_root_and_cpus()
journald = "/lib/systemd/systemd-journald"
if not os.path.exists(journald) or not shutil.which("journalctl"):
    skip("systemd-journald/journalctl not installed")
binary = sys.argv[1]
lock = rt_lock()

own_journald = None
if not os.path.exists("/run/systemd/journal/socket") or subprocess.run(
        ["pgrep", "-x", "systemd-journal"], capture_output=True).returncode != 0:
    shutil.rmtree("/run/systemd/journal", ignore_errors=True)
    own_journald = subprocess.Popen([journald], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):
        if os.path.exists("/run/systemd/journal/socket"):
            break
        time.sleep(0.05)
d = Daemon(binary, base_config("1s"), extra_args=["--events", "journal"])
try:
    check(os.path.exists("/run/systemd/journal/socket"), "journald is listening")
    d.wait_ready()
    since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(time.time() - 1))
    hog_start_us, hog_pid, _ = run_hog(2.0)
    time.sleep(0.5)

    def query(*match):
        r = subprocess.run(["journalctl", "--no-pager", "-o", "json", "--since", since, *match],
                           capture_output=True, text=True)
        return [json.loads(l) for l in r.stdout.splitlines() if l.strip()]

    found = []
    for _ in range(40):
        found = query("STALLWATCH_CPU=1")
        if any(e.get("STALLWATCH_EVENT") == "recovered" for e in found):
            break
        time.sleep(0.25)
    for e in found:
        print({k: v for k, v in e.items() if k.startswith(("STALLWATCH_", "MESSAGE", "PRIORITY"))})
    stalls = [e for e in found if e.get("STALLWATCH_EVENT") == "stall"]
    check(len(stalls) == 1, "journalctl STALLWATCH_CPU=1 finds one stall entry")
    s = stalls[0]
    check(s["MESSAGE_ID"] == "d17d986fdeb84612815c1f621f53b794", "stall MESSAGE_ID")
    check(int(s["PRIORITY"]) <= 4, "stall PRIORITY is warning or higher")
    check(s["MESSAGE"].startswith("CPU#1 stuck for "), "MESSAGE starts like the kernel's")
    check(int(s["STALLWATCH_STALL_MS"]) >= 1000 and s["STALLWATCH_THRESHOLD_MS"] == "1000",
          "STALLWATCH_STALL_MS and STALLWATCH_THRESHOLD_MS")
    check(any(e["STALLWATCH_EVENT"] == "recovered" and
              e["MESSAGE_ID"] == "14a4fcd165e543e8a792037a0ff3d7c3" for e in found),
          "recovered entry with its own MESSAGE_ID")
    check(not query("STALLWATCH_CPU=0"), "nothing for CPU 0")
    check(d.stop() == 0, "clean stop")
except SystemExit:
    d.dump()
    d.stop()
    raise
finally:
    if own_journald:
        own_journald.terminate()
        own_journald.wait()
        shutil.rmtree("/run/systemd/journal", ignore_errors=True)
print("PASS")
