# SPDX-License-Identifier: GPL-2.0-or-later
"""A heartbeat moved off its CPU (taskset -a -p -c 0 <daemon>: every thread of the daemon, the
heartbeats included, now allowed on CPU 0 only) no longer watches its CPU. The daemon must notice:
event=displaced for CPU 1 ("CPU#1 not monitored"), put sw-hb/1 back on CPU 1, and a hog on CPU 1
afterwards is detected while it runs.

Nothing on the real-time path moves a thread (issue 18 item 6): the daemon runs with an LD_PRELOAD
shim (shim/affinity_log.c) that logs every sched_setaffinity/pthread_setaffinity_np with the
calling thread's name. During the stall (the check wakes the dispatcher onto its CPU), the
put-back and the stop, no heartbeat (sw-hb/N) may make one: the relays (sw-relay/N) do."""
import subprocess
import sys
import tempfile

from swtest import *

require_root_and_cpus()
binary = sys.argv[1]
lock = rt_lock()
shim_dir = tempfile.mkdtemp(prefix="stallwatch-shim-")
shim = os.path.join(shim_dir, "affinity_log.so")
r = subprocess.run(["cc", "-shared", "-fPIC", "-O2", "-o", shim,
                    os.path.join(os.path.dirname(os.path.abspath(__file__)), "shim", "affinity_log.c"), "-ldl"],
                   capture_output=True, text=True)
check(r.returncode == 0, f"the affinity-logging shim builds: {r.stderr.strip()}")
affinity_log = os.path.join(shim_dir, "calls.log")
d = Daemon(binary, base_config(threshold="1s"), env_extra={"LD_PRELOAD": shim, "SW_AFFINITY_LOG": affinity_log})


def affinity_of(comm):
    """(tid, taskset's affinity list, sched_getaffinity) of the daemon's thread named comm."""
    tids = thread_tids(d.proc.pid, comm)
    if len(tids) != 1:
        return None, f"{len(tids)} threads named {comm}", None
    r = subprocess.run(["taskset", "-c", "-p", str(tids[0])], capture_output=True, text=True)
    try:
        cpus = os.sched_getaffinity(tids[0])
    except OSError:
        cpus = None
    return tids[0], (r.stdout + r.stderr).strip(), cpus


with dumped_on_failure(d):
    d.wait_ready()
    tid, before, _ = affinity_of("sw-hb/1")
    print(f"before: sw-hb/1 (tid {tid}): {before}")
    r = subprocess.run(["taskset", "-a", "-p", "-c", "0", str(d.proc.pid)], capture_output=True, text=True)
    print(r.stdout + r.stderr, end="")
    check(r.returncode == 0, "taskset -a -p -c 0 <daemon pid> moved every thread of the daemon to CPU 0")
    moved_us = mono_us()
    time.sleep(1.0)
    hog_start_us, hog_pid, hog_end_us = run_hog(3.0)
    d.wait_for(lambda d: any(e["event"] == "recovered" and e.get("cpu") == "1" for e in d.events()), 5)
    time.sleep(0.3)
    evs = d.events()
    print_events(evs)
    disp = [i for i, e in enumerate(evs) if e["event"] == "displaced" and e.get("cpu") == "1"]
    stalls = [i for i, e in enumerate(evs) if e["event"] == "stall" and e.get("cpu") == "1"]
    check(disp, "an event=displaced for cpu=1")
    check(evs[disp[0]]["headline"].startswith("CPU#1 not monitored"),
          f"its headline starts 'CPU#1 not monitored' ({evs[disp[0]]['headline']!r})")
    check(stalls, "an event=stall for cpu=1 (the hog, after the heartbeat was moved)")
    s = evs[stalls[0]]
    det_us = int(s["detected_mono_us"])
    print(f"taskset at {moved_us}, hog {hog_start_us}..{hog_end_us}, stall detected at {det_us} "
          f"({(det_us - hog_start_us) / 1000:.0f} ms into the hog)")
    check(hog_start_us < det_us < hog_end_us, "the stall was detected while the hog still ran")
    check(disp[0] < stalls[0], "event=displaced came before the stall")
    # The daemon put sw-hb/1 back on CPU 1 (it may be a new thread: look it up by name again).
    end = time.monotonic() + 3
    while True:
        tid, after, cpus = affinity_of("sw-hb/1")
        if cpus == {1} or time.monotonic() > end:
            break
        time.sleep(0.1)
    print(f"after: sw-hb/1 (tid {tid}): {after}")
    check(cpus == {1} and after.endswith(": 1"), "sw-hb/1 is allowed on CPU 1 only again")
    check(d.stop() == 0, "clean stop")
    calls = [line.split() for line in open(affinity_log).read().splitlines()] if os.path.exists(affinity_log) else []
    by = {}
    for c in calls:
        by[c[0]] = by.get(c[0], 0) + 1
    print(f"affinity calls by thread name: {by}")
    check(not [c for c in calls if c[0].startswith("sw-hb/")],
          "no heartbeat called sched_setaffinity/pthread_setaffinity_np (the real-time path never moves a thread)")
    check(any(c[0] == "sw-relay/1" for c in calls), "the relay of CPU 1 put its heartbeat back")
    check(any(c[0].startswith("sw-relay/") and c[0] != "sw-relay/1" for c in calls),
          "a relay of another CPU moved a helper to its CPU during CPU 1's stall")
print("PASS")
