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

Usage: bench/resident_sweep.py BUILD_DIR [interval_us [seconds [rounds]]]   (root; defaults
500000 30 2: stallwatchd's default heartbeat interval). Prints figures, asserts nothing.
"""
import os
import subprocess
import sys
import time

import overhead

SIZES_KIB = (0, 6144, 12288, 32768)


def main():
    if len(sys.argv) < 2 or os.geteuid() != 0:
        sys.exit(__doc__)
    loop_bin = os.path.join(sys.argv[1], "bench", "resident_loop")
    interval_us = int(sys.argv[2]) if len(sys.argv) > 2 else 500_000
    seconds = float(sys.argv[3]) if len(sys.argv) > 3 else 30
    rounds = int(sys.argv[4]) if len(sys.argv) > 4 else 2
    if overhead.others_running():
        sys.exit(f"not idle: {', '.join(overhead.others_running())} running; stop them first")
    others = []
    try:
        for k in range(4):  # phases a fifth of the interval apart; the loop sits at a tenth
            others.append(subprocess.Popen(
                ["cyclictest", "-t1", "-a1", "-i", str(interval_us), "-p", str(90 + k), "-m", "-q",
                 "-D", str(int(rounds * len(SIZES_KIB) * (seconds + 4) + 10))],
                stdout=subprocess.DEVNULL))
            time.sleep(interval_us / 5e6)
        print(f"do-nothing loop, interval {interval_us} us, CPU 1, {seconds:.0f} s per figure:")
        for _ in range(rounds):
            for kib in SIZES_KIB:
                p = subprocess.Popen([loop_bin, str(interval_us), str(interval_us // 10), str(kib),
                                      str(int(seconds + 3))])
                time.sleep(2.5)
                before = overhead.by_cpu(p.pid).get(1, [0, 0])
                time.sleep(seconds)
                after = overhead.by_cpu(p.pid).get(1, [0, 0])
                rss = overhead.status_kib(p.pid, "VmRSS")
                p.terminate()
                p.wait()
                run_ns, wakes = after[0] - before[0], after[1] - before[1]
                print(f"  {kib // 1024:3d} MiB extra (VmRSS {rss} KiB): "
                      f"{run_ns / max(wakes, 1) / 1000:7.1f} us per wakeup over {wakes}", flush=True)
    finally:
        for c in others:
            c.terminate()
            c.wait()


if __name__ == "__main__":
    main()
