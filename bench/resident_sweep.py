#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""What a do-nothing heartbeat costs per wakeup as its process grows: the machine's own price
for the size of an address space (docs/performance.md, 2026-12-04).

Runs build/bench/resident_loop (one SCHED_FIFO 99 thread per CPU, one clock read per wakeup)
with 0, 6, 12 and 32 MiB of extra memory resident, in turn, beside four one-thread cyclictests
on CPU 1 at other phases (other address spaces entering that CPU between its wakeups, as on a
host where other programs run), and prints the loop's CPU time per wakeup on CPU 1 from
/proc/<pid>/task/*/schedstat. On bare metal the figures should not depend on the size; on a VM
whose hypervisor shadows the guest's page tables they may.

Each size runs twice: idle between its wakeups, as stallwatchd is, and warm, its main thread
waking every 10 ms (unpinned) as cyclictest's does (usleep(10000) in its main loop, even with
-q), which on a VM that shadows page tables keeps the address space cheap to enter. The
cyclictests' own main threads are moved to CPU 0, as bench/overhead.py does. Each figure has beside it the cyclictests' own CPU time per wakeup on CPU 1 over the same
window (a program of 2.9 MiB resident doing the same work), and the ratio of the two.

Usage: bench/resident_sweep.py BUILD_DIR [interval_us [seconds [rounds [sizes [modes]]]]]   (root;
defaults 500000 30 2 0,6144,12288,32768 idle,warm: stallwatchd's default heartbeat interval;
sizes are the extra KiB resident, comma-separated, each KIB or KIB:KIND, KIND one of anon (the
default: 4 KiB pages written once), huge (anonymous in 2 MiB transparent huge pages) or
file=PATH (that file's pages read once, clean page cache; resident_loop.cpp) or touch=K (anon,
and each wakeup reads one byte in each of K of its pages: the price of a page touched) or spread=K
(K pages more, each in its own GiB, read each wakeup: a page whose walk shares nothing); modes idle, warm
or both). Prints figures, asserts nothing.
"""
import os
import subprocess
import sys
import time

import overhead

SIZES_KIB = (0, 6144, 12288, 32768)


def cyclic_cpu1(procs):
    """[ns on CPU 1, times run] summed over the cyclictests' measuring threads."""
    total = [0, 0]
    for c in procs:
        got = overhead.by_cpu(c.pid).get(1, [0, 0])
        total[0] += got[0]
        total[1] += got[1]
    return total


def main():
    if len(sys.argv) < 2 or os.geteuid() != 0:
        sys.exit(__doc__)
    loop_bin = os.path.join(sys.argv[1], "bench", "resident_loop")
    interval_us = int(sys.argv[2]) if len(sys.argv) > 2 else 500_000
    seconds = float(sys.argv[3]) if len(sys.argv) > 3 else 30
    rounds = int(sys.argv[4]) if len(sys.argv) > 4 else 2
    sizes = tuple(sys.argv[5].split(",")) if len(sys.argv) > 5 else tuple(map(str, SIZES_KIB))
    modes = sys.argv[6].split(",") if len(sys.argv) > 6 else ["idle", "warm"]
    warms = [w for m, w in (("idle", 0), ("warm", 10_000)) if m in modes]
    if overhead.others_running():
        sys.exit(f"not idle: {', '.join(overhead.others_running())} running; stop them first")
    others = []
    try:
        for k in range(4):  # phases a fifth of the interval apart; the loop sits at a tenth
            others.append(subprocess.Popen(
                ["cyclictest", "-t1", "-a1", "-i", str(interval_us), "-p", str(90 + k), "-m", "-q",
                 "-D", str(int(rounds * len(warms) * len(sizes) * (seconds + 4) + 10))],
                stdout=subprocess.DEVNULL))
            time.sleep(interval_us / 5e6)
        # Their main threads (a 10 ms poll each) go to CPU 0, as in overhead.py: on CPU 1 the
        # cyclictests are then read where nothing of theirs but the measuring thread runs.
        time.sleep(0.3)
        for c in others:
            os.sched_setaffinity(c.pid, {0})
        print(f"do-nothing loop, interval {interval_us} us, CPU 1, {seconds:.0f} s per figure:")
        for _ in range(rounds):
            for size, warm in [(k, w) for k in sizes for w in warms]:
                kib, _, kind = size.partition(":")
                kib, kind = int(kib), kind or "anon"
                env = dict(os.environ)
                env.pop("RESIDENT_FILE", None)
                env.pop("RESIDENT_HUGE", None)
                env.pop("RESIDENT_TOUCH", None)
                env.pop("RESIDENT_SPREAD", None)
                if kind.startswith("spread="):
                    env["RESIDENT_SPREAD"] = kind[len("spread="):]
                elif kind.startswith("touch="):
                    env["RESIDENT_TOUCH"] = kind[len("touch="):]
                elif kind == "huge":
                    env["RESIDENT_HUGE"] = "1"
                elif kind.startswith("file="):
                    env["RESIDENT_FILE"] = kind[len("file="):]
                elif kind != "anon":
                    sys.exit(f"unknown kind {kind!r} in {size!r}")
                p = subprocess.Popen([loop_bin, str(interval_us), str(interval_us // 10), str(kib),
                                      str(int(seconds + 3)), str(warm)], env=env)
                time.sleep(2.5)
                before = overhead.by_cpu(p.pid).get(1, [0, 0])
                cyc_before = cyclic_cpu1(others)
                time.sleep(seconds)
                after = overhead.by_cpu(p.pid).get(1, [0, 0])
                cyc_after = cyclic_cpu1(others)
                rss = overhead.status_kib(p.pid, "VmRSS")
                p.terminate()
                p.wait()
                run_ns, wakes = after[0] - before[0], after[1] - before[1]
                loop_us = run_ns / max(wakes, 1) / 1000
                cyc_wakes = cyc_after[1] - cyc_before[1]
                cyc_us = (cyc_after[0] - cyc_before[0]) / max(cyc_wakes, 1) / 1000
                print(f"  {kib / 1024:5.1f} MiB extra {(kind if kind.startswith(('touch=', 'spread=')) else kind.split('=')[0]):9s} (VmRSS {rss:5d} KiB), "
                      f"{'warm (10 ms)' if warm else 'idle        '}: "
                      f"{loop_us:7.1f} us per wakeup over {wakes}; cyclictest {cyc_us:6.1f} us "
                      f"over {cyc_wakes}; ratio {loop_us / max(cyc_us, 1e-9):.2f}x", flush=True)
    finally:
        for c in others:
            c.terminate()
            c.wait()


if __name__ == "__main__":
    main()
