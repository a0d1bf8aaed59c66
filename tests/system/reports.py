# SPDX-License-Identifier: GPL-2.0-or-later
"""Finds the evidence of a stall episode: the JSON report files the daemon wrote to its state
directory (read back from the state disk) named by STALLWATCH_REPORT, plus the events' own
STALLWATCH_* fields and MESSAGE. The report's schema belongs to the evidence issue, so these helpers
look for text, and for the sysrq-l section by its kernel header, not for exact JSON keys."""
import json
import os
import re


def report_file(run, e):
    path = e.get("STALLWATCH_REPORT")
    if not path:
        return None
    prefix = "/var/lib/stallwatch/"
    rel = path[len(prefix):] if path.startswith(prefix) else os.path.basename(path)
    local = os.path.join(run.run_dir, "state", "stallwatch", rel)
    return local if os.path.exists(local) else None


def _flatten(v):
    if isinstance(v, dict):
        return "\n".join(f"{k}: {_flatten(x)}" for k, x in v.items())
    if isinstance(v, list):
        return "\n".join(_flatten(x) for x in v)
    return str(v)


def episode_texts(run, events):
    """Text of each event: its fields and MESSAGE, and its report file (JSON flattened)."""
    out = []
    for e in events:
        text = "\n".join(f"{k}={v}" for k, v in e.items() if k.startswith("STALLWATCH_")
                         or k == "MESSAGE")
        f = report_file(run, e)
        if f:
            raw = open(f).read()
            try:
                text += "\n" + _flatten(json.loads(raw))
            except ValueError:
                text += "\n" + raw
        out.append(text)
    return out


def sysrq_section(text, cpu):
    """The lines from 'NMI backtrace for cpu N' to the next CPU's header (or the end)."""
    m = re.search(rf"NMI backtrace for cpu {cpu}\b", text)
    if not m:
        # A report may keep only the stuck CPU's section, without the kernel's header line.
        return "" if re.search(r"NMI backtrace for cpu \d+", text) else text
    rest = text[m.start():]
    nxt = re.search(r"NMI backtrace for cpu \d+", rest[10:])
    return rest[: nxt.start() + 10] if nxt else rest


def describe(run, events):
    files = [report_file(run, e) for e in events]
    return (f"{len(events)} event(s), report files: "
            f"{', '.join(os.path.basename(f) for f in files if f) or 'none'}")
