#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Cost of issue 21's two flight-recorder designs, measured side by side in the same run.

Modes, alternated round by round (order rotated each round):
  none    nothing added (the yardstick);
  ftrace  design (a): an ftrace instance of our own, instances/swbench, trace_clock mono,
          buffer_size_kb 256 per CPU (overwrite mode, the default), only sched:sched_switch,
          irq:irq_handler_entry/exit and irq:softirq_entry/exit enabled;
  bpf     design (b): bench/timeline_bpf/recorder_loader running: classic tracepoint programs on
          the same five tracepoints writing 40-byte records into a 4096-record ring per CPU in a
          BPF_F_MMAPABLE array map (built here on demand with clang and libbpf).

In each mode and round:
  idle    events recorded per second per CPU while nothing runs (IDLE seconds);
  load    one `hackbench -g G -l L` alone: elapsed time, context switches (/proc/stat ctxt delta),
          events recorded. Per-switch cost = (t_mode - t_none) x CPUs / switches, per-event cost
          the same over the events recorded: an estimate of CPU time, valid because hackbench
          keeps every CPU busy; computed per round against that round's none and the median
          taken;
  latency `cyclictest -m -q -p 95 -t -a -i 1000 -D S` while hackbench runs in a loop: max and
          average wakeup latency (us) over the threads.
Memory: ring bytes per CPU (ftrace: buffer_size_kb as read back; bpf: map bytes / possible CPUs),
and how many seconds that ring holds at the idle and at the load event rate.

  pipe    `perf bench sched pipe` pinned to the last CPU: us per op, switches and events per op.

Usage (root): bench/timeline_cost.py [--rounds N] [--quick] [--groups G] [--loops L]
                                     [--cyclic-seconds S] [--pipe-loops N] [--pipe-reps N]
                                     [--build-dir DIR]
Needs hackbench and cyclictest (rt-tests), perf, clang (-target bpf), libbpf-dev, a mounted tracefs
(mounted here if absent). Prints figures, asserts nothing; run it on a quiet machine: it prints
the load average at start and end. Cleans up (instance removed, loader stopped, workload killed)
on exit, Ctrl-C or an exception.
"""
import argparse
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

TRACEFS = "/sys/kernel/tracing"
INSTANCE = "swbench"
EVENTS = ["sched/sched_switch", "irq/irq_handler_entry", "irq/irq_handler_exit",
          "irq/softirq_entry", "irq/softirq_exit"]
HERE = os.path.dirname(os.path.abspath(__file__))
BPF_SRC = os.path.join(HERE, "timeline_bpf")
MODES = ["none", "ftrace", "bpf"]


def log(*a):
    print(*a, flush=True)


def read(path):
    with open(path) as f:
        return f.read()


def write(path, text):
    with open(path, "w") as f:
        f.write(text)


def ctxt():
    for line in read("/proc/stat").splitlines():
        if line.startswith("ctxt "):
            return int(line.split()[1])
    raise RuntimeError("no ctxt in /proc/stat")


def cpu_busy(seconds):
    """Share of all CPUs' time not idle (idle + iowait) over `seconds`, from /proc/stat."""
    def snap():
        f = [int(x) for x in read("/proc/stat").splitlines()[0].split()[1:]]
        return sum(f), f[3] + f[4]
    t0, i0 = snap()
    time.sleep(seconds)
    t1, i1 = snap()
    return 1 - (i1 - i0) / max(1, t1 - t0)


def ncpus_online():
    return len(os.sched_getaffinity(0))


def possible_cpus():
    n = 0
    for part in read("/sys/devices/system/cpu/possible").strip().split(","):
        a, _, b = part.partition("-")
        n += (int(b) if b else int(a)) - int(a) + 1
    return n


def build_bpf(build_dir):
    """Builds recorder.bpf.o and recorder_loader into build_dir; returns the loader's path."""
    clang = shutil.which("clang-14") or shutil.which("clang")
    cc = shutil.which("cc") or shutil.which("gcc")
    if not clang or not cc:
        sys.exit("timeline_cost: needs clang and cc to build the BPF recorder")
    multiarch = subprocess.run([cc, "-print-multiarch"], capture_output=True,
                               text=True).stdout.strip() or "x86_64-linux-gnu"
    obj = os.path.join(build_dir, "recorder.bpf.o")
    loader = os.path.join(build_dir, "recorder_loader")
    subprocess.run([clang, "-O2", "-g", "-target", "bpf", "-mcpu=v3",
                    f"-I/usr/include/{multiarch}", "-c",
                    os.path.join(BPF_SRC, "recorder.bpf.c"), "-o", obj], check=True)
    subprocess.run([cc, "-O2", "-Wall", "-Wextra", "-o", loader,
                    os.path.join(BPF_SRC, "recorder_loader.c"), "-lbpf"], check=True)
    return loader, obj


def other_tracing():
    """What else records these events right now (it is in every mode's figures, none included)."""
    notes = []
    for name in sorted(os.listdir(os.path.join(TRACEFS, "instances"))):
        if name == INSTANCE:
            continue
        base = os.path.join(TRACEFS, "instances", name)
        try:
            ev = [e for e in read(os.path.join(base, "set_event")).split() if e]
            on = read(os.path.join(base, "tracing_on")).strip()
        except OSError:
            continue
        if ev:
            notes.append(f"instance {name} (tracing_on={on}): {' '.join(ev)}")
    top = [e for e in read(os.path.join(TRACEFS, "set_event")).split() if e]
    if top:
        notes.append(f"top-level trace: {' '.join(top)}")
    if shutil.which("bpftool"):
        r = subprocess.run(["bpftool", "perf", "list"], capture_output=True, text=True)
        n = len([ln for ln in r.stdout.splitlines() if "tracepoint" in ln])
        if n:
            notes.append(f"{n} BPF tracepoint attachment(s) (bpftool perf list)")
    return notes


class Ftrace:
    name = "ftrace"

    def __init__(self):
        self.base = os.path.join(TRACEFS, "instances", INSTANCE)
        self.created = False

    def start(self):
        if os.path.exists(self.base):
            raise RuntimeError(f"{self.base} exists already (another run?); remove it first")
        os.mkdir(self.base)
        self.created = True
        write(os.path.join(self.base, "trace_clock"), "mono")
        write(os.path.join(self.base, "buffer_size_kb"), "256")
        for e in EVENTS:
            write(os.path.join(self.base, "events", e, "enable"), "1")
        write(os.path.join(self.base, "tracing_on"), "1")

    def ring_bytes(self):
        return int(read(os.path.join(self.base, "buffer_size_kb")).split()[0]) * 1024

    def stats(self):
        """Per CPU: (events written = entries + overrun, entries now, bytes now)."""
        out = []
        for c in range(ncpus_online()):
            s = {}
            for line in read(os.path.join(self.base, "per_cpu", f"cpu{c}", "stats")).splitlines():
                k, _, v = line.partition(":")
                s[k.strip()] = v.strip()
            out.append((int(s["entries"]) + int(s["overrun"]), int(s["entries"]),
                        int(s["bytes"]), int(s["overrun"])))
        return out

    def counts(self):
        return [s[0] for s in self.stats()]

    def capacity(self):
        """Records a full ring holds: the entries once it has overwritten, else estimated."""
        caps = []
        for written, entries, nbytes, overrun in self.stats():
            if overrun:
                caps.append(entries)
            elif entries:
                caps.append(int(self.ring_bytes() / (nbytes / entries)))
        return min(caps) if caps else 0

    def stop(self):
        if not self.created:
            return
        try:
            write(os.path.join(self.base, "tracing_on"), "0")
        except OSError:
            pass
        for e in EVENTS:
            try:
                write(os.path.join(self.base, "events", e, "enable"), "0")
            except OSError:
                pass
        for _ in range(50):
            try:
                os.rmdir(self.base)
                break
            except OSError:
                time.sleep(0.1)
        self.created = os.path.exists(self.base)
        if self.created:
            log(f"WARNING: could not remove {self.base}; rmdir it by hand")


class Bpf:
    name = "bpf"

    def __init__(self, loader, obj):
        self.loader, self.obj = loader, obj
        self.proc = None
        self.ring = 0
        self.last_output = ""

    def start(self):
        self.proc = subprocess.Popen([self.loader, self.obj], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, start_new_session=True)
        line = self.proc.stdout.readline()
        if not line.startswith("attached"):
            err = self.proc.stderr.read() if self.proc.poll() is not None else ""
            self.stop()
            raise RuntimeError(f"recorder_loader did not attach: {line.strip()} {err.strip()}")
        m = re.search(r"\((\d+) bytes per cpu\)", line)
        self.ring = int(m.group(1)) if m else 0

    def ring_bytes(self):
        return self.ring

    def counts(self):
        self.proc.send_signal(signal.SIGUSR1)
        line = self.proc.stdout.readline()
        if not line.startswith("counts"):
            raise RuntimeError(f"recorder_loader: unexpected '{line.strip()}'")
        return [int(x) for x in line.split()[1:]][:ncpus_online()]

    def capacity(self):
        return 4096

    def stop(self):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                out, _ = self.proc.communicate(timeout=10)
                self.last_output = out
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


class NoRecorder:
    name = "none"

    def start(self):
        pass

    def stop(self):
        pass

    def counts(self):
        return None

    def ring_bytes(self):
        return 0

    def capacity(self):
        return 0


class Workload:
    """Our own child processes (each in its own session), killed by process group on cleanup."""

    def __init__(self):
        self.procs = set()
        self.lock = threading.Lock()

    def popen(self, argv, **kw):
        p = subprocess.Popen(argv, start_new_session=True, **kw)
        with self.lock:
            self.procs.add(p)
        return p

    def done(self, p):
        with self.lock:
            self.procs.discard(p)

    def kill_all(self):
        with self.lock:
            procs = list(self.procs)
        for p in procs:
            if p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            p.wait()
            self.done(p)


def hackbench_once(work, args):
    p = work.popen(["hackbench", "-g", str(args.groups), "-l", str(args.loops)],
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    rc = p.wait()
    work.done(p)
    return rc


def measure_load(rec, work, args):
    c0 = rec.counts()
    x0 = ctxt()
    t0 = time.monotonic()
    rc = hackbench_once(work, args)
    t1 = time.monotonic()
    x1 = ctxt()
    c1 = rec.counts()
    if rc != 0:
        raise RuntimeError(f"hackbench exited {rc}")
    ev = sum(b - a for a, b in zip(c0, c1)) if c0 is not None else 0
    return t1 - t0, x1 - x0, ev


def measure_pipe(rec, work, args):
    """`perf bench sched pipe` pinned to the last CPU: two tasks ping-pong through pipes, one
    switch per message, nothing else on that CPU's run queue. Returns (us per op, median of
    args.pipe_reps runs; switches per op; events recorded per op)."""
    cpu = ncpus_online() - 1
    ops, sws, evs = [], [], []
    for _ in range(args.pipe_reps):
        c0 = rec.counts()
        x0 = ctxt()
        p = work.popen(["taskset", "-c", str(cpu), "perf", "bench", "-f", "simple", "sched",
                        "pipe", "-l", str(args.pipe_loops)], stdout=subprocess.PIPE,
                       stderr=subprocess.DEVNULL, text=True)
        out, _ = p.communicate()
        work.done(p)
        x1 = ctxt()
        c1 = rec.counts()
        if p.returncode != 0:
            raise RuntimeError(f"perf bench sched pipe exited {p.returncode}")
        ops.append(float(out.split()[-1]) * 1e6 / args.pipe_loops)
        sws.append((x1 - x0) / args.pipe_loops)
        if c0 is not None:
            evs.append(sum(b - a for a, b in zip(c0, c1)) / args.pipe_loops)
    return med(ops), med(sws), (med(evs) if evs else 0.0)


def measure_latency(work, args):
    stop = threading.Event()

    def loop():
        while not stop.is_set():
            hackbench_once(work, args)

    th = threading.Thread(target=loop, daemon=True)
    th.start()
    time.sleep(0.3)
    p = work.popen(["cyclictest", "-m", "-q", "-p", "95", "-t", "-a", "-i", "1000",
                    "-D", str(args.cyclic_seconds)], stdout=subprocess.PIPE,
                   stderr=subprocess.STDOUT, text=True)
    out, _ = p.communicate()
    work.done(p)
    stop.set()
    th.join()  # the last hackbench finishes: killing it would leave its children to init
    mx = [int(m) for m in re.findall(r"Max:\s*(\d+)", out)]
    av = [int(m) for m in re.findall(r"Avg:\s*(\d+)", out)]
    if not mx:
        raise RuntimeError(f"cyclictest printed no figures: {out.strip()[:300]}")
    return max(mx), statistics.mean(av)


def med(xs):
    return statistics.median(xs) if xs else float("nan")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--quick", action="store_true", help="smoke run: 1 round, short runs")
    ap.add_argument("--groups", type=int, default=4, help="hackbench -g (default 4)")
    ap.add_argument("--loops", type=int, default=1000, help="hackbench -l (default 1000)")
    ap.add_argument("--cyclic-seconds", type=int, default=5)
    ap.add_argument("--idle-seconds", type=float, default=2.0)
    ap.add_argument("--pipe-loops", type=int, default=100000,
                    help="perf bench sched pipe -l (default 100000)")
    ap.add_argument("--pipe-reps", type=int, default=3,
                    help="pipe runs per mode and round, median taken; 0: skip (no perf)")
    ap.add_argument("--build-dir", help="build the BPF recorder here (default: a temp dir)")
    args = ap.parse_args()
    if args.quick:
        args.rounds, args.loops, args.cyclic_seconds, args.idle_seconds = 1, 200, 2, 1.0
        args.pipe_loops, args.pipe_reps = 20000, 1
    if os.geteuid() != 0:
        sys.exit("timeline_cost: run as root")
    for tool in ("hackbench", "cyclictest"):
        if not shutil.which(tool):
            sys.exit(f"timeline_cost: needs {tool} (rt-tests)")
    if args.pipe_reps and not (shutil.which("perf") and shutil.which("taskset")):
        sys.exit("timeline_cost: needs perf and taskset for the pipe test (or --pipe-reps 0)")

    mounted = False
    if not os.path.exists(os.path.join(TRACEFS, "instances")):
        subprocess.run(["mount", "-t", "tracefs", "nodev", TRACEFS], check=True)
        mounted = True
    tmp = None
    build_dir = args.build_dir
    if not build_dir:
        tmp = build_dir = tempfile.mkdtemp(prefix="swbench-bpf-")
    os.makedirs(build_dir, exist_ok=True)
    work = Workload()
    ftrace = Ftrace()
    recs = {"none": NoRecorder(), "ftrace": ftrace}

    def on_term(sig, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    try:
        loader, obj = build_bpf(build_dir)
        recs["bpf"] = Bpf(loader, obj)
        ncpu = ncpus_online()
        load_start = os.getloadavg()
        busy = cpu_busy(3)
        others = other_tracing()
        log(f"date {time.strftime('%Y-%m-%d %H:%M:%S %Z')}, kernel {os.uname().release}, "
            f"{ncpu} CPUs online ({possible_cpus()} possible)")
        log(f"load average at start: {load_start[0]:.2f} {load_start[1]:.2f} "
            f"{load_start[2]:.2f}; CPUs busy {busy * 100:.0f}% over the 3 s before the run")
        log(f"hackbench -g {args.groups} -l {args.loops}; cyclictest -D {args.cyclic_seconds}; "
            f"{args.rounds} round(s)")
        for n in others:
            log(f"NOTE: already recording (part of every mode, none included): {n}")
        res = {m: [] for m in MODES}
        for r in range(args.rounds):
            order = MODES[r % 3:] + MODES[:r % 3]
            for mode in order:
                rec = recs[mode]
                rec.start()
                time.sleep(0.5)
                idle_rate = None
                if mode != "none":
                    a = rec.counts()
                    time.sleep(args.idle_seconds)
                    b = rec.counts()
                    idle_rate = sum(y - x for x, y in zip(a, b)) / args.idle_seconds / ncpu
                t, sw, ev = measure_load(rec, work, args)
                pipe = measure_pipe(rec, work, args) if args.pipe_reps else (0.0, 0.0, 0.0)
                cap = rec.capacity()
                lat_max, lat_avg = measure_latency(work, args)
                ring = rec.ring_bytes()
                rec.stop()
                if mode == "bpf" and args.quick:
                    log(rec.last_output.strip())
                res[mode].append(dict(t=t, sw=sw, ev=ev, idle=idle_rate, cap=cap, max=lat_max,
                                      avg=lat_avg, ring=ring, op=pipe[0], op_sw=pipe[1],
                                      op_ev=pipe[2]))
                log(f"round {r + 1} {mode:6}: hackbench {t:.3f} s, {sw} switches, {ev} events, "
                    f"idle {idle_rate if idle_rate is None else round(idle_rate, 1)} ev/s/cpu, "
                    f"pipe {pipe[0]:.3f} us/op ({pipe[1]:.2f} switches, {pipe[2]:.2f} events per op), "
                    f"cyclictest max {lat_max} us avg {lat_avg:.1f} us")
        load_end = os.getloadavg()
        report(res, ncpu, args, load_start, load_end, busy)
    except KeyboardInterrupt:
        log("interrupted; cleaning up")
        return 130
    finally:
        work.kill_all()
        for rec in recs.values():
            rec.stop()
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)
        if mounted:
            subprocess.run(["umount", TRACEFS])
    return 0


def report(res, ncpu, args, load_start, load_end, busy):
    none = res["none"]
    log("")
    log(f"Figures: medians over {args.rounds} round(s), {ncpu} CPUs; cost = CPU-time estimate "
        f"(hackbench keeps all {ncpu} CPUs busy), per round against that round's none")
    log(f"load average: start {load_start[0]:.2f}"
        + ("  (> 0.5: figures are noisy)" if load_start[0] > 0.5 else "")
        + f"; CPUs busy {busy * 100:.0f}% just before; end {load_end[0]:.2f} (hackbench's own "
        f"{args.groups * 40} tasks included)")
    hdr = ("| mode | hackbench s (min-max) | vs none | switches/s | events/s/CPU load | "
           "events/s/CPU idle | ns/switch | ns/event | cyclictest max us | avg us | "
           "ring bytes/CPU | records/ring | ring holds s (load / idle) |")
    log(hdr)
    log("|" + "---|" * (hdr.count("|") - 1))
    tn = med([x["t"] for x in none])
    for mode in MODES:
        rs = res[mode]
        t = med([x["t"] for x in rs])
        sw_rate = med([x["sw"] / x["t"] for x in rs])
        cells = [mode, f"{t:.3f} ({min(x['t'] for x in rs):.3f}-{max(x['t'] for x in rs):.3f})"]
        cells.append("-" if mode == "none" else f"{(t / tn - 1) * 100:+.1f}%")
        cells.append(f"{sw_rate:,.0f}")
        if mode == "none":
            cells += ["-", "-", "-", "-"]
        else:
            ev_load = med([x["ev"] / x["t"] / ncpu for x in rs])
            ev_idle = med([x["idle"] for x in rs])
            per_sw = med([(x["t"] - n["t"]) * ncpu * 1e9 / x["sw"] for x, n in zip(rs, none)])
            per_ev = med([(x["t"] - n["t"]) * ncpu * 1e9 / x["ev"]
                          for x, n in zip(rs, none) if x["ev"]])
            cells += [f"{ev_load:,.0f}", f"{ev_idle:,.0f}", f"{per_sw:.0f}", f"{per_ev:.0f}"]
        cells.append(f"{med([x['max'] for x in rs]):.0f}")
        cells.append(f"{med([x['avg'] for x in rs]):.1f}")
        if mode == "none":
            cells += ["-", "-", "-"]
        else:
            cap = med([x["cap"] for x in rs])
            ev_load = med([x["ev"] / x["t"] / ncpu for x in rs])
            ev_idle = med([x["idle"] for x in rs])
            cells.append(f"{med([x['ring'] for x in rs]):,.0f}")
            cells.append(f"{cap:,.0f}")
            cells.append(f"{cap / ev_load:.2f} / {cap / ev_idle:.0f}" if ev_idle else
                         f"{cap / ev_load:.2f} / -")
        log("| " + " | ".join(cells) + " |")
    if args.pipe_reps:
        log("")
        log("perf bench sched pipe, pinned to one CPU (one switch per message; the direct cost "
            "per switch on that CPU, no CPU-count factor):")
        hdr2 = ("| mode | us/op (min-max of rounds) | vs none | switches/op | events/op | "
                "ns/switch | ns/event |")
        log(hdr2)
        log("|" + "---|" * (hdr2.count("|") - 1))
        on = med([x["op"] for x in none])
        for mode in MODES:
            rs = res[mode]
            op = med([x["op"] for x in rs])
            cells = [mode, f"{op:.3f} ({min(x['op'] for x in rs):.3f}-"
                           f"{max(x['op'] for x in rs):.3f})"]
            cells.append("-" if mode == "none" else f"{(op / on - 1) * 100:+.1f}%")
            cells.append(f"{med([x['op_sw'] for x in rs]):.2f}")
            if mode == "none":
                cells += ["-", "-", "-"]
            else:
                cells.append(f"{med([x['op_ev'] for x in rs]):.2f}")
                cells.append(f"{med([(x['op'] - n['op']) * 1e3 / x['op_sw'] for x, n in zip(rs, none)]):.0f}")
                cells.append(f"{med([(x['op'] - n['op']) * 1e3 / x['op_ev'] for x, n in zip(rs, none) if x['op_ev']]):.0f}")
            log("| " + " | ".join(cells) + " |")
    log("ns/switch and ns/event are estimates of CPU time: hackbench (t_mode - t_none) x CPUs / "
        "count, pipe (us/op_mode - us/op_none) / count per op; each the median of the per-round "
        "values. A VM's steal time and other work on the machine are in them.")


if __name__ == "__main__":
    sys.exit(main())
