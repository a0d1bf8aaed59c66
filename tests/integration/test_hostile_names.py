# SPDX-License-Identifier: GPL-2.0-or-later
"""Issue 10: a task's name is untrusted. For each hostile name (not UTF-8 with a terminal-title
escape, a colour escape with a forged line, the empty name, a full 15-byte name) a SCHED_FIFO hog
holds CPU 1 past escalation.after with action = "systemd" under a fake NOTIFY_SOCKET. Each time:
the daemon stays alive, the escalation is taken (WATCHDOG=trigger received, reset reason written
under state_dir), and no raw control byte (other than the newline ending each line) or invalid
UTF-8 appears in stderr, in journald's fields (a standalone systemd-journald, --events both), or
in `stallwatchctl reports` (list and single view)."""
import shutil
import sys

from swtest import *

NAMES = [
    ("not-utf8-title", b"\xff\xfe\x1b]0;pwn\x07"),
    ("colour-forged-line", b"\x1b[31mEVIL\nX=1"),
    ("empty", b""),
    ("fifteen-bytes", b"abcdefghijklmno"),
]

require_root_and_cpus()
binary = sys.argv[1]
ctl = os.environ.get("STALLWATCHCTL") or os.path.join(os.path.dirname(binary), "ctl", "stallwatchctl")
if not os.access(ctl, os.X_OK):
    fail(f"stallwatchctl not found at {ctl}")
journald = "/lib/systemd/systemd-journald"
have_journal = os.path.exists(journald) and shutil.which("journalctl") is not None
if not have_journal:
    print("note: systemd-journald/journalctl not installed: journald fields are not checked")
lock = rt_lock()

own_journald = None
if have_journal and (not os.path.exists("/run/systemd/journal/socket") or subprocess.run(
        ["pgrep", "-x", "systemd-journal"], capture_output=True).returncode != 0):
    shutil.rmtree("/run/systemd/journal", ignore_errors=True)
    own_journald = subprocess.Popen([journald], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):
        if os.path.exists("/run/systemd/journal/socket"):
            break
        time.sleep(0.05)

EXTRA = """
[escalation]
action = "systemd"
after = "2s"
"""


def sanitized(name):
    """The sanitized form stallwatch stores (include/stallwatch/core/sanitize.h), computed here
    independently: control bytes, DEL, C1 controls and invalid UTF-8 as \\xHH, backslash as
    two backslashes."""
    out, i = [], 0
    while i < len(name):
        ch = None
        for n in (1, 2, 3, 4):
            try:
                ch = name[i:i + n].decode("utf-8")
                break
            except UnicodeDecodeError:
                ch = None
        if ch is None or ord(ch) < 0x20 or 0x7f <= ord(ch) <= 0x9f:
            out.append(f"\\x{name[i]:02x}")
            i += 1
        else:
            out.append("\\\\" if ch == "\\" else ch)
            i += len(ch.encode())
    return "".join(out)


def ctl_bytes(*args, config):
    r = subprocess.run([ctl, "-c", config, *args], capture_output=True, timeout=60)
    print(f"$ stallwatchctl {' '.join(args)} -> {r.returncode}")
    print(r.stdout.decode(errors="backslashreplace"), end="")
    return r


def check_clean(label, data):
    bad, utf8_ok = raw_control_bytes(data)
    check(not bad, f"{label}: no raw control byte ({bad[:5]})")
    check(utf8_ok, f"{label}: valid UTF-8, no C1 control")


def daemon_output(d):
    """The daemon's stderr as text; bytes that are not UTF-8 (which the checks below reject)
    shown as \\xNN instead of stopping the test with a decode error."""
    with open(d.log_path, "rb") as f:
        return f.read().decode(errors="backslashreplace")


def daemon_events(d):
    return [e for e in (parse_event(l) for l in daemon_output(d).splitlines()) if e]


def journal_entries(since, pid):
    r = subprocess.run(["journalctl", "--no-pager", "-o", "json", "--since", since,
                        f"_PID={pid}"], capture_output=True, text=True)
    return [json.loads(l) for l in r.stdout.splitlines() if l.strip()]


def one_name(label, name):
    print(f"==== {label}: {name!r}")
    notify = NotifySocket()
    since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(time.time() - 1))
    events = ["--events", "both"] if have_journal else ["--events", "stderr"]
    d = Daemon(binary, base_config("1s", extra=EXTRA), extra_args=events,
               env_extra={"NOTIFY_SOCKET": notify.path})
    try:
        d.wait_ready()
        _, hog_pid, _ = run_named_hog(3.5, name)
        end = time.monotonic() + 6
        while time.monotonic() < end and d.proc.poll() is None and not any(
                e.get("event") == "recovered" for e in daemon_events(d)):
            time.sleep(0.05)
        time.sleep(0.5)
        notify.drain()
        check(d.proc.poll() is None,
              f"{label}: the daemon is alive after the escalation (exit {d.proc.returncode})")
        check(any("WATCHDOG=trigger" in m for m in notify.messages),
              f"{label}: escalation taken (WATCHDOG=trigger received)")
        reason = os.path.join(d.dir, "state", "reset-reason.json")
        check(os.path.exists(reason), f"{label}: reset reason written under state_dir")
        with open(reason, "rb") as f:
            rr = json.loads(f.read())
        print("reset reason:", rr)

        with open(d.log_path, "rb") as f:
            err = f.read()
        print(err.decode(errors="backslashreplace"), end="")
        check_clean(f"{label}: stderr", err)
        evs = daemon_events(d)
        stalls = [e for e in evs if e.get("event") == "stall"]
        check(len(stalls) >= 1, f"{label}: a stall event on stderr")
        if stalls[0].get("pid") == str(hog_pid):
            check(stalls[0].get("comm") == sanitized(name),
                  f"{label}: stderr names the hog by its escaped name {sanitized(name)!r}")
        else:
            # Under load, RT throttling can let another task run in the sampling window.
            print(f"note: {label}: the culprit is pid {stalls[0].get('pid')}, not the hog")
        check(any(e.get("event") == "escalation" for e in evs), f"{label}: escalation event on stderr")
        # The forged "X=1" never starts a line of its own.
        check(not any(l.startswith(b"X=1") for l in err.split(b"\n")), f"{label}: no forged line")

        if have_journal:
            entries = journal_entries(since, d.proc.pid)
            kinds = sorted({e.get("STALLWATCH_EVENT") for e in entries if "STALLWATCH_EVENT" in e})
            print("journal events:", kinds)
            check("stall" in kinds and "escalation" in kinds,
                  f"{label}: journald has the stall and the escalation")
            for e in entries:
                for k, v in e.items():
                    if not (k.startswith("STALLWATCH_") or k == "MESSAGE"):
                        continue
                    # journalctl prints a value that is not clean text as an array of bytes.
                    if not isinstance(v, str):
                        fail(f"{label}: journald field {k} is not clean text: {v!r}")
                    bad, ok = raw_control_bytes(v.encode(), allow_newline=(k == "MESSAGE"))
                    if bad or not ok:
                        fail(f"{label}: journald field {k}={v!r} has raw control bytes")
            check(True, f"{label}: every journald field is clean text ({len(entries)} entries)")

        reports_dir = os.path.join(d.dir, "state", "reports")
        check(os.path.isdir(reports_dir), f"{label}: reports written")
        r = ctl_bytes("reports", config=d.config)
        check(r.returncode == 0, f"{label}: stallwatchctl reports exits 0")
        check_clean(f"{label}: stallwatchctl reports (list)", r.stdout)
        listing = json.loads(ctl_bytes("reports", "--json", config=d.config).stdout)
        check(len(listing) >= 1, f"{label}: at least one report")
        doc = json.loads(ctl_bytes("reports", "--json", listing[0]["id"], config=d.config).stdout)
        tasks = [t for u in doc.get("updates", [doc]) for t in u.get("evidence", {}).get("tasks", [])
                 if t.get("pid") == hog_pid]
        check(tasks, f"{label}: the report's evidence lists the hog (pid {hog_pid})")
        t = tasks[0]
        raw = bytes.fromhex(t["comm_raw_hex"]) if "comm_raw_hex" in t else t["comm"].encode()
        check(t["comm"] == sanitized(name) and raw == name,
              f"{label}: the report keeps the name escaped ({t['comm']!r}) and its exact bytes")
        for item in listing:
            r = ctl_bytes("reports", item["id"], config=d.config)
            check(r.returncode == 0, f"{label}: stallwatchctl reports {item['id']} exits 0")
            check_clean(f"{label}: stallwatchctl reports {item['id']} (single view)", r.stdout)
            check(not any(l.startswith(b"X=1") for l in r.stdout.split(b"\n")),
                  f"{label}: no forged line in the single view")
        check(d.stop() == 0, f"{label}: clean stop")
    except SystemExit:
        print("---- stallwatchd output ----")
        print(daemon_output(d), end="")
        print("----------------------------")
        d.stop()
        raise
    finally:
        notify.close()


try:
    for label, name in NAMES:
        one_name(label, name)
finally:
    if own_journald:
        own_journald.terminate()
        own_journald.wait()
        shutil.rmtree("/run/systemd/journal", ignore_errors=True)
print("PASS")
