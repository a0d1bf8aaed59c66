#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Prints the system suite's results table (verdicts, wall times, detection latencies) from the
runs' result.json files, and writes it to RUNS/summary.txt. Fails when a scenario that ran failed;
when no scenario ran it skips (77), or fails under CI=true."""
import json
import os
import sys


def main():
    runs, names = sys.argv[1], sys.argv[2:]
    lines, failed, ran = [], [], 0
    lines.append(f"{'scenario':<26} {'verdict':<8} {'wall s':>7}  metrics")
    for name in names:
        path = os.path.join(runs, name, "result.json")
        if not os.path.exists(path):
            lines.append(f"{name:<26} {'not run':<8}")
            continue
        ran += 1
        r = json.load(open(path))
        wall = sum(b["elapsed_s"] for b in r["boots"])
        metrics = ", ".join(f"{k}={v}" for k, v in r["metrics"].items())
        lines.append(f"{name:<26} {r['verdict']:<8} {wall:>7.1f}  {metrics}")
        if r["verdict"] != "PASS":
            failed.append(name)
            for c in r["checks"]:
                if not c["ok"]:
                    lines.append(f"{'':<26}   failed: {c['what']} {c['detail']}")
    text = "\n".join(lines) + "\n"
    print(text, end="")
    os.makedirs(runs, exist_ok=True)
    with open(os.path.join(runs, "summary.txt"), "w") as f:
        f.write(text)
    if ran == 0:
        if os.environ.get("CI") == "true":
            print("FAIL: no system scenario ran (CI=true must run the QEMU suite)")
            return 1
        print("skipped: no system scenario ran")
        return 77
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
