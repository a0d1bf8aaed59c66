#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Idle overhead of stallwatchd next to cyclictest, measured the same way in the same run.

CPU time of every thread comes from /proc/<pid>/task/*/schedstat (field 1: ns on CPU, field 3:
number of times it ran = wakeups). Both programs run concurrently for DURATION seconds at the
same interval with one thread per CPU. Also reports VmLck/VmRSS of stallwatchd at start with one
monitored CPU and with all, and the locked memory per monitored CPU (locked_per_cpu() says what
it counts).

Phase: a thread that wakes a CPU just after another program's thread woke it skips the idle exit
the other one paid, which moves either side's CPU per wakeup by up to a third (seen as 1.0x to
1.95x from one round to the next when the phases fell where they may). So cyclictest's threads
all run at exactly the interval (-d 0; its default gives thread k an interval k x 500 us longer,
whose phase drifts through the heartbeats' during a round) and it is started midway between two
heartbeat phases (CPU k's heartbeat wakes at k x interval / N of each interval): every wakeup of
either program is one the program pays for alone, as on a host where it runs alone.

Usage: bench/overhead.py BUILD/src/stallwatchd [seconds [rounds [cold_mib]]]   (root; prints
figures, asserts nothing). With rounds > 1 it repeats the side-by-side run and prints the range
and the median; seconds = 0 prints the memory figures only (about 15 s).
cold_mib > 0: a cold day. bench/cache_thrash (built beside the daemon) runs at SCHED_IDLE on every
CPU but 0 and writes a cold_mib buffer line by line, so each wakeup of either program finds its
lines and TLB entries evicted (and preempts the job: the CPU is busy, not idle). Choose cold_mib
above the last-level cache (lscpu).
Give rounds of at least metrics.interval (60 s by default, the default here): the dispatcher's
periodic pass comes once per interval, and a shorter round may hold none of it.
"""
import atexit
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time


def task_stats(pid, skip_main=False):
    """(ns on CPU, times run) summed over the threads; skip_main leaves out the thread whose tid is
    the pid (cyclictest's bookkeeping thread, which wakes every 10 ms to print)."""
    run_ns = slices = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        if skip_main and int(tid) == pid:
            continue
        try:
            f = open(f"/proc/{pid}/task/{tid}/schedstat").read().split()
        except OSError:
            continue
        run_ns += int(f[0])
        slices += int(f[2])
    return run_ns, slices


def by_cpu(pid, prefix=None):
    """{cpu: [ns on CPU, times run]} of the pinned threads (comm starting with prefix; all threads
    but the main one when prefix is None)."""
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            comm = open(f"/proc/{pid}/task/{tid}/comm").read().strip()
            stat = open(f"/proc/{pid}/task/{tid}/stat").read().rsplit(")", 1)[1].split()
            f = open(f"/proc/{pid}/task/{tid}/schedstat").read().split()
        except OSError:
            continue
        if (prefix is None and int(tid) == pid) or (prefix is not None and not comm.startswith(prefix)):
            continue
        a = out.setdefault(int(stat[36]), [0, 0])  # field 39: the CPU it last ran on (pinned)
        a[0] += int(f[0])
        a[1] += int(f[2])
    return out


def per_thread(pid):
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            comm = open(f"/proc/{pid}/task/{tid}/comm").read().strip()
            f = open(f"/proc/{pid}/task/{tid}/schedstat").read().split()
        except OSError:
            continue
        kind = "heartbeats" if comm.startswith("sw-hb/") else comm
        a = out.setdefault(kind, [0, 0])
        a[0] += int(f[0])
        a[1] += int(f[2])
    return out


def status_kib(pid, key):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


def start_daemon(binary, cpus, tmp, extra_args=(), settle_s=2):
    cfg = os.path.join(tmp, f"sw-{cpus}.toml")
    with open(cfg, "w") as f:
        f.write(f'[heartbeat]\ncpus = "{cpus}"\n[daemon]\nstate_dir = "{tmp}/state"\n'
                f'runtime_dir = "{RUNTIME}"\n')  # tmpfs, like /run in production
    p = subprocess.Popen([binary, "--config", cfg, *extra_args], stderr=subprocess.DEVNULL)
    atexit.register(lambda: p.poll() is None and (p.kill(), p.wait()))
    time.sleep(settle_s)
    return p


RUNTIME = "/dev/shm/stallwatch-bench"


def check_counters():
    """(checks, ns of real-time hold in checks, longest hold us) from a fresh status.json: asks for
    a status pass through the FIFO, as stallwatchctl does, and reads the file it writes."""
    path = f"{RUNTIME}/status.json"
    before = os.stat(path).st_mtime_ns if os.path.exists(path) else 0
    for _ in range(100):  # the dispatcher reopens the FIFO after each request: ENXIO meanwhile
        try:
            fd = os.open(f"{RUNTIME}/status.request", os.O_WRONLY | os.O_NONBLOCK)
            break
        except OSError:
            time.sleep(0.01)
    os.write(fd, b"1")
    os.close(fd)
    for _ in range(50):
        time.sleep(0.02)
        if os.path.exists(path) and os.stat(path).st_mtime_ns != before:
            break
    j = json.load(open(path))
    return j["checks_total"], j.get("check_hold_ns_total", 0), j.get("check_hold_max_us", 0)


def vmas(pid):
    """The mappings of /proc/<pid>/smaps in address order: [start, end, perms, Locked KiB,
    mlocked (VmFlags "lo": counts in VmLck, resident or not), Rss KiB]."""
    out = []
    for line in open(f"/proc/{pid}/smaps"):
        f = line.split()
        if len(f) >= 5 and "-" in f[0] and not f[0].endswith(":"):
            a, b = f[0].split("-")
            out.append([int(a, 16), int(b, 16), f[1], 0, False, 0])
        elif f and f[0] == "Locked:":
            out[-1][3] = int(f[1])
        elif f and f[0] == "Rss:":
            out[-1][5] = int(f[1])
        elif f and f[0] == "VmFlags:":
            out[-1][4] = "lo" in f[1:]
    return out


def thread_stack_kib(pid, tid, maps):
    """(stack KiB, mlocked KiB, reserve KiB, resident reserve KiB, locked guard KiB) of one
    thread, from stack_mappings(): the whole stack; the part of it mlocked (in VmLck, from the
    VmFlags, resident or not); the reserve below the locked part the daemon unlocks at thread
    start (thread_start.h) and how much of it is resident; glibc's guard page below, counted when
    it is mlocked (the daemon unlocks it at thread start)."""
    parts, guard = stack_mappings(pid, tid, maps)
    size = sum(m[1] - m[0] for m in parts) // 1024
    locked = sum(m[1] - m[0] for m in parts if m[4]) // 1024
    reserve = [m for m in parts if not m[4]]
    locked_guard = guard[1] - guard[0] if guard and guard[4] else 0
    return (size, locked, sum(m[1] - m[0] for m in reserve) // 1024, sum(m[5] for m in reserve),
            locked_guard // 1024)


def stack_mappings(pid, tid, maps):
    """(the mappings of vmas() that make up a thread's stack, from the one holding its stack
    pointer down to glibc's guard page; the guard, or None). A stack is one mapping, or two when
    the daemon split it into a locked top and an unlocked reserve (thread_start.h). The stack
    pointer is from /proc/<pid>/task/<tid>/syscall, read while the thread sleeps in a system
    call, as heartbeats and relays do nearly always."""
    for _ in range(100):
        f = open(f"/proc/{pid}/task/{tid}/syscall").read().split()
        if len(f) >= 3:  # "running" otherwise: try again
            break
        time.sleep(0.01)
    else:
        sys.exit(f"thread {tid} never seen in a system call")
    sp = int(f[-2], 16)
    for i, m in enumerate(maps):
        if m[0] <= sp < m[1]:
            parts = [m]
            j = i - 1
            while j >= 0 and maps[j][1] == parts[-1][0] and maps[j][2] == m[2] and len(parts) < 2:
                parts.append(maps[j])
                j -= 1
            guard = maps[j] if j >= 0 and maps[j][1] == parts[-1][0] and maps[j][2] == "---p" else None
            return parts, guard
    sys.exit(f"thread {tid}: no mapping holds its stack pointer {sp:#x}")


def sysroot_with_possible(tmp, possible):
    """A --sysroot tree: /proc and /dev are the real ones, /sys/devices/system/cpu says CPUs 0-1
    are online and 0-(possible-1) possible (the daemon sizes its per-CPU state by possible)."""
    root = os.path.join(tmp, f"root-{possible}")
    cpu = os.path.join(root, "sys", "devices", "system", "cpu")
    os.makedirs(cpu, exist_ok=True)
    for name in ("proc", "dev"):
        if not os.path.lexists(os.path.join(root, name)):
            os.symlink(f"/{name}", os.path.join(root, name))
    files = {"possible": f"0-{possible - 1}", "present": "0-1", "online": "0-1",
             "offline": f"2-{possible - 1}" if possible > 2 else "", "isolated": "",
             "kernel_max": "8191"}
    for name, text in files.items():
        with open(os.path.join(cpu, name), "w") as f:
            f.write(text + "\n")
    return root


def locked_per_cpu(binary, tmp):
    """What one monitored CPU adds to the daemon's locked memory, in KiB, as
    (heartbeat stack, relay stack, guard pages, per-CPU state), each measured:

    - the stacks and guards: every sw-hb/N and sw-relay/N thread of a daemon monitoring all CPUs,
      the part of its stack that is mlocked (smaps VmFlags "lo": in VmLck; the unlocked reserve
      below it is printed, not counted) and the guard mapping below, averaged per CPU. A guard page is PROT_NONE and never resident, but a locked one counts in VmLck
      (locked_vm) and so against RLIMIT_MEMLOCK; it is counted here when locked (the daemon
      unlocks its threads' guards at their start, so 0 unless that failed).
    - the per-CPU state: VmLck of a daemon whose --sysroot says 4096 CPUs are possible (2 online)
      minus that of one saying 2, over 4094. The daemon sizes its per-CPU arrays (heartbeat
      slots, relay boxes, the checker's and the published state, metrics counters, ...) by the
      possible CPUs, so this counts all of them, and also what the heap keeps mapped after a
      status pass over 4096 CPUs, at page granularity over 4094 CPUs. Not counted: the few
      hundred bytes of heap a running heartbeat adds (its worker record), below a page a CPU.

    The main thread and the other helpers (dispatcher, report worker, evidence readers) are one
    each whatever the number of CPUs: not per CPU."""
    ncpu = os.cpu_count()
    p = start_daemon(binary, f"0-{ncpu - 1}", tmp)
    maps = vmas(p.pid)
    # threads, then sums of thread_stack_kib()'s five figures
    kinds = {"sw-hb/": [0, 0, 0, 0, 0, 0], "sw-relay/": [0, 0, 0, 0, 0, 0]}
    for tid in os.listdir(f"/proc/{p.pid}/task"):
        comm = open(f"/proc/{p.pid}/task/{tid}/comm").read().strip()
        for prefix, k in kinds.items():
            if comm.startswith(prefix):
                k[0] += 1
                for i, v in enumerate(thread_stack_kib(p.pid, tid, maps)):
                    k[1 + i] += v
    p.terminate()
    p.wait()
    hb, relay = kinds["sw-hb/"], kinds["sw-relay/"]
    if hb[0] != ncpu or relay[0] != ncpu:
        sys.exit(f"expected {ncpu} heartbeats and relays, found {hb[0]} and {relay[0]}")
    for name, k in (("heartbeat", hb), ("relay", relay)):
        n = k[0]
        print(f"  {name} stacks: {k[1] / n:.0f} KiB, of which {k[2] / n:.0f} KiB mlocked and "
              f"{k[3] / n:.0f} KiB an unlocked reserve ({k[4] / n:.0f} KiB of it resident); "
              f"locked guard {k[5] / n:.0f} KiB; over {n} threads")
    lck = {}
    for possible in (2, 4096):
        root = sysroot_with_possible(tmp, possible)
        # Past the first status pass (the dispatcher's first one follows the first check).
        p = start_daemon(binary, "all", tmp, ("--sysroot", root), settle_s=4)
        lck[possible] = status_kib(p.pid, "VmLck")
        p.terminate()
        p.wait()
    state = (lck[4096] - lck[2]) / 4094
    print(f"  per-CPU state: VmLck {lck[2]} KiB with 2 possible CPUs, {lck[4096]} KiB with 4096: "
          f"{state * 1024:.0f} bytes per possible CPU")
    return hb[2] / hb[0], relay[2] / relay[0], (hb[5] + relay[5]) / ncpu, state


def start_resident_loop(binary, rss_kib, phase_us, seconds):
    """bench/resident_loop (built beside the daemon) with as much resident as stallwatchd has
    (its own base subtracted, read from a first start with none), or (None, 0) when it was not
    built."""
    path = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(binary))), "bench",
                        "resident_loop")
    if not os.access(path, os.X_OK):
        print(f"  (no {path}: the do-nothing loop of the daemon's size is left out)")
        return None, 0
    interval_us = str(INTERVAL_NS // 1000)
    base = subprocess.Popen([path, interval_us, str(phase_us), "0", "5"])
    time.sleep(0.3)
    base_kib = status_kib(base.pid, "VmRSS")
    base.terminate()
    base.wait()
    extra = max(rss_kib - base_kib, 0)
    p = subprocess.Popen([path, interval_us, str(phase_us), str(extra), str(int(seconds))])
    atexit.register(lambda: p.poll() is None and (p.kill(), p.wait()))
    time.sleep(0.3)
    return p, status_kib(p.pid, "VmRSS")


def others_running(names=("stallwatchd", "cyclictest", "resident_loop")):
    """Other stallwatchd or cyclictest processes (or names): their wakeups would share the CPUs'
    idle exits with the measured ones and skew both sides. bench/noise.py uses it too."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            comm = open(f"/proc/{pid}/comm").read().strip()
            state = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if comm in names and state != "Z":
            found.append(f"{comm}[{pid}]")
    return found


def main():
    binary = sys.argv[1]
    duration = float(sys.argv[2]) if len(sys.argv) > 2 else 60
    if os.geteuid() != 0:
        sys.exit("needs root")
    if others_running():
        sys.exit(f"not idle: {', '.join(others_running())} running; stop them first")
    ncpu = os.cpu_count()
    tmp = tempfile.mkdtemp()

    # Memory at start: one monitored CPU and all of them. With fewer than two monitored CPUs a
    # check-only heartbeat runs on another one, so the difference is not what a CPU costs: that
    # is locked_per_cpu()'s.
    mem = {}
    for cpus in ("0", f"0-{ncpu - 1}"):
        p = start_daemon(binary, cpus, tmp)
        mem[cpus] = (status_kib(p.pid, "VmLck"), status_kib(p.pid, "VmRSS"))
        p.terminate()
        p.wait()
    one, all_ = mem["0"], mem[f"0-{ncpu - 1}"]
    print(f"memory at start: 1 CPU VmLck {one[0]} KiB VmRSS {one[1]} KiB; {ncpu} CPUs VmLck "
          f"{all_[0]} KiB VmRSS {all_[1]} KiB")
    hb, relay, guards, state = locked_per_cpu(binary, tmp)
    total = hb + relay + guards + state
    print(f"locked per monitored CPU: {total:.1f} KiB (heartbeat stack {hb:.0f} + relay stack "
          f"{relay:.0f} + guard pages {guards:.0f} + per-CPU state {state:.1f}); at 4096 CPUs "
          f"{total * 4096 / 1024:.0f} MiB")
    if duration == 0:
        return

    rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 1
    cold_mib = int(sys.argv[4]) if len(sys.argv) > 4 else 0
    results = []
    for r in range(rounds):
        if rounds > 1:
            print(f"round {r + 1} of {rounds}:")
        results.append(one_round(binary, duration, tmp, cold_mib))
    if rounds > 1:
        # Each round starts both programs afresh; the phases are kept apart (module docstring),
        # what is left between rounds is the machine's noise. The median is the figure to read.
        cpu = sorted(x[0] for x in results)
        wake = sorted(x[1] for x in results)
        print(f"over {rounds} rounds: CPU per second {cpu[0]:.2f}-{cpu[-1]:.2f}x, median "
              f"{cpu[len(cpu) // 2]:.2f}x (goal <= 2.0x); per wakeup {wake[0]:.2f}-{wake[-1]:.2f}x, "
              f"median {wake[len(wake) // 2]:.2f}x (goal <= 1.2x)")
        fair = sorted(x[3] for x in results)
        print(f"  per wakeup on the CPUs without cyclictest's main thread: {fair[0]:.2f}-"
              f"{fair[-1]:.2f}x, median {fair[len(fair) // 2]:.2f}x (goal <= 1.2x)")
        plain = sorted(x[2] for x in results)
        print(f"  plain wakeups alone (no check): {plain[0]:.2f}-{plain[-1]:.2f}x, median "
              f"{plain[len(plain) // 2]:.2f}x")
        loops = [x[4] for x in results if x[4]]
        if loops:
            size = sorted(x[0] for x in loops)
            own = sorted(x[1] for x in loops)
            print(f"  a do-nothing loop of the daemon's resident size, same CPUs: {size[0]:.2f}-"
                  f"{size[-1]:.2f}x cyclictest, median {size[len(size) // 2]:.2f}x; the heartbeat "
                  f"against that loop {own[0]:.2f}-{own[-1]:.2f}x, median {own[len(own) // 2]:.2f}x")


PROM = "/var/lib/prometheus/node-exporter/stallwatch.prom"
INTERVAL_NS = 500_000_000  # stallwatchd's default heartbeat.interval, and cyclictest's -i


def start_thrash(binary, mib, seconds):
    """bench/cache_thrash on every CPU but 0 (where cyclictest's main thread runs), or []."""
    path = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(binary))), "bench",
                        "cache_thrash")
    if not os.access(path, os.X_OK):
        sys.exit(f"no {path}: build the bench targets for a cold day")
    procs = []
    for cpu in range(1, os.cpu_count()):
        p = subprocess.Popen(["taskset", "-c", str(cpu), path, str(mib), str(int(seconds))])
        atexit.register(lambda p=p: p.poll() is None and (p.kill(), p.wait()))
        procs.append(p)
    return procs


def one_round(binary, duration, tmp, cold_mib=0):
    ncpu = os.cpu_count()
    prom_existed = os.path.exists(PROM)
    # CPU time: stallwatchd at defaults (500 ms heartbeat, checks on the heartbeats) and cyclictest
    # (one thread per CPU, 500 ms, SCHED_FIFO 99, mlockall) side by side.
    sw = start_daemon(binary, "all", tmp)
    if not shutil.which("cyclictest"):
        sys.exit("cyclictest missing: apt-get install rt-tests")
    # Midway between two heartbeat phases (see the module docstring); cyclictest's first wakeup is
    # one interval after its threads start, a few ms after this launch.
    grid = INTERVAL_NS // ncpu
    now = time.monotonic_ns()
    time.sleep(((now // grid + 1) * grid + grid // 2 - now) / 1e9)
    ct = subprocess.Popen(["cyclictest", "-t", str(ncpu), "-a", "-i", str(INTERVAL_NS // 1000), "-d", "0",
                           "-p", "99", "-m", "-q", "-D", str(int(duration) + 5)], stdout=subprocess.DEVNULL)
    # cyclictest's main thread wakes every 10 ms to print, in cyclictest's own address space: the
    # measuring thread on the CPU where it runs finds cyclictest's page tables still loaded and its
    # lines warm, and costs about half as much per wakeup as on any other CPU (2026-12-03: 21-25
    # against 52 us; a minimal heartbeat loop, bench-free, matched cyclictest within 1.06-1.16x
    # on the other CPU and was 1.8-2.1x on that one). So it is kept on CPU 0, and the per-wakeup
    # yardstick is read on the other CPUs, where no thread of either program warms the other.
    time.sleep(0.5)
    os.sched_setaffinity(ct.pid, {0})  # the main thread only: the measuring threads keep theirs
    # The second yardstick: a do-nothing heartbeat as large as the daemon (resident_loop.cpp),
    # at the quarter of the grid (between the heartbeats' and cyclictest's wakeups).
    loop, loop_kib = start_resident_loop(binary, status_kib(sw.pid, "VmRSS"), grid // 4000,
                                         duration + 5)
    thrash = start_thrash(binary, cold_mib, duration + 5) if cold_mib > 0 else []
    time.sleep(1.5)
    k0 = check_counters()
    s0, c0, m0, t0 = task_stats(sw.pid), task_stats(ct.pid), task_stats(ct.pid, True), time.monotonic()
    p0, hb0, cm0 = per_thread(sw.pid), by_cpu(sw.pid, "sw-hb/"), by_cpu(ct.pid)
    lp0 = by_cpu(loop.pid) if loop else {}
    time.sleep(duration)
    s1, c1, m1, t1 = task_stats(sw.pid), task_stats(ct.pid), task_stats(ct.pid, True), time.monotonic()
    p1, hb1, cm1 = per_thread(sw.pid), by_cpu(sw.pid, "sw-hb/"), by_cpu(ct.pid)
    lp1 = by_cpu(loop.pid) if loop else {}
    k1 = check_counters()
    ct.terminate()
    ct.wait()
    if loop:
        loop.terminate()
        loop.wait()
    for p in thrash:
        p.terminate()
        p.wait()
    # One status pass (status.json, plus the metrics textfile when on): ask through the FIFO, as
    # stallwatchctl does, spaced past the dispatcher's 100 ms flood limit.
    fifo = f"{RUNTIME}/status.request"
    passes, d0 = 20, per_thread(sw.pid).get("sw-dispatch", [0, 0])
    for _ in range(passes):
        fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        os.write(fd, b"1")
        os.close(fd)
        time.sleep(0.15)
    d1 = per_thread(sw.pid).get("sw-dispatch", [0, 0])
    sw.terminate()
    sw.wait()
    dt = t1 - t0
    rows = []
    for name, a, b in (("stallwatchd", s0, s1), ("cyclictest", c0, c1),
                       ("cyclictest measuring threads", m0, m1)):
        run_ns, wakes = b[0] - a[0], b[1] - a[1]
        rows.append((name, run_ns / dt / 1000, wakes / dt, run_ns / max(wakes, 1) / 1000))
    cold = f"; cold day: cache_thrash {cold_mib} MiB on CPUs 1-{ncpu - 1}" if cold_mib > 0 else ""
    print(f"idle overhead over {dt:.0f} s ({ncpu} CPUs, 500 ms interval{cold}):")
    for name, us_per_s, wakes_per_s, us_per_wake in rows:
        print(f"  {name:30s} {us_per_s:8.1f} us CPU/s  {wakes_per_s:6.1f} wakeups/s  "
              f"{us_per_wake:6.2f} us/wakeup")
    for kind in sorted(p1):
        run_ns = p1[kind][0] - p0.get(kind, [0, 0])[0]
        wakes = p1[kind][1] - p0.get(kind, [0, 0])[1]
        print(f"    stallwatchd {kind:18s} {run_ns / dt / 1000:8.1f} us CPU/s  {wakes / dt:6.1f} "
              f"wakeups/s  {run_ns / max(wakes, 1) / 1000:6.2f} us/wakeup")
    # Check-carrying wakeups apart from plain ones: the daemon counts its checks and the time each
    # held its CPU (wakeup to the check's end). A plain wakeup is what is left per wakeup.
    hb = [p1.get("heartbeats", [0, 0])[i] - p0.get("heartbeats", [0, 0])[i] for i in (0, 1)]
    checks, hold_ns = k1[0] - k0[0], k1[1] - k0[1]
    plain_us = (hb[0] - hold_ns) / max(hb[1], 1) / 1000
    print(f"    heartbeat wakeups: {hb[1] - checks} plain, about {plain_us:.2f} us each "
          f"({plain_us / rows[2][3]:.2f}x cyclictest's); {checks} carried a check, "
          f"+{hold_ns / max(checks, 1) / 1000:.2f} us each on average (longest check since start "
          f"{k1[2]} us)")
    fair = loop_fair = None
    for cpu in sorted(hb1):
        h = [hb1[cpu][i] - hb0.get(cpu, [0, 0])[i] for i in (0, 1)]
        c = [cm1.get(cpu, [0, 0])[i] - cm0.get(cpu, [0, 0])[i] for i in (0, 1)]
        lp = [lp1.get(cpu, [0, 0])[i] - lp0.get(cpu, [0, 0])[i] for i in (0, 1)]
        hu, cu = h[0] / max(h[1], 1) / 1000, c[0] / max(c[1], 1) / 1000
        lu = lp[0] / max(lp[1], 1) / 1000
        note = "  (cyclictest's main thread here: its yardstick is warmed)" if cpu == 0 else ""
        also = f"; do-nothing loop of the daemon's size {lu:6.2f} us/wakeup" if loop else ""
        print(f"    CPU {cpu}: heartbeat {hu:6.2f} us/wakeup, cyclictest {cu:6.2f} us/wakeup: "
              f"{hu / max(cu, 1e-9):.2f}x{also}{note}")
    rest = [cpu for cpu in hb1 if cpu != 0]
    if rest:
        def per_wake(after, before):
            t = [sum(after.get(c, [0, 0])[i] - before.get(c, [0, 0])[i] for c in rest) for i in (0, 1)]
            return t[0] / max(t[1], 1)
        hw, cw = per_wake(hb1, hb0), per_wake(cm1, cm0)
        fair = hw / max(cw, 1e-9)
        print(f"  per wakeup on the CPUs without cyclictest's main thread: {fair:.2f}x (goal <= 1.2x)")
        if loop:
            lw = per_wake(lp1, lp0)
            loop_fair = (lw / max(cw, 1e-9), hw / max(lw, 1e-9))
            print(f"    a do-nothing loop with the daemon's resident size ({loop_kib} KiB): "
                  f"{loop_fair[0]:.2f}x cyclictest; the heartbeat is {loop_fair[1]:.2f}x that loop")
    print(f"  stallwatchd / cyclictest CPU per wakeup: {rows[0][3] / rows[1][3]:.2f}x "
          f"(vs its measuring threads only: {rows[0][3] / rows[2][3]:.2f}x)")
    print(f"  stallwatchd / cyclictest measuring threads, CPU per second: {rows[0][1] / rows[2][1]:.2f}x "
          f"(goal <= 2.0x); per wakeup {rows[0][3] / rows[2][3]:.2f}x (goal <= 1.2x)")
    print(f"  one status pass on request (status.json; the textfile waits for metrics.interval): "
          f"{(d1[0] - d0[0]) / max(d1[1] - d0[1], 1) / 1000:.0f} us over {d1[1] - d0[1]} dispatcher runs "
          f"for {passes} requests")
    if not prom_existed:  # written by this round's daemon (node_exporter's directory exists here)
        for path in (PROM, PROM + ".tmp"):  # the file and its spare (AtomicFile)
            if os.path.exists(path):
                os.unlink(path)
    return (rows[0][1] / rows[2][1], rows[0][3] / rows[2][3], plain_us / rows[2][3],
            fair if fair is not None else rows[0][3] / rows[2][3], loop_fair)


if __name__ == "__main__":
    main()
