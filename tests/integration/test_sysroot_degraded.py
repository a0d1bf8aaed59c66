# SPDX-License-Identifier: GPL-2.0-or-later
"""The daemon's wiring without root (issue 9): `stallwatchd --sysroot <fixture tree>` as an
unprivileged user, so SCHED_FIFO is refused and heartbeat.allow_degraded runs it degraded.
status.json must say degraded and show both CPUs' heartbeats advancing; flipping the fixture's
`online` file to CPU 0 only must unmonitor CPU 1 (its heartbeat stopped), and flipping it back
must monitor CPU 1 again with its heartbeat advancing. Runs as root too (drops to nobody with
setpriv)."""
import shutil
import sys

from swtest import *
from fakesd import OFF_STATES, check_alive_and_checking, fresh_status, read_status

if os.cpu_count() < 2:
    skip("needs at least 2 CPUs (the fixture describes CPUs 0-1)")
binary = sys.argv[1]
here = os.path.dirname(os.path.abspath(__file__))
fixture = os.path.join(here, "..", "fixtures", "core", "host-2cpu")
NOBODY = 65534

tmp = tempfile.mkdtemp(prefix="stallwatch-sysroot-")
os.chmod(tmp, 0o755)
root = os.path.join(tmp, "root")
shutil.copytree(fixture, root)
online = os.path.join(root, "sys", "devices", "system", "cpu", "online")
run_dir, state_dir = os.path.join(tmp, "run"), os.path.join(tmp, "state")
for d in (run_dir, state_dir):
    os.mkdir(d, 0o755)
    if os.geteuid() == 0:
        os.chown(d, NOBODY, NOBODY)
config = os.path.join(tmp, "stallwatch.toml")
with open(config, "w") as f:
    f.write(f"""
[heartbeat]
interval = "100ms"
allow_degraded = true
[checker]
interval = "100ms"
threshold = "2s"
[daemon]
state_dir = "{state_dir}"
runtime_dir = "{run_dir}"
[evidence]
enabled = false
""")
for dirpath, dirnames, filenames in os.walk(tmp):
    for n in dirnames:
        os.chmod(os.path.join(dirpath, n), 0o755)
    for n in filenames:
        os.chmod(os.path.join(dirpath, n), 0o644)


def set_online(text):
    """Rewrites `online` in place with one same-length write, so a reader never sees it empty or
    half written, whether it keeps the file open (pread) or opens it again."""
    data = text.encode()
    check(len(data) == 4, "same-length online text")
    fd = os.open(online, os.O_WRONLY)
    try:
        os.pwrite(fd, data, 0)
        os.ftruncate(fd, len(data))
    finally:
        os.close(fd)


set_online("0-1\n")
cmd = [binary, "--sysroot", root, "--config", config, "--events", "stderr"]
if os.geteuid() == 0:
    if not shutil.which("setpriv"):
        fail("setpriv (util-linux) is needed to drop root")
    cmd = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups",
           "--inh-caps=-all", "--bounding-set=-all", "--"] + cmd
log_path = os.path.join(tmp, "stderr.log")
log = open(log_path, "w+")
env = {k: v for k, v in os.environ.items() if k not in ("JOURNAL_STREAM", "NOTIFY_SOCKET")}
proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)


def dump():
    print("---- stallwatchd output ----")
    print(open(log_path).read(), end="")
    print("----------------------------")


def cpu_entry(status, cpu):
    for c in status["cpus"]:
        if c["cpu"] == cpu:
            return c
    return None


def wait_status(pred, timeout_s, what):
    end = time.monotonic() + timeout_s
    last = None
    while time.monotonic() < end:
        if proc.poll() is not None:
            fail(f"stallwatchd exited with {proc.returncode}")
        try:
            last = read_status(run_dir)
            if pred(last):
                check(True, what)
                return last
        except (OSError, ValueError):
            pass
        time.sleep(0.1)
    print("last status:", json.dumps(last)[:2000] if last else None)
    fail(what)


try:
    st = wait_status(lambda s: len(s["cpus"]) >= 2, 10, "status.json written with CPUs 0 and 1")
    st = fresh_status(run_dir)
    check(st["degraded"] is True, "status says degraded (SCHED_FIFO refused to an unprivileged user)")
    check(any("DEGRADED" in l or "degraded" in l for l in open(log_path)),
          "the degraded mode is logged")
    check_alive_and_checking(run_dir, "both CPUs online")

    set_online("0-0\n")
    print("fixture online = 0-0")
    wait_status(lambda s: cpu_entry(s, 1) is None or cpu_entry(s, 1)["state"] in OFF_STATES, 6,
                "CPU 1 unmonitored after the fixture took it offline")
    time.sleep(0.5)   # the heartbeat's stop may trail the state change by one beat
    a = fresh_status(run_dir)
    after = check_alive_and_checking(run_dir, "CPU 1 offline")
    c1a, c1b = cpu_entry(a, 1), cpu_entry(after, 1)
    check(c1b is None or c1b["state"] in OFF_STATES, "CPU 1 stays unmonitored")
    if c1a is not None and c1b is not None:
        check(int(c1b["seq"]) == int(c1a["seq"]), "CPU 1's heartbeat stopped (seq frozen)")
    check(cpu_entry(after, 0)["state"] not in OFF_STATES, "CPU 0 still monitored")

    set_online("0-1\n")
    print("fixture online = 0-1")
    wait_status(lambda s: cpu_entry(s, 1) is not None and cpu_entry(s, 1)["state"] not in OFF_STATES,
                6, "CPU 1 monitored again after the fixture brought it back")
    back = check_alive_and_checking(run_dir, "CPU 1 back")
    check(cpu_entry(back, 1) is not None, "CPU 1 listed with an advancing heartbeat")
    proc.send_signal(signal.SIGTERM)
    try:
        rc = proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        fail("stallwatchd did not stop within 10 s of SIGTERM")
    check(rc == 0, "clean stop")
except SystemExit:
    dump()
    if proc.poll() is None:
        proc.kill()
        proc.wait()
    raise
finally:
    shutil.rmtree(tmp, ignore_errors=True)
print("PASS")
