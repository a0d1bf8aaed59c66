# SPDX-License-Identifier: GPL-2.0-or-later
"""60 s of stress-ng CPU + memory + I/O load on all CPUs with threshold 1 s: zero stall events.
The heartbeats run at the default SCHED_FIFO 99, so ordinary load must never look like a stall."""
import shutil
import sys

from swtest import *
from fakesd import check_alive_and_checking

require_root_and_cpus()
if not shutil.which("stress-ng"):
    skip("stress-ng is not installed (scripts/install-deps.sh --test installs it)")
binary = sys.argv[1]
seconds = int(os.environ.get("STALLWATCH_STRESS_SECONDS", "60"))
lock = rt_lock()
cfg = """
[checker]
threshold = "1s"
[daemon]
state_dir = "@DIR@/state"
runtime_dir = "@DIR@/run"
[metrics]
textfile = ""
"""
d = Daemon(binary, cfg)
try:
    d.wait_ready()
    n = str(os.cpu_count())
    stress = subprocess.Popen(["stress-ng", "--cpu", n, "--vm", n, "--vm-bytes", "256M", "--io", n,
                               "--hdd", "1", "--hdd-bytes", "64M", "--timeout", f"{seconds}s",
                               "--metrics-brief", "--temp-path", d.dir],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # Zero stalls only means something if the monitoring ran: mid-load, the heartbeats advance
    # and the status file is rewritten.
    time.sleep(seconds / 2)
    check_alive_and_checking(os.path.join(d.dir, "run"), "under load")
    _, err = stress.communicate(timeout=seconds + 120)
    print(err[-1500:])
    check(stress.returncode == 0, f"stress-ng ran {seconds} s")
    time.sleep(1)
    evs = d.events()
    for e in evs:
        print("event:", e["headline"])
    check(not [e for e in evs if e["event"] in ("stall", "ongoing")], "zero stall events under load")
    check_alive_and_checking(os.path.join(d.dir, "run"), "after the load")
    status = json.load(open(os.path.join(d.dir, "run", "status.json")))
    for c in status["cpus"]:
        print(f"cpu {c['cpu']}: late max {c['late_max_us']} us, p99 {c['late_p99_us']} us, "
              f"stamps {c['seq']}")
    check(d.stop() == 0, "clean stop")
except SystemExit:
    d.dump()
    d.stop()
    raise
print("PASS")
