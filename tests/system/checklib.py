# SPDX-License-Identifier: GPL-2.0-or-later
"""Assertions over a scenario run's guest journal (journalctl -o json), for the scenarios' check.py.

Every check is on structured fields: STALLWATCH_* from the daemon, TEST_MARK/TEST_* written by the
guest harness (guest/lib.sh), _SYSTEMD_UNIT, _TRANSPORT=kernel, MESSAGE_ID. Kernel records carry
the kernel's own timestamp in _SOURCE_MONOTONIC_TIMESTAMP, so kernel events and the daemon's
STALLWATCH_DETECTED_MONO_US are on the same CLOCK_MONOTONIC time line.
"""
import json
import os
import re


class Abort(Exception):
    """Raised by require(): later checks make no sense."""


def _text(v):
    if isinstance(v, list):  # journald exports non-UTF-8 or binary values as byte arrays
        if v and isinstance(v[0], int):
            return bytes(v).decode("utf-8", "replace")
        return _text(v[0]) if v else ""
    return v if v is not None else ""


class Run:
    def __init__(self, name, run_dir, entries, boots, meta):
        self.name, self.run_dir, self.meta, self.boot_results = name, run_dir, meta, boots
        self.entries = [{k: _text(v) if k != "__CURSOR" else v for k, v in e.items()}
                        for e in entries]
        self.boot_ids = []
        for e in self.entries:
            b = e.get("_BOOT_ID")
            if b and b not in self.boot_ids:
                self.boot_ids.append(b)
        self.results = []   # (ok, what, detail)
        self.metrics = {}

    # ---- selection -------------------------------------------------------------------------
    def boot_entries(self, boot=None):
        """Entries of boot number `boot` (1-based, in boot order); all boots when None."""
        if boot is None:
            return self.entries
        if boot > len(self.boot_ids):
            return []
        bid = self.boot_ids[boot - 1]
        return [e for e in self.entries if e.get("_BOOT_ID") == bid]

    def select(self, boot=None, **fields):
        return [e for e in self.boot_entries(boot)
                if all(e.get(k) == str(v) for k, v in fields.items())]

    def events(self, kind=None, cpu=None, boot=None):
        out = [e for e in self.boot_entries(boot) if "STALLWATCH_EVENT" in e]
        if kind is not None:
            out = [e for e in out if e["STALLWATCH_EVENT"] == kind]
        if cpu is not None:
            out = [e for e in out if e.get("STALLWATCH_CPU") == str(cpu)]
        return out

    def marks(self, name, boot=None):
        return self.select(boot=boot, TEST_MARK=name)

    def kernel(self, pattern, boot=None):
        rx = re.compile(pattern)
        out = []
        for e in self.boot_entries(boot):
            if e.get("_TRANSPORT") != "kernel":
                continue
            text = e.get("MESSAGE", "")
            ident = e.get("SYSLOG_IDENTIFIER", "kernel")
            if ident != "kernel":  # a userspace /dev/kmsg write: journald split off "ident: "
                text = f"{ident}: {text}"
            if rx.search(text):
                out.append(e)
        return out

    def module_stall(self, mode, cpu, since_us, boot=None):
        """(start_us, end_us) of the first stallwatch_stall.ko run of `mode` on `cpu` logged at or
        after since_us (the kernel's own stamps of its start and end lines); None when either
        line is missing."""
        start = [e for e in self.kernel(rf"stallwatch_stall: start mode={mode} cpu={cpu} ", boot)
                 if self.mono_us(e) >= since_us]
        end = [e for e in self.kernel(rf"stallwatch_stall: end mode={mode} cpu={cpu}", boot)
               if self.mono_us(e) >= since_us]
        return (self.mono_us(start[0]), self.mono_us(end[0])) if start and end else None

    def unit_messages(self, unit, pattern=".", boot=None):
        rx = re.compile(pattern)
        return [e for e in self.boot_entries(boot)
                if (e.get("_SYSTEMD_UNIT") == unit or e.get("UNIT") == unit)
                and rx.search(e.get("MESSAGE", ""))]

    @staticmethod
    def mono_us(e):
        """CLOCK_MONOTONIC of an entry in usec: the kernel's own stamp for kernel records."""
        return int(e.get("_SOURCE_MONOTONIC_TIMESTAMP") or e["__MONOTONIC_TIMESTAMP"])

    @staticmethod
    def detected_us(e):
        """When the daemon decided (STALLWATCH_DETECTED_MONO_US), else when journald got it."""
        v = e.get("STALLWATCH_DETECTED_MONO_US")
        return int(v) if v else int(e["__MONOTONIC_TIMESTAMP"])

    # ---- assertions ------------------------------------------------------------------------
    def expect(self, ok, what, detail=""):
        self.results.append((bool(ok), what, detail))
        print(f"  {'PASS' if ok else 'FAIL'}: {what}" + (f" ({detail})" if detail else ""),
              flush=True)
        return bool(ok)

    def require(self, ok, what, detail=""):
        if not self.expect(ok, what, detail):
            raise Abort()

    def expect_field(self, e, field, want, what=None):
        got = e.get(field) if e else None
        return self.expect(got == str(want), what or f"{field}={want}",
                           f"got {field}={got!r}" + ("" if got is not None or not e
                                                     else " (field not emitted yet)"))

    def metric(self, name, value, unit=""):
        self.metrics[name] = value
        print(f"  METRIC {self.name}: {name} = {value}{(' ' + unit) if unit else ''}", flush=True)

    def first_stall_within(self, cpu, start_us, limit_ms, since_what):
        """The first stall event for `cpu` detected after start_us (1 ms of slack); records
        detection_latency_ms and checks it against limit_ms. Aborts when there is none."""
        stalls = [e for e in self.events("stall", cpu=cpu) if self.detected_us(e) >= start_us - 1000]
        self.require(stalls, f"a stall event with STALLWATCH_CPU={cpu} after the {since_what} started",
                     f"events: {[self.describe(e) for e in self.events()][:4]}")
        s = stalls[0]
        latency_ms = (self.detected_us(s) - start_us) / 1000
        self.metric("detection_latency_ms", round(latency_ms))
        self.expect(latency_ms <= limit_ms,
                    f"detected within threshold + interval + 500 ms ({limit_ms} ms)",
                    f"{latency_ms:.0f} ms after the {since_what}'s start")
        return s, latency_ms

    def expect_monitoring_ran(self, earlier, later, what):
        """A "no stall" verdict only counts if the monitoring ran: between two marks carrying
        TEST_STATUS_JSON (guest lib.sh status_json), the status file was rewritten (and is fresh
        at the later mark) and every monitored CPU's heartbeat seq grew."""
        def load(m):
            try:
                return json.loads(m.get("TEST_STATUS_JSON", "")) if m else None
            except ValueError:
                return None
        a, b = load(earlier), load(later)
        if not self.expect(a and b, f"{what}: status.json snapshots taken"):
            return
        mark_ns = int(later["__MONOTONIC_TIMESTAMP"]) * 1000
        age_s = (mark_ns - int(b.get("updated_mono_ns", 0))) / 1e9
        self.expect(int(b.get("updated_mono_ns", 0)) > int(a.get("updated_mono_ns", 0)) and age_s < 3,
                    f"{what}: the status file was rewritten (the checks ran)",
                    f"updated {age_s:.1f} s before the later snapshot was logged")
        if "checks_total" in b:
            self.expect(int(b["checks_total"]) > int(a.get("checks_total", 0)) and
                        0 <= int(b.get("last_check_age_ms", -1)) < 1000,
                        f"{what}: the checks ran (checks_total grew, the last one is recent)",
                        f"checks_total {a.get('checks_total')} -> {b['checks_total']}, last check "
                        f"{b.get('last_check_age_ms')} ms before the update")
        off = ("offline", "unmonitored")
        seq_a = {c["cpu"]: int(c["seq"]) for c in a.get("cpus", []) if c.get("state") not in off}
        seq_b = {c["cpu"]: int(c["seq"]) for c in b.get("cpus", []) if c.get("state") not in off}
        self.expect(seq_b and all(cpu in seq_a and seq_b[cpu] > seq_a[cpu] for cpu in seq_b),
                    f"{what}: every monitored CPU's heartbeat advanced",
                    ", ".join(f"CPU {c}: {seq_a.get(c)} -> {seq_b[c]}" for c in sorted(seq_b)))

    def describe(self, e):
        keys = sorted(k for k in e if k.startswith("STALLWATCH_"))
        return "{" + ", ".join(f"{k}={e[k]}" for k in keys) + "}"

    def check_harness(self):
        """What every scenario needs: the guest booted, the scenario ran and ended, no guest
        failure marks, and the service under test ran."""
        # reset_boots end in a watchdog reset, reboot_boots in a guest reboot the scenario
        # provokes: neither reaches the scenario's end.
        expect_reset = set(self.meta.get("reset_boots", [])) | set(self.meta.get("reboot_boots", []))
        for b in self.boot_results:
            self.expect(not b["timed_out"], f"boot {b['boot']} finished within the hard limit",
                        f"{b['elapsed_s']} s")
        self.require(len(self.boot_ids) >= len(self.boot_results),
                     f"journal holds {len(self.boot_results)} boot(s)",
                     f"found {len(self.boot_ids)}")
        for n in range(1, len(self.boot_results) + 1):
            if n in expect_reset:
                continue
            ends = self.marks("scenario-end", boot=n)
            self.expect(ends and ends[-1].get("TEST_STATUS") == "0",
                        f"boot {n}: guest scenario script completed",
                        f"status {ends[-1].get('TEST_STATUS')}" if ends else "no scenario-end mark")
        # The vCPUs QEMU was given (scenario.json "smp") are the CPUs the guest brought up.
        for m in self.marks("scenario-start"):
            self.expect(m.get("TEST_CPUS_ONLINE") == str(self.meta.get("smp", 2)),
                        f"boot {m.get('TEST_BOOT')}: the guest runs {self.meta.get('smp', 2)} CPUs "
                        "(scenario.json smp)",
                        f"{m.get('TEST_CPUS_ONLINE')} online at the scenario's start")
        for f in self.marks("fail"):
            self.expect(False, "guest-side check", f.get("TEST_REASON", ""))
        # Every boot installs the project's .deb with dpkg -i (guest/install-package).
        installs = self.marks("package-installed")
        self.expect(len(installs) == len(self.boot_results),
                    "stallwatch installed from its .deb with dpkg -i in every boot",
                    f"{len(installs)} install(s) in {len(self.boot_results)} boot(s)")
        for m in installs:
            self.expect(m.get("TEST_RC") == "0" and
                        m.get("TEST_STATUS") == "install ok installed",
                        "dpkg -i succeeded, package status 'install ok installed'",
                        f"rc {m.get('TEST_RC')}, status {m.get('TEST_STATUS')!r}: "
                        f"{m.get('TEST_OUTPUT', '')}")
            self.metric("dpkg_install_ms", int(m.get("TEST_MS", "0") or 0))
        for m in self.marks("package-dropins"):
            self.expect(m.get("TEST_RC") == "0" and m.get("TEST_ACTIVE") == "active",
                        "drop-ins installed, daemon-reload + restart: active",
                        f"rc {m.get('TEST_RC')}, {m.get('TEST_ACTIVE')}, "
                        f"drop-ins {m.get('TEST_DROPINS')}")
        self.expect(self.select(_SYSTEMD_UNIT="stallwatch.service") or
                    self.select(UNIT="stallwatch.service"),
                    "stallwatch.service ran and logged")

    def finish(self):
        failed = [r for r in self.results if not r[0]]
        verdict = "PASS" if not failed else "FAIL"
        with open(os.path.join(self.run_dir, "result.json"), "w") as f:
            json.dump({"scenario": self.name, "verdict": verdict, "metrics": self.metrics,
                       "boots": [{k: v for k, v in b.items() if k != "qmp_events"}
                                 for b in self.boot_results],
                       "checks": [{"ok": ok, "what": w, "detail": d}
                                  for ok, w, d in self.results]}, f, indent=1)
        print(f"[system] {self.name}: {verdict} ({len(self.results) - len(failed)}/"
              f"{len(self.results)} checks)", flush=True)
        if failed:
            for _, w, d in failed:
                print(f"[system]   failed: {w}" + (f" ({d})" if d else ""))
            print(f"[system] logs: {self.run_dir}/{{console-*.log,journal.txt,journal.json}}")
        return 0 if not failed else 1
