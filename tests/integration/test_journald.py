# SPDX-License-Identifier: GPL-2.0-or-later
"""Stall events land in a real journal as structured entries: a standalone systemd-journald is
started for the test (no systemd PID 1 needed), stallwatchd sends over journald's native
protocol (its own, core/journal_socket.cpp: no libsystemd), and `journalctl STALLWATCH_CPU=1 -o
json` finds the stall with its fields. Then a second daemon runs as under systemd (JOURNAL_STREAM
set), so its log lines go to journald too: they must arrive with its PID and their priority."""
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
    check("\nreason: " in s["MESSAGE"] and "\nculprit: " in s["MESSAGE"],
          "a MESSAGE of several lines arrives whole (the native protocol's length-prefixed form)")
    check(int(s["STALLWATCH_STALL_MS"]) >= 1000 and s["STALLWATCH_THRESHOLD_MS"] == "1000",
          "STALLWATCH_STALL_MS and STALLWATCH_THRESHOLD_MS")
    check(any(e["STALLWATCH_EVENT"] == "recovered" and
              e["MESSAGE_ID"] == "14a4fcd165e543e8a792037a0ff3d7c3" for e in found),
          "recovered entry with its own MESSAGE_ID")
    check(not query("STALLWATCH_CPU=0"), "nothing for CPU 0")
    check(d.stop() == 0, "clean stop")

    # Log lines (spdlog's sink, over the same protocol), as under systemd.
    since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(time.time() - 1))
    d = Daemon(binary, base_config("1s"), extra_args=["--events", "journal"],
               env_extra={"JOURNAL_STREAM": "8:12345"})
    logs = []
    for _ in range(80):
        logs = query("SYSLOG_IDENTIFIER=stallwatchd", f"_PID={d.proc.pid}")
        if any("ready" in e.get("MESSAGE", "") for e in logs):
            break
        time.sleep(0.25)
    ready = [e for e in logs if "ready" in e.get("MESSAGE", "")]
    check(len(ready) >= 1, f"the 'ready' log line is in the journal ({len(logs)} lines from pid)")
    check(ready and ready[0].get("PRIORITY") == "6", "logged at info (PRIORITY=6)")
    check(not any(e.get("MESSAGE", "").startswith("20") for e in logs),
          "journal lines carry no timestamp prefix of their own")
    check(d.stop() == 0, "clean stop of the second daemon")
    stopped = []
    for _ in range(40):
        stopped = [e for e in query("SYSLOG_IDENTIFIER=stallwatchd", f"_PID={d.proc.pid}")
                   if "stopped" in e.get("MESSAGE", "")]
        if stopped:
            break
        time.sleep(0.25)
    check(stopped, "the 'stopped' line, logged on the way out, is in the journal too")
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
