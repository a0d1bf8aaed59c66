#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Latency stallwatchd's real-time threads add to a real-time workload, measured as its users do.

A heartbeat is SCHED_FIFO 99 (the default): when it wakes on a CPU where a real-time task of
lower priority runs or is about to run, it preempts that task for as long as it holds the CPU.
cyclictest at SCHED_FIFO 98 with one pinned thread per CPU (`-t N -a CPUS -p 98 -m -i 937 -d 0
-h 20000 -q`) sees exactly that as added wakeup latency. It runs DURATION seconds without
stallwatchd, then DURATION seconds with it (started as bench/overhead.py starts it: a temporary
config, heartbeat cpus "all", defaults otherwise), the two alternating over ROUNDS rounds in the
same run, so the machine's own noise falls on both sides alike.

Per round and mode it prints, per CPU and over all CPUs, the samples, max, p99 and p99.99 (us).
The percentiles come from cyclictest's histogram (1 us buckets up to 20 ms); a sample of 20 ms or
more is only counted as an overflow, so a percentile that falls among the overflows is printed
as ">=20000" and its added figure as unknown, never as a number. Then the added max and added
p99.99 (with - without) per round, and over the rounds their median and range. With stallwatchd
it also prints each heartbeat's wakeups per second and CPU time per wakeup (from
/proc/<pid>/task/*/schedstat, fields 3 and 1, of the sw-hb/N and sw-relay/N threads): the share
of time a heartbeat holds a CPU is the share of cyclictest wakeups that can land in one.

Phase: both programs sleep to absolute CLOCK_MONOTONIC times, so with a cyclictest interval that
divides the heartbeat's 500 ms (1000 us, say) their phases stay locked for the whole run: every
heartbeat collides with a cyclictest wakeup, or none does, by the luck of the start times. 937 us
steps the phase by 500000 mod 937 = 579 us per heartbeat, 0.618 of the interval (the golden ratio),
so the heartbeats fall evenly over the whole cyclictest period and the collisions come at their
average rate.

rtla: where the kernel offers the timerlat tracer (available_tracers under /sys/kernel/tracing,
tracefs mounted there for the run if it was not, and unmounted again) and `rtla` is installed,
the same alternation also runs `rtla timerlat hist -d DURATION -c CPUS -P f:98 -p 937 -b 1
-E 20000 --dma-latency 0`, the kernel's own timer-latency tracer with its threads at FIFO 98
beside the heartbeats, and prints the same figures per IRQ/Thr(/Usr) column. Otherwise one line
says why it was skipped. rtla osnoise is not run: its threads keep every CPU busy for their whole
runtime, which at FIFO 98 starves the machine and at SCHED_OTHER counts every other task as noise.

Usage: bench/noise.py BUILD/src/stallwatchd [seconds [rounds]]   (root; defaults 30 s, 3 rounds;
needs cyclictest from rt-tests; refuses to run beside another stallwatchd, cyclictest or rtla).
Prints figures, asserts nothing. It prints the date, kernel, CPUs and load average at the start so
the figures can be quoted with their run. Every process it starts is stopped on any exit (normal,
an exception, Ctrl-C, SIGTERM; SIGKILL of the bench too, through a parent-death signal) and its
temporary config and state directory is removed.
"""
import atexit
import ctypes
import math
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

import overhead  # bench/overhead.py, beside this file

PRIO = 98  # cyclictest's and timerlat's threads: one below the heartbeats' default 99
INTERVAL_US = 937  # cyclictest's and timerlat's period: walks the heartbeat phase (docstring)
HIST_US = 20000  # histogram size: 1 us buckets, latencies of 20 ms or more are overflows
RUNTIME_DIR = "/dev/shm/stallwatch-noise"  # not overhead.py's runtime_dir: the two never share one
TRACEFS = "/sys/kernel/tracing"
PROM = "/var/lib/prometheus/node-exporter/stallwatch.prom"
CHILDREN = []  # (Popen, stop signal) of every process started, stopped on exit

_libc = ctypes.CDLL(None, use_errno=True)


def die_with_parent():
    """In the child before exec: SIGTERM it if the bench dies, even by SIGKILL (PR_SET_PDEATHSIG)."""
    _libc.prctl(1, signal.SIGTERM, 0, 0, 0)


def spawn(argv, stop_signal=signal.SIGTERM, **kw):
    p = subprocess.Popen(argv, preexec_fn=die_with_parent, **kw)
    CHILDREN.append((p, stop_signal))
    return p


def stop(p, sig=signal.SIGTERM, grace=10.0):
    """Stop one child: its own stop signal first (rtla tears its trace instance down on SIGINT),
    SIGKILL after grace seconds."""
    if p.poll() is None:
        try:
            p.send_signal(sig)
            p.wait(grace)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def stop_all():
    for p, sig in reversed(CHILDREN):
        stop(p, sig)


def others_running():
    """Other stallwatchd, cyclictest or rtla processes: their real-time threads would share the
    CPUs with the measured ones and skew both sides."""
    return overhead.others_running(("stallwatchd", "cyclictest", "rtla"))


def start_daemon(binary, tmp):
    """As bench/overhead.py's start_daemon(), with cpus "all", this bench's runtime_dir and its
    stderr kept in a file (shown when it does not start)."""
    cfg = os.path.join(tmp, "sw-all.toml")
    with open(cfg, "w") as f:
        f.write(f'[heartbeat]\ncpus = "all"\n[daemon]\nstate_dir = "{tmp}/state"\n'
                f'runtime_dir = "{RUNTIME_DIR}"\n')  # tmpfs, like /run in production
    log = open(os.path.join(tmp, "stallwatchd.log"), "w")
    p = spawn([binary, "--config", cfg], stderr=log)
    time.sleep(2)
    if p.poll() is not None:
        sys.exit(f"stallwatchd exited at start (status {p.returncode}):\n"
                 + open(log.name).read()[-2000:])
    return p


def rt_threads(pid):
    """{comm: (ns on CPU, times run)} of the process's real-time threads (policy FIFO or RR)."""
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            comm = open(f"/proc/{pid}/task/{tid}/comm").read().strip()
            stat = open(f"/proc/{pid}/task/{tid}/stat").read().rsplit(")", 1)[1].split()
            f = open(f"/proc/{pid}/task/{tid}/schedstat").read().split()
        except OSError:
            continue
        if int(stat[38]) in (1, 2):  # field 41, policy: SCHED_FIFO, SCHED_RR
            out[comm] = (int(f[0]), int(f[2]))
    return out


def percentile(hist, n, num, den):
    """Nearest-rank percentile num/den (us) of n samples: hist {us: count} below HIST_US, the rest
    overflows at or above it. None when the rank falls among the overflows."""
    rank = -(-n * num // den)  # ceil, in integers
    seen = 0
    for us in sorted(hist):
        seen += hist[us]
        if seen >= rank:
            return us
    return None


def figures(hist, overflow, n, maxv):
    if n == 0:
        return {"n": 0, "max": "-", "p99": "-", "p9999": "-", "overflow": 0}
    return {"n": n, "max": maxv, "p99": percentile(hist, n, 99, 100),
            "p9999": percentile(hist, n, 9999, 10000), "overflow": overflow}


def merge(cols):
    hist = {}
    for c in cols:
        for us, k in c["hist"].items():
            hist[us] = hist.get(us, 0) + k
    return {"hist": hist, "overflow": sum(c["overflow"] for c in cols), "n": sum(c["n"] for c in cols),
            "max": max((c["max"] for c in cols if c["max"] is not None), default=None)}


def parse_cyclictest(text, nthreads):
    """Per thread {hist, overflow, n, max} from `cyclictest -h US -q`'s output. Its '# Total' is
    the histogram's sum only: the samples are Total + Overflows; '# Max Latencies' is the true
    max, overflows included."""
    cols = [{"hist": {}, "overflow": 0, "n": 0, "max": None} for _ in range(nthreads)]
    for line in text.splitlines():
        f = line.split()
        if re.fullmatch(r"\d+", f[0] if f else ""):
            for i, k in enumerate(f[1:nthreads + 1]):
                if int(k):
                    cols[i]["hist"][int(f[0])] = int(k)
        elif line.startswith("# Max Latencies:"):
            for i, v in enumerate(f[3:3 + nthreads]):
                cols[i]["max"] = int(v)
        elif line.startswith("# Histogram Overflows:"):
            for i, v in enumerate(f[3:3 + nthreads]):
                cols[i]["overflow"] = int(v)
    for c in cols:
        c["n"] = sum(c["hist"].values()) + c["overflow"]
    return cols


def run_cyclictest(cpus, duration):
    argv = ["cyclictest", "-t", str(len(cpus)), "-a", ",".join(map(str, cpus)), "-p", str(PRIO), "-m",
            "-i", str(INTERVAL_US), "-d", "0", "-h", str(HIST_US), "-q", "-D", str(int(duration))]
    p = spawn(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        out, err = p.communicate(timeout=duration + 60)
    except subprocess.TimeoutExpired:
        stop(p)
        sys.exit("cyclictest did not finish in time")
    cols = parse_cyclictest(out, len(cpus))
    if p.returncode != 0 or not any(c["n"] for c in cols):
        sys.exit(f"cyclictest failed (status {p.returncode}): {err.strip()[-500:]}")
    return {str(cpu): c for cpu, c in zip(cpus, cols)}


def parse_rtla_hist(text):
    """{column: {hist, overflow, n, max}} from `rtla timerlat hist`'s output (columns such as
    IRQ-000, Thr-000, Usr-000). Rows: the bucket's first us then one count per column; 'over:'
    the counts past the last bucket; 'count:' the samples (overflows included); 'max:' the true
    max. The 'ALL:' summary of newer versions is left out (it has no histogram)."""
    names, cols = None, {}
    for line in text.splitlines():
        f = line.split()
        if not f or line.startswith("#"):
            continue
        if f[0] == "Index":
            names = f[1:]
            cols = {n: {"hist": {}, "overflow": 0, "n": 0, "max": None} for n in names}
            continue
        if names is None:
            continue
        if f[0] == "ALL:":
            break
        vals = f[1:1 + len(names)]
        if re.fullmatch(r"\d+", f[0]):
            for name, k in zip(names, vals):
                if int(k):
                    cols[name]["hist"][int(f[0])] = int(k)
        elif f[0] in ("over:", "count:", "max:"):
            key = {"over:": "overflow", "count:": "n", "max:": "max"}[f[0]]
            for name, v in zip(names, vals):
                cols[name][key] = int(v) if v.isdigit() else None
    for c in cols.values():
        c["n"] = c["n"] or 0
        c["overflow"] = c["overflow"] or 0
    return cols


def rtla_check():
    """(usable, why not, whether we mounted tracefs)."""
    if not shutil.which("rtla"):
        return False, "rtla is not installed (Debian: apt-get install rtla)", False
    mounted = False
    if not os.path.exists(os.path.join(TRACEFS, "available_tracers")):
        r = subprocess.run(["mount", "-t", "tracefs", "nodev", TRACEFS], capture_output=True, text=True)
        if r.returncode != 0:
            return False, f"tracefs could not be mounted on {TRACEFS}: {r.stderr.strip()}", False
        mounted = True
    tracers = open(os.path.join(TRACEFS, "available_tracers")).read().split()
    if "timerlat" not in tracers:
        return (False, f"this kernel ({os.uname().release}) offers no timerlat tracer (available_tracers: "
                f"{' '.join(tracers)}; needs CONFIG_TIMERLAT_TRACER)", mounted)
    return True, "", mounted


def run_timerlat(cpus, duration):
    """{column: figures} of one `rtla timerlat hist` run, or an error string."""
    argv = ["rtla", "timerlat", "hist", "-d", f"{int(duration)}s", "-c", ",".join(map(str, cpus)),
            "-P", f"f:{PRIO}", "-p", str(INTERVAL_US), "-b", "1", "-E", str(HIST_US), "--dma-latency", "0"]
    p = spawn(argv, signal.SIGINT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
              start_new_session=True)
    try:
        out, err = p.communicate(timeout=duration + 60)
    except subprocess.TimeoutExpired:
        stop(p, signal.SIGINT)
        return "rtla timerlat hist did not finish in time"
    cols = parse_rtla_hist(out)
    if p.returncode != 0 or not any(c["n"] for c in cols.values()):
        why = "; ".join(line.strip() for line in (err or out).strip().splitlines()[-3:])
        return f"rtla timerlat hist failed (status {p.returncode}): {why}"
    return cols


def fmt(v):
    return f">={HIST_US}" if v is None else str(v)


def print_table(title, cols, unit_rows):
    """cols {label: {hist, overflow, n, max}}; unit_rows [(label, [column names])] merged into one
    row each. Returns {label: figures}."""
    print(f"  {title}")
    print(f"    {'':10s} {'samples':>9s} {'max':>7s} {'p99':>7s} {'p99.99':>7s}  (us)")
    out = {}
    for label, names in unit_rows:
        m = merge([cols[n] for n in names])
        fig = figures(m["hist"], m["overflow"], m["n"], m["max"])
        out[label] = fig
        note = f"  ({fig['overflow']} at or over {HIST_US} us)" if fig["overflow"] else ""
        print(f"    {label:10s} {fig['n']:9d} {fmt(fig['max']):>7s} {fmt(fig['p99']):>7s} "
              f"{fmt(fig['p9999']):>7s}{note}")
    return out


def cyclictest_rows(cols):
    return [(f"CPU {c}", [c]) for c in cols] + [("all CPUs", list(cols))]


def rtla_rows(cols):
    """Per column, then each kind (IRQ, Thr, Usr) over all CPUs."""
    rows = [(n, [n]) for n in cols]
    for kind in ("IRQ", "Thr", "Usr"):
        names = [n for n in cols if n.startswith(kind + "-")]
        if names:
            rows.append((f"{kind} all", names))
    return rows


def added(a, b):
    """with - without, None when either side is unknown (overflow, no samples)."""
    return b - a if isinstance(a, int) and isinstance(b, int) else None


def print_added(label, without, with_, keys):
    parts = []
    for key, name in (("max", "max"), ("p9999", "p99.99"), ("p99", "p99")):
        d = added(without[keys][key], with_[keys][key])
        parts.append(f"{name} " + ("unknown (overflow or no samples)" if d is None else f"{d:+d} us"))
    print(f"  {label} added by stallwatchd (with - without, {keys}): {', '.join(parts)}")


def heartbeat_report(before, after, dt, samples):
    """Wakeups and CPU time of stallwatchd's real-time threads on each CPU while cyclictest ran."""
    per_cpu = {}
    for comm, (ns1, runs1) in after.items():
        ns0, runs0 = before.get(comm, (0, 0))
        m = re.fullmatch(r"(sw-hb|sw-relay)/(\d+)", comm)
        key = m.group(2) if m else "other"
        d = per_cpu.setdefault(key, {"sw-hb": [0, 0], "sw-relay": [0, 0], "other": [0, 0]})
        kind = m.group(1) if m else "other"
        d[kind][0] += ns1 - ns0
        d[kind][1] += runs1 - runs0
    print(f"  stallwatchd's real-time threads (SCHED_FIFO 99) while cyclictest ran ({dt:.0f} s):")
    for key in sorted(per_cpu, key=lambda k: (not k.isdigit(), int(k) if k.isdigit() else 0)):
        d = per_cpu[key]
        hb_ns, hb_runs = d["sw-hb"]
        busy_ns = hb_ns + d["sw-relay"][0] + d["other"][0]
        if key == "other":
            print(f"    other real-time threads: {d['other'][1] / dt:.2f} wakeups/s, "
                  f"{d['other'][0] / dt / 1000:.1f} us CPU/s")
            continue
        share = busy_ns / dt / 1e9
        n = samples.get(f"CPU {key}", {}).get("n", 0)
        odds = f"1 in {1 / share:,.0f}" if share > 0 else "none"
        print(f"    CPU {key}: sw-hb/{key} {hb_runs / dt:.2f} wakeups/s, {hb_ns / max(hb_runs, 1) / 1000:.1f} "
              f"us/wakeup; sw-relay/{key} {d['sw-relay'][1] / dt:.2f} wakeups/s; on CPU {busy_ns / dt / 1000:.1f} "
              f"us/s: a cyclictest wakeup lands in one about {odds} (~{n * share:.1f} of this run's {n} "
              f"samples; p99.99 is 1 in 10,000)")


def spread(values):
    known = [v for v in values if v is not None]
    if not known:
        return "unknown (overflow or no samples)"
    s = f"{statistics.median(known):+g} us ({min(known):+d}..{max(known):+d})"
    if len(known) < len(values):
        s += f" ({len(values) - len(known)} of {len(values)} rounds unknown)"
    return s


def summary(name, rounds, labels):
    """rounds: [(without, with)] of {label: figures}."""
    print(f"{name}, added by stallwatchd over {len(rounds)} round(s) (with - without; median, range):")
    for label in labels:
        parts = []
        for key, kname in (("max", "max"), ("p9999", "p99.99"), ("p99", "p99")):
            parts.append(f"{kname} {spread([added(a[label][key], b[label][key]) for a, b in rounds])}")
        print(f"  {label:10s} {'; '.join(parts)}")


def main():
    if len(sys.argv) < 2 or sys.argv[1] in ("-h", "--help"):
        sys.exit("usage: bench/noise.py BUILD/src/stallwatchd [seconds [rounds]]")
    binary = os.path.abspath(sys.argv[1])
    duration = float(sys.argv[2]) if len(sys.argv) > 2 else 30
    nrounds = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    if os.geteuid() != 0:
        sys.exit("needs root")
    if not os.access(binary, os.X_OK):
        sys.exit(f"{binary}: not an executable")
    if not shutil.which("cyclictest"):
        sys.exit("cyclictest missing: apt-get install rt-tests")
    if others_running():
        sys.exit(f"not idle: {', '.join(others_running())} running; stop them first")

    # Stop every child on any way out: SIGTERM and SIGHUP become SystemExit, so the finally below
    # and atexit run (Ctrl-C is KeyboardInterrupt, alike).
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda s, _f: sys.exit(128 + s))
    atexit.register(stop_all)
    # A killed bench (SIGKILL) leaves its directory behind: remove those whose bench is gone.
    for d in os.listdir(tempfile.gettempdir()):
        m = re.fullmatch(r"stallwatch-noise-(\d+)-.*", d)
        if m and not os.path.exists(f"/proc/{m.group(1)}"):
            shutil.rmtree(os.path.join(tempfile.gettempdir(), d), ignore_errors=True)
    tmp = tempfile.mkdtemp(prefix=f"stallwatch-noise-{os.getpid()}-")
    # No other stallwatchd runs (checked above), so a runtime directory of ours is a killed run's.
    shutil.rmtree(RUNTIME_DIR, ignore_errors=True)
    prom_existed = os.path.exists(PROM)
    rtla_ok, rtla_why, mounted = rtla_check()
    try:
        # A copy: a rebuild of BUILD during the run must not change (or, mid-link, break) the
        # binary every round measures.
        shutil.copy2(binary, os.path.join(tmp, "stallwatchd"))
        run(os.path.join(tmp, "stallwatchd"), binary, duration, nrounds, tmp, rtla_ok, rtla_why)
    finally:
        stop_all()
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(RUNTIME_DIR, ignore_errors=True)
        if not prom_existed:  # written by this bench's daemon (node_exporter's directory exists)
            for path in (PROM, PROM + ".tmp"):
                if os.path.exists(path):
                    os.unlink(path)
        if mounted:
            subprocess.run(["umount", TRACEFS])


def cpu_model():
    for line in open("/proc/cpuinfo"):
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "unknown CPU"


def run(binary, source, duration, nrounds, tmp, rtla_ok, rtla_why):
    cpus = sorted(os.sched_getaffinity(0))
    ct_version = subprocess.run(["cyclictest", "--help"], capture_output=True, text=True).stdout.split("\n")[0]
    print(f"stallwatch noise bench, {time.strftime('%Y-%m-%d %H:%M:%S %Z')}; kernel {os.uname().release}; "
          f"{len(cpus)} CPUs ({cpu_model()}); load average at start "
          f"{' '.join(open('/proc/loadavg').read().split()[:3])}")
    print(f"{ct_version.strip()}: cyclictest -t {len(cpus)} -a {','.join(map(str, cpus))} -p {PRIO} -m "
          f"-i {INTERVAL_US} -d 0 -h {HIST_US} -q -D {int(duration)}; stallwatchd {source} at its defaults "
          f"(heartbeats SCHED_FIFO 99, 500 ms); {nrounds} round(s) of {int(duration)} s without, then with")
    if rtla_ok:
        print(f"rtla timerlat hist: -d {int(duration)}s -c {','.join(map(str, cpus))} -P f:{PRIO} "
              f"-p {INTERVAL_US} -b 1 -E {HIST_US} --dma-latency 0, same alternation")
    else:
        print(f"rtla timerlat: skipped: {rtla_why}")
    ct_rounds, tl_rounds = [], []
    for r in range(nrounds):
        res = {}
        for mode in ("without", "with"):
            print(f"round {r + 1} of {nrounds}, {mode} stallwatchd:", flush=True)
            sw = start_daemon(binary, tmp) if mode == "with" else None
            before, t0 = (rt_threads(sw.pid) if sw else {}), time.monotonic()
            cols = run_cyclictest(cpus, duration)
            after, t1 = (rt_threads(sw.pid) if sw else {}), time.monotonic()
            ct = print_table("cyclictest", cols, cyclictest_rows(cols))
            if sw:
                heartbeat_report(before, after, t1 - t0, ct)
            tl = None
            if rtla_ok:
                tcols = run_timerlat(cpus, duration)
                if isinstance(tcols, str):
                    print(f"  rtla timerlat: skipped from now on: {tcols}")
                    rtla_ok = False
                else:
                    tl = print_table("rtla timerlat hist", tcols, rtla_rows(tcols))
            if sw:
                stop(sw)
                if sw.returncode not in (0, -signal.SIGTERM):
                    print(f"  (stallwatchd exited with status {sw.returncode})")
            res[mode] = (ct, tl)
            sys.stdout.flush()
        print_added(f"round {r + 1}: cyclictest", res["without"][0], res["with"][0], "all CPUs")
        ct_rounds.append((res["without"][0], res["with"][0]))
        if res["without"][1] and res["with"][1]:
            tl_rounds.append((res["without"][1], res["with"][1]))
            for label in res["with"][1]:
                if label.endswith(" all") and label in res["without"][1]:
                    print_added(f"round {r + 1}: timerlat", res["without"][1], res["with"][1], label)
    print()
    summary("cyclictest", ct_rounds, [f"CPU {c}" for c in cpus] + ["all CPUs"])
    if tl_rounds:
        labels = [k for k in tl_rounds[0][1] if k.endswith(" all")]
        summary("rtla timerlat hist", tl_rounds, labels)
    elif not rtla_ok:
        print(f"rtla timerlat: not run ({rtla_why or 'it failed, above'})")
    print(f"load average at end {' '.join(open('/proc/loadavg').read().split()[:3])}, "
          f"{time.strftime('%Y-%m-%d %H:%M:%S %Z')}")


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:  # everything started is stopped by then (main's finally)
        sys.exit("interrupted")
