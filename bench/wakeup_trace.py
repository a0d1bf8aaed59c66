#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""What one heartbeat wakeup executes, counted instruction by instruction: the user-space
instructions, the 64-byte code lines and the 4 KiB code pages from the return of clock_nanosleep
to its next call, for wakeups that carry no check and for those that carry one.

These figures do not depend on the machine or the hour. After half a second asleep a wakeup finds
its lines and TLB entries cold, so the lines and pages it touches are what it pays for (issue 22,
part 4; docs/performance.md, "2026-12-04, midnight"). The per-wakeup time of bench/overhead.py
moves by 30 % from one hour to the next on the same VM; these do not move at all.

How: stallwatchd runs monitoring one CPU (a check-only heartbeat on CPU 0 beside it). gdb attaches
and single-steps the heartbeats through WAKEUPS wakeups (scheduler-locking step, so one thread
moves at a time). The vDSO's clock read is counted in lines and pages but not in instructions:
single-stepped, its retry loop spins. Stepping makes a wakeup late, so some checks look into a
blackout that did not happen; the check figures are the median of the check-carrying wakeups.
Data lines are not counted: gdb sees only where the code runs. Needs gdb and objdump (root).

Usage: bench/wakeup_trace.py BUILD/src/stallwatchd [wakeups, default 24]. Prints figures,
asserts nothing.
"""
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

GDB_SCRIPT = r'''
import gdb
RET = int(gdb.parse_and_eval("$ret_addr"))
CALL = int(gdb.parse_and_eval("$call_addr"))
VLO = int(gdb.parse_and_eval("$vdso_lo"))
VHI = int(gdb.parse_and_eval("$vdso_hi"))
CLO = int(gdb.parse_and_eval("$check_lo"))
CHI = int(gdb.parse_and_eval("$check_hi"))
gdb.execute("set pagination off")
gdb.execute("set scheduler-locking step")
bp = gdb.Breakpoint(f"*{RET:#x}", internal=True)
for it in range(int(gdb.parse_and_eval("$wakeups"))):
    gdb.execute("continue", to_string=True)
    pcs = []
    while True:
        pc = int(gdb.parse_and_eval("$pc"))
        if pc == CALL or len(pcs) > 500000:
            break
        pcs.append(pc)
        gdb.execute("stepi", to_string=True)
    own = sum(1 for p in pcs if not VLO <= p < VHI)
    check = any(CLO <= p < CHI for p in pcs)
    print(f"WAKEUP check={int(check)} insns={own} lines={len({p >> 6 for p in pcs})} "
          f"pages={len({p >> 12 for p in pcs})}")
gdb.execute("detach")
'''

RUN = "_ZN10stallwatch16HeartbeatManager3runEPv"
CHECK = "_ZN10stallwatch6daemon11CheckRunner9run_checkERKNS_9CheckCallE"


def sleep_call(binary):
    """(address of the call to clock_nanosleep in the heartbeat loop, of the instruction after)."""
    dis = subprocess.run(["objdump", "-d", "--no-show-raw-insn", f"--disassemble={RUN}", binary],
                         check=True, capture_output=True, text=True).stdout
    insns = [l for l in dis.splitlines() if re.match(r"^\s+[0-9a-f]+:\t", l)]
    for i, line in enumerate(insns):
        if "call" in line and "clock_nanosleep" in line:
            return int(line.split(":")[0], 16), int(insns[i + 1].split(":")[0], 16)
    sys.exit("no call to clock_nanosleep in HeartbeatManager::run")


def symbol_range(binary, name):
    out = subprocess.run(["nm", "-S", binary], check=True, capture_output=True, text=True).stdout
    for line in out.splitlines():
        f = line.split()
        if len(f) == 4 and f[3] == name:
            return int(f[0], 16), int(f[0], 16) + int(f[1], 16)
    sys.exit(f"{name} not found in {binary}")


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    binary = os.path.abspath(sys.argv[1])
    wakeups = int(sys.argv[2]) if len(sys.argv) > 2 else 24
    call, ret = sleep_call(binary)
    check_lo, check_hi = symbol_range(binary, CHECK)
    tmp = tempfile.mkdtemp(prefix="sw-trace-")
    cpu = "1" if os.cpu_count() > 1 else "0"
    cfg = os.path.join(tmp, "sw.toml")
    with open(cfg, "w") as f:
        f.write(f'[heartbeat]\ncpus = "{cpu}"\n[daemon]\nstate_dir = "{tmp}/state"\n'
                f'runtime_dir = "/dev/shm/sw-trace"\n[log]\nlevel = "warn"\n')
    script = os.path.join(tmp, "trace.py")
    with open(script, "w") as f:
        f.write(GDB_SCRIPT)
    daemon = subprocess.Popen([binary, "--config", cfg], stderr=subprocess.DEVNULL)
    try:
        time.sleep(2)
        maps = open(f"/proc/{daemon.pid}/maps").read().splitlines()
        text = next(l for l in maps if " r-xp " in l and l.endswith(binary))
        lo, off = int(text.split("-")[0], 16), int(text.split()[2], 16)
        vdso = next(l for l in maps if l.endswith("[vdso]")).split()[0].split("-")
        gdb_vars = {"ret_addr": lo + ret - off, "call_addr": lo + call - off,
                    "vdso_lo": int(vdso[0], 16), "vdso_hi": int(vdso[1], 16),
                    "check_lo": lo + check_lo - off, "check_hi": lo + check_hi - off,
                    "wakeups": wakeups}
        cmd = ["gdb", "-q", "-p", str(daemon.pid), "-batch"]
        for k, v in gdb_vars.items():
            cmd += ["-ex", f"set ${k}={v}"]
        cmd += ["-x", script]
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=900).stdout
    finally:
        daemon.terminate()
        daemon.wait()
    rows = {0: [], 1: []}
    for m in re.finditer(r"WAKEUP check=(\d) insns=(\d+) lines=(\d+) pages=(\d+)", out):
        rows[int(m.group(1))].append(tuple(int(m.group(i)) for i in (2, 3, 4)))
    print(f"{binary}: {wakeups} heartbeat wakeups single-stepped")
    print(f"  {'wakeup':<24} {'count':>5} {'instructions':>13} {'code lines':>11} {'code pages':>11}"
          "   (median; min-max)")
    for kind, label in ((0, "plain (no check)"), (1, "carrying a check")):
        r = rows[kind]
        if not r:
            print(f"  {label:<24} {0:>5}")
            continue
        cols = []
        for i in range(3):
            v = [x[i] for x in r]
            cols.append(f"{statistics.median(v):>6.0f} ({min(v)}-{max(v)})")
        print(f"  {label:<24} {len(r):>5} {cols[0]:>13} {cols[1]:>11} {cols[2]:>11}")


if __name__ == "__main__":
    main()
