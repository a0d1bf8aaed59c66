# SPDX-License-Identifier: GPL-2.0-or-later
"""Without permission for SCHED_FIFO the daemon exits 77 with a message naming CAP_SYS_NICE;
with heartbeat.allow_degraded = true it runs SCHED_OTHER heartbeats and says DEGRADED."""
import shutil
import sys

from swtest import *

if os.geteuid() != 0:
    skip("needs root to drop to an unprivileged user")
if not shutil.which("setpriv"):
    skip("setpriv (util-linux) not installed")
binary = sys.argv[1]
tmp = tempfile.mkdtemp(prefix="stallwatch-priv-")
os.chmod(tmp, 0o777)
cfg = os.path.join(tmp, "s.toml")
open(cfg, "w").write(f'[daemon]\nstate_dir = "{tmp}/state"\nruntime_dir = "{tmp}/run"\n'
                     '[metrics]\ntextfile = ""\n')
os.chmod(cfg, 0o644)
drop = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all",
        "--bounding-set=-all"]
env = {k: v for k, v in os.environ.items() if k not in ("JOURNAL_STREAM", "NOTIFY_SOCKET")}
r = subprocess.run(drop + [binary, "--config", cfg], capture_output=True, text=True, timeout=20, env=env)
print(r.stderr.strip())
check(r.returncode == 77, f"exit status 77 without CAP_SYS_NICE (got {r.returncode})")
check("CAP_SYS_NICE" in r.stderr and "allow_degraded" in r.stderr,
      "the message names CAP_SYS_NICE and the degraded option")

open(cfg, "a").write('[heartbeat]\nallow_degraded = true\n')
p = subprocess.Popen(drop + [binary, "--config", cfg], stderr=subprocess.PIPE, text=True, env=env)
time.sleep(1.5)
check(p.poll() is None, "runs with allow_degraded = true")
p.terminate()
out = p.communicate(timeout=10)[1]
print(out.strip())
check("DEGRADED" in out, "warns loudly that it is degraded")
check(p.returncode == 0, "clean stop")
status = json.load(open(os.path.join(tmp, "run", "status.json")))
check(status["degraded"] is True, "status.json says degraded")
print("PASS")
