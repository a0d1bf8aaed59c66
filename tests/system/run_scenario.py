#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Runs one system-test scenario in a QEMU guest and checks it.

For each boot of the scenario: layers the project's .deb (built by scripts/package.sh, installed
with dpkg -i inside the guest by guest/install-package), the scenario's files and the harness units
over the cached base image as a second cpio archive, boots Debian's kernel with systemd under TCG with an i6300esb watchdog and a persistent
ext4 state disk, enforces a hard time limit, records QEMU's QMP events (watchdog actions, shutdown
reasons) and the serial console. Afterwards it reads the guest's persistent journal back from the
state disk (debugfs, no mount needed), exports it as JSON and runs the scenario's check.py on the
structured fields.

Exit status: 0 pass, 1 fail, 77 skipped (printed as "skipped: <reason>"); under CI=true a skip is
a failure (exit 1), STALLWATCH_SYSTEM_SKIP included.
"""
import argparse
import fcntl
import gzip
import importlib.util
import json
import os
import shutil
import socket
import stat
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SKIP = 77
RT_LOCK = "/tmp/stallwatch-rt.lock"


def log(msg):
    print(f"[system] {msg}", flush=True)


def skip(reason):
    if os.environ.get("CI") == "true":
        print(f"[system] FAIL: skipped under CI=true, which must run every scenario: {reason}",
              flush=True)
        sys.exit(1)
    print(f"skipped: {reason}", flush=True)
    sys.exit(SKIP)


def die(msg):
    print(f"[system] ERROR: {msg}", flush=True)
    sys.exit(1)


def qemu_usable():
    qemu = shutil.which("qemu-system-x86_64")
    if not qemu:
        return "qemu-system-x86_64 not installed (scripts/install-deps.sh --test)"
    for tool in ("debugfs", "mke2fs", "journalctl", "cpio"):
        if not shutil.which(tool):
            return f"{tool} not installed (scripts/install-deps.sh --test)"
    try:
        subprocess.run([qemu, "-accel", "help"], check=True, capture_output=True, timeout=20)
    except (subprocess.SubprocessError, OSError) as e:
        return f"qemu-system-x86_64 cannot run: {e}"
    return None


def load_scenario(path):
    meta = {"timeout": 240, "guest_timeout": 150, "boots": 1, "watchdog_action": "reset",
            "config": None, "cmdline": "", "dropins": [], "smp": 2}
    meta_path = os.path.join(path, "scenario.json")
    if os.path.exists(meta_path):
        with open(meta_path) as f:
            meta.update(json.load(f))
    if not isinstance(meta["smp"], int) or not 1 <= meta["smp"] <= 64:
        die(f"{meta_path}: smp must be a vCPU count from 1 to 64, got {meta['smp']!r}")
    if meta["config"] is None and os.path.exists(os.path.join(path, "stallwatch.toml")):
        meta["config"] = "stallwatch.toml"
    return meta


def write(path, text, mode=0o644):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, mode)


def find_deb(package_dir):
    """The project's .deb in package_dir (system.package builds it with scripts/package.sh)."""
    if not package_dir or not os.path.isdir(package_dir):
        return None
    debs = sorted(f for f in os.listdir(package_dir)
                  if f.startswith("stallwatch_") and f.endswith(".deb"))
    return os.path.join(package_dir, debs[-1]) if debs else None


def deb_paths(deb):
    """The paths a .deb installs (dpkg-deb -c), as absolute paths."""
    out = subprocess.run(["dpkg-deb", "-c", deb], capture_output=True, text=True, check=True).stdout
    return {line.split()[5][1:].rstrip("/") for line in out.splitlines() if len(line.split()) >= 6}


def enable_unit(overlay, unit_path, unit_name):
    wanted = ["multi-user.target"]
    with open(unit_path) as f:
        for line in f:
            if line.strip().startswith("WantedBy="):
                wanted = line.split("=", 1)[1].split()
    for target in wanted:
        link = os.path.join(overlay, "etc/systemd/system", f"{target}.wants", unit_name)
        os.makedirs(os.path.dirname(link), exist_ok=True)
        if os.path.lexists(link):
            os.unlink(link)
        os.symlink(f"/usr/lib/systemd/system/{unit_name}", link)


def build_overlay(args, scenario_dir, meta, overlay):
    if os.path.exists(overlay):
        shutil.rmtree(overlay)
    os.makedirs(overlay)
    # The project: its .deb, installed in the guest with dpkg -i by guest/install-package (the
    # package's postinst enables and starts the unit). Nothing of it is pre-installed here.
    test_dir = os.path.join(overlay, "usr/lib/stallwatch-test")
    deb = find_deb(args.package)
    if not deb:
        die(f"no stallwatch_*.deb in {args.package} (the system.package test builds it: "
            "scripts/package.sh --prebuilt <build> --no-rpm --out <dir>)")
    log(f"package: {deb}")
    shutil.copy2(deb, _mkparent(os.path.join(test_dir, "package", os.path.basename(deb))))
    contents = deb_paths(deb)
    for path in ("/usr/sbin/stallwatchd", "/lib/systemd/system/stallwatch.service"):
        if path not in contents:
            die(f"{os.path.basename(deb)} has no {path}")
    # Drop-ins the scenario installs the way the documentation tells an operator to (e.g.
    # the shipped sysrq.conf example), named by their path in the package.
    for dropin in meta["dropins"]:
        if dropin not in contents:
            die(f"{os.path.basename(deb)} has no {dropin} (scenario.json dropins)")
    write(os.path.join(test_dir, "dropins"), "".join(d + "\n" for d in meta["dropins"]))
    if args.unit:  # harness development: a local unit overrides the packaged one
        write(os.path.join(overlay, "etc/systemd/system/stallwatch.service"),
              open(args.unit).read())
    # The scenario's configuration replaces the shipped one: preseeded before the install (dpkg
    # keeps it with --force-confold), so the package's first start already uses it.
    if meta["config"]:
        shutil.copy2(os.path.join(scenario_dir, meta["config"]),
                     _mkparent(os.path.join(overlay, "etc/stallwatch/stallwatch.toml")))
    # Extra files a scenario ships (e.g. alternative configs), under /usr/lib/stallwatch-test/files.
    files = os.path.join(scenario_dir, "files")
    if os.path.isdir(files):
        shutil.copytree(files, os.path.join(overlay, "usr/lib/stallwatch-test/files"))
    # The harness.
    for name in ("lib.sh", "run-scenario", "rt-hog", "install-package"):
        src = os.path.join(HERE, "guest", name)
        write(os.path.join(test_dir, name), open(src).read(), 0o755)
    write(os.path.join(test_dir, "scenario.sh"),
          open(os.path.join(scenario_dir, "scenario.sh")).read(), 0o755)
    write(os.path.join(test_dir, "name"), os.path.basename(scenario_dir) + "\n")
    write(os.path.join(test_dir, "guest-timeout"), f"{meta['guest_timeout']}\n")
    su = os.path.join(overlay, "usr/lib/systemd/system/stallwatch-scenario.service")
    write(su, open(os.path.join(HERE, "guest/stallwatch-scenario.service")).read())
    enable_unit(overlay, su, "stallwatch-scenario.service")
    # The state disk: the daemon's state directory and a persistent journal, across boots.
    write(os.path.join(overlay, "etc/fstab"),
          "/dev/vda /mnt/state ext4 defaults 0 0\n"
          "/mnt/state/stallwatch /var/lib/stallwatch none bind,x-systemd.requires-mounts-for=/mnt/state 0 0\n"
          "/mnt/state/journal /var/log/journal none bind,x-systemd.requires-mounts-for=/mnt/state 0 0\n")
    for d in ("mnt/state", "var/lib/stallwatch", "var/log/journal"):
        os.makedirs(os.path.join(overlay, d), exist_ok=True)


def _mkparent(path):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    return path


def pack_initrd(base, overlay, out_path):
    files = subprocess.run(["find", ".", "-mindepth", "1"], cwd=overlay, capture_output=True,
                           text=True, check=True).stdout
    cpio = subprocess.run(["cpio", "-o", "-H", "newc", "--quiet"], cwd=overlay, input=files.encode(),
                          capture_output=True, check=True).stdout
    shutil.copyfile(base, out_path)
    with open(out_path, "ab") as f:
        f.write(gzip.compress(cpio, compresslevel=1))


def make_state_disk(path, size_mb=64):
    seed = path + ".seed"
    if os.path.exists(seed):
        shutil.rmtree(seed)
    for d in ("stallwatch", "journal"):
        os.makedirs(os.path.join(seed, d))
    if os.path.exists(path):
        os.unlink(path)
    subprocess.run(["mke2fs", "-q", "-F", "-t", "ext4", "-d", seed, path, f"{size_mb}M"],
                   check=True, capture_output=True)
    shutil.rmtree(seed)


class Qmp(threading.Thread):
    """Records QEMU's QMP events (WATCHDOG, SHUTDOWN with its reason, RESET) as JSON lines."""

    def __init__(self, sock_path, out_path):
        super().__init__(daemon=True)
        self.sock_path, self.out_path = sock_path, out_path
        self.events = []

    def run(self):
        s = None
        for _ in range(200):
            try:
                s = socket.socket(socket.AF_UNIX)
                s.connect(self.sock_path)
                break
            except OSError:
                s = None
                time.sleep(0.05)
        if s is None:
            return
        f = s.makefile("rw")
        f.readline()  # greeting
        f.write('{"execute": "qmp_capabilities"}\n')
        f.flush()
        with open(self.out_path, "a") as out:
            for line in f:
                try:
                    msg = json.loads(line)
                except ValueError:
                    continue
                if "event" in msg:
                    self.events.append(msg)
                    out.write(json.dumps(msg) + "\n")
                    out.flush()


def boot(args, meta, boot_no, run_dir, initrd):
    console = os.path.join(run_dir, f"console-{boot_no}.log")
    qmp_sock = os.path.join(run_dir, "qmp.sock")
    if os.path.exists(qmp_sock):
        os.unlink(qmp_sock)
    append = ("console=ttyS0 rdinit=/lib/systemd/systemd panic=-1 quiet loglevel=4 "
              "systemd.show_status=0 " f"stallwatch_test.boot={boot_no} {meta['cmdline']}")
    # -smp: the scenario's vCPU count (scenario.json "smp", default 2). More vCPUs than the host
    # has cores is allowed on purpose (05_hotplug boots 4 on the 2-core build machine).
    cmd = ["qemu-system-x86_64", "-accel", "tcg", "-smp", str(meta["smp"]), "-m", "1024",
           "-display", "none", "-monitor", "none", "-no-reboot", "-nodefaults",
           "-serial", f"file:{console}",
           "-kernel", os.path.join(args.image, "vmlinuz"), "-initrd", initrd, "-append", append,
           "-device", "i6300esb", "-watchdog-action", meta["watchdog_action"],
           "-drive", f"file={os.path.join(run_dir, 'state.img')},format=raw,if=virtio",
           "-qmp", f"unix:{qmp_sock},server=on,wait=off"]
    with open(os.path.join(run_dir, f"qemu-{boot_no}.cmd"), "w") as f:
        f.write(" ".join(cmd) + "\n")
    log(f"boot {boot_no}: qemu, {meta['smp']} vCPUs (limit {meta['timeout']} s), console {console}")
    start = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    qmp = Qmp(qmp_sock, os.path.join(run_dir, f"qmp-{boot_no}.jsonl"))
    qmp.start()
    timed_out = False
    try:
        out, _ = proc.communicate(timeout=meta["timeout"])
    except subprocess.TimeoutExpired:
        timed_out = True
        proc.kill()
        out, _ = proc.communicate()
    elapsed = time.monotonic() - start
    qmp.join(timeout=2)
    if out.strip():
        log(f"qemu said: {out.strip()}")
    events = [e["event"] + (f"({e['data'].get('action') or e['data'].get('reason')})"
                            if e.get("data") else "") for e in qmp.events]
    log(f"boot {boot_no}: ended after {elapsed:.1f} s, rc={proc.returncode}"
        f"{' TIMED OUT' if timed_out else ''}, qmp events: {' '.join(events) or 'none'}")
    return {"boot": boot_no, "elapsed_s": round(elapsed, 1), "timed_out": timed_out,
            "qemu_rc": proc.returncode, "qmp_events": qmp.events}


def collect(run_dir):
    """Reads the state disk back without mounting it and exports the journal as JSON."""
    state = os.path.join(run_dir, "state")
    if os.path.exists(state):
        shutil.rmtree(state)
    os.makedirs(state)
    subprocess.run(["debugfs", "-R", f"rdump / {state}", os.path.join(run_dir, "state.img")],
                   capture_output=True, check=True)
    jdir = os.path.join(state, "journal")
    with open(os.path.join(run_dir, "journal.json"), "w") as f:
        # --all: without it fields over 4096 bytes (doctor's JSON in scenario 7) export as null.
        subprocess.run(["journalctl", "--directory", jdir, "-o", "json", "--all", "--no-pager"],
                       stdout=f,
                       stderr=subprocess.DEVNULL)
    with open(os.path.join(run_dir, "journal.txt"), "w") as f:
        subprocess.run(["journalctl", "--directory", jdir, "-o", "short-monotonic", "--no-pager"],
                       stdout=f, stderr=subprocess.DEVNULL)
    entries = []
    with open(os.path.join(run_dir, "journal.json")) as f:
        for line in f:
            try:
                entries.append(json.loads(line))
            except ValueError:
                pass
    return entries


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--scenario", required=True, help="scenario directory")
    ap.add_argument("--image", required=True, help="base image directory (build_image.sh)")
    ap.add_argument("--package", help="directory holding the project's stallwatch_*.deb "
                    "(scripts/package.sh --out)")
    ap.add_argument("--out", required=True, help="run directory (logs, journal, results)")
    ap.add_argument("--unit", help="override the packaged unit with this file in "
                    "/etc/systemd/system (harness development only)")
    ap.add_argument("--check-only", action="store_true",
                    help="re-run the checks on an existing run directory without booting")
    args = ap.parse_args()
    if "STALLWATCH_SYSTEM_STANDIN" in os.environ:  # the shell stand-in daemon is gone
        die("STALLWATCH_SYSTEM_STANDIN is set, but the system suite only runs the project's .deb "
            "(the stand-in was removed); unset it")
    if not args.check_only:  # a skipped run must not leave the previous verdict for summary.py
        stale = os.path.join(os.path.abspath(args.out), "result.json")
        if os.path.exists(stale):
            os.unlink(stale)
    if os.environ.get("STALLWATCH_SYSTEM_SKIP"):
        skip(f"STALLWATCH_SYSTEM_SKIP={os.environ['STALLWATCH_SYSTEM_SKIP']}")
    reason = qemu_usable()
    if reason:
        skip(reason)
    if not os.path.exists(os.path.join(args.image, "base.cpio.gz")):
        skip(f"no guest image in {args.image} (the system.image test builds it; needs root and "
             "Debian's archive)")
    if not args.check_only and not find_deb(args.package):
        skip(f"no stallwatch_*.deb in {args.package} (the system.package test builds it)")
    scenario_dir = os.path.abspath(args.scenario)
    name = os.path.basename(scenario_dir)
    meta = load_scenario(scenario_dir)
    run_dir = os.path.abspath(args.out)
    if args.check_only:
        with open(os.path.join(run_dir, "boots.json")) as f:
            boots = json.load(f)
        return check(name, scenario_dir, run_dir, meta, boots, collect(run_dir))
    if os.path.exists(run_dir):
        shutil.rmtree(run_dir)
    os.makedirs(run_dir)
    log(f"scenario {name}: run directory {run_dir}")

    overlay = os.path.join(run_dir, "overlay")
    build_overlay(args, scenario_dir, meta, overlay)
    initrd = os.path.join(run_dir, "initrd.cpio.gz")
    pack_initrd(os.path.join(args.image, "base.cpio.gz"), overlay, initrd)
    make_state_disk(os.path.join(run_dir, "state.img"))

    # The guest's two vCPUs keep both host cores busy and its latencies are measured: like the
    # host's RT tests, hold the team's quiet-CPU lock while it runs.
    with open(RT_LOCK, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        boots = []
        for n in range(1, meta["boots"] + 1):
            boots.append(boot(args, meta, n, run_dir, initrd))
            if n in meta.get("reset_boots", []) and not any(
                    e["event"] == "WATCHDOG" for e in boots[-1]["qmp_events"]):
                log(f"boot {n} was expected to end in a watchdog reset and did not: "
                    "skipping the remaining boots")
                break
    os.unlink(initrd)
    with open(os.path.join(run_dir, "boots.json"), "w") as f:
        json.dump(boots, f)

    entries = collect(run_dir)
    log(f"journal: {len(entries)} entries from "
        f"{len({e.get('_BOOT_ID') for e in entries})} boot(s) -> {run_dir}/journal.json")

    return check(name, scenario_dir, run_dir, meta, boots, entries)


def check(name, scenario_dir, run_dir, meta, boots, entries):
    sys.path.insert(0, HERE)
    import checklib
    result = checklib.Run(name, run_dir, entries, boots, meta)
    spec = importlib.util.spec_from_file_location(f"check_{name}",
                                                  os.path.join(scenario_dir, "check.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    result.check_harness()
    try:
        mod.check(result)
    except checklib.Abort:
        pass
    return result.finish()


if __name__ == "__main__":
    sys.exit(main())
