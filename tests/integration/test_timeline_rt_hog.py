# SPDX-License-Identifier: GPL-2.0-or-later
"""The flight recorder on a real RT-hog stall (issue 21): a SCHED_FIFO hog above the heartbeat's
priority on CPU 1. The report's timeline (kernel ftrace instance, read back after the detection)
shows the switch to the hog and nothing after it on that CPU, names it as the holder, and
`stallwatchctl reports ID --timeline` draws it within 80 columns. Mounts tracefs if this host has
not (and unmounts it after)."""
import subprocess
import sys

from swtest import *

require_root_and_cpus()
binary = sys.argv[1]
ctl = os.environ.get("STALLWATCHCTL") or os.path.join(os.path.dirname(binary), "ctl", "stallwatchctl")
TRACEFS = "/sys/kernel/tracing"
mounted_here = False
if not os.path.exists(os.path.join(TRACEFS, "instances")):
    r = subprocess.run(["mount", "-t", "tracefs", "nodev", TRACEFS], capture_output=True, text=True)
    if r.returncode != 0:
        skip(f"tracefs cannot be mounted here: {r.stderr.strip()}")
    mounted_here = True
lock = rt_lock()
d = Daemon(binary, base_config("2s", repeat="10s", extra="[timeline]\nseconds = \"2s\"\nbuffer_kib = 256\n"))
try:
    d.wait_ready()
    d.wait_for(lambda d: any("timeline: recording" in l for l in d.lines()), 10)
    check(os.path.isdir(os.path.join(TRACEFS, "instances", "stallwatch")),
          "the daemon's ftrace instance exists while it runs")
    time.sleep(1.0)
    start_us, hog_pid, _ = run_hog(3.0, comm="sw-test-hog")
    d.wait_for(lambda d: any(e["event"] == "recovered" for e in d.events()), 8)
    stalls = [e for e in d.events() if e["event"] == "stall" and e.get("cpu") == "1"]
    check(len(stalls) == 1, f"one stall event for CPU 1 (got {len(stalls)})")
    report = json.load(open(stalls[0]["report"]))
    first = report["updates"][0]
    tl = first.get("timeline", {})
    print("timeline status:", tl.get("status"), tl.get("note"))
    check(tl.get("status") == "recorded", f"timeline recorded (got {tl.get('status')}: {tl.get('note')})")
    print("silent_after:", tl["silent_after"]["text"])
    print("holder:", tl.get("holder"))
    print("read_ns:", tl.get("read_ns"))
    check(tl["stalled_cpu"] == 1, "the timeline is CPU 1's")
    check(tl["silent_after"]["kind"] == "switch" and
          tl["silent_after"]["text"].startswith(f"sw-test-hog:{hog_pid} switched in"),
          "CPU 1 went silent after the switch to the hog")
    h = tl.get("holder") or {}
    check(h.get("pid") == hog_pid and h.get("comm") == "sw-test-hog" and h.get("rt") is True and
          h.get("share", 0) >= 0.9, "the hog held the CPU through the silence")
    row = next(c for c in tl["cpus"] if c["cpu"] == 1)
    tasks = [s for s in row["segments"] if s["kind"] in ("task", "idle")]
    hog = [s for s in tasks if s.get("pid") == hog_pid]
    check(len(hog) >= 1, "the hog has a segment on CPU 1")
    # After the switch to the hog, nothing else on CPU 1 -- except, with RT throttling on (read
    # live), other tasks in the throttled part of each period, after which the hog comes back.
    runtime = int(open("/proc/sys/kernel/sched_rt_runtime_us").read())
    period = int(open("/proc/sys/kernel/sched_rt_period_us").read())
    gap_us = period - runtime if 0 <= runtime < period else 0
    in_silence = [s for s in tasks if s["start"] >= hog[0]["start"] and s["start"] < tl["detected_mono_ns"]]
    others = [s for s in in_silence if s.get("pid") != hog_pid]
    print(f"RT throttling gap {gap_us} us; after the switch to the hog: {len(in_silence)} task "
          f"segments, {len(others)} of other tasks, longest "
          f"{max([(s['end'] - s['start']) // 1000 for s in others], default=0)} us")
    if gap_us == 0:
        check(not others, f"nothing after the switch to the hog on CPU 1 (got {others[:3]})")
    else:
        check(all(s["end"] - s["start"] <= (gap_us + 20_000) * 1000 for s in others),
              "other tasks ran on CPU 1 only inside RT-throttling gaps")
    check(in_silence and in_silence[-1].get("pid") == hog_pid,
          "the hog is the last task switched in on CPU 1 before the detection")
    check(abs(hog[0]["start"] / 1000 - start_us) < 200_000,
          f"the switch to the hog is dated at its start ({hog[0]['start'] // 1000} vs {start_us} us)")
    hb = [s for s in tasks if s["label"].startswith("sw-hb/1:")]
    check(hb and hb[-1]["start"] <= tl["silence_mono_ns"] <= hb[-1]["end"] + 1_000_000,
          "the heartbeat's last wakeup on CPU 1 is the silence's anchor")
    check(first["culprit"]["pid"] == hog_pid, "the culprit is the hog")
    check(tl["read_ns"] < 200_000_000, f"read and decoded in {tl['read_ns'] / 1e6:.1f} ms")
    rid = os.path.basename(stalls[0]["report"])[:-5]
    cfg = d.config
    r = subprocess.run([ctl, "-c", cfg, "reports", rid, "--timeline", "--width", "80"],
                       capture_output=True, text=True)
    print(r.stdout)
    check(r.returncode == 0, f"reports --timeline exits 0 ({r.stderr.strip()})")
    lines = r.stdout.splitlines()
    check(lines and all(len(l) <= 80 for l in lines), "the drawing fits 80 columns")
    check(f"sw-test-hog:{hog_pid}" in r.stdout, "the drawing names the hog")
    check(d.stop() == 0, "clean stop")
    check(not os.path.isdir(os.path.join(TRACEFS, "instances", "stallwatch")),
          "the instance is removed at stop")
except SystemExit:
    d.dump()
    d.stop()
    raise
finally:
    if mounted_here:
        subprocess.run(["umount", TRACEFS])
print("PASS")
