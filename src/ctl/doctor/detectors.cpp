// SPDX-License-Identifier: GPL-2.0-or-later
// Doctor, report group Detectors: audit items for the stall detectors: the kernel's soft- and
// hard-lockup detectors, stallwatchd itself, and which CPUs it watches (isolated ones).
#include <fmt/format.h>

#include "stallwatch/core/cpuset.h"
#include "stallwatch/ctl/doctor/doctor.h"
#include "stallwatch/ctl/doctor/parse.h"
#include "stallwatch/ctl/status_view.h"

namespace stallwatch::ctl {

Finding audit_softlockup_detector(const DoctorContext& ctx) {
  Finding r;
  auto wd = read_int(ctx, r, "/proc/sys/kernel/watchdog");
  auto soft = read_int(ctx, r, "/proc/sys/kernel/soft_watchdog");
  auto thresh = read_int(ctx, r, "/proc/sys/kernel/watchdog_thresh");
  auto mask_text = read_trimmed(ctx.root, "/proc/sys/kernel/watchdog_cpumask");
  r.add("/proc/sys/kernel/watchdog_cpumask", mask_text ? *mask_text : "absent");
  if (!soft || !thresh) {
    r.status = FindingStatus::kUnknown;
    r.summary =
        "no soft-lockup detector sysctls (kernel built without CONFIG_SOFTLOCKUP_DETECTOR?)";
    r.fix = "use a kernel built with CONFIG_SOFTLOCKUP_DETECTOR=y";
    return r;
  }
  std::string off;
  if (wd && *wd == 0)
    off = "kernel.watchdog = 0";
  else if (*soft == 0)
    off = "kernel.soft_watchdog = 0";
  else if (*thresh == 0)
    off = "kernel.watchdog_thresh = 0";
  if (!off.empty()) {
    r.status = FindingStatus::kWarn;
    r.summary =
        fmt::format("soft-lockup detector is off ({}): stallwatch is the only stall detector", off);
    r.fix = "sysctl -w kernel.watchdog=1 kernel.soft_watchdog=1 kernel.watchdog_thresh=10 (persist "
            "in /etc/sysctl.d/; drop nowatchdog/nosoftlockup from the kernel command line)";
    return r;
  }
  const auto online = read_online_cpus(ctx.root);
  const auto mask = mask_text ? parse_cpulist(*mask_text) : Result<CpuList>(CpuList{});
  const auto nohz =
      parse_cpulist(read_trimmed(ctx.root, "/sys/devices/system/cpu/nohz_full").value_or(""));
  if (online && mask && mask_text) {
    // nohz_full CPUs are left out of the mask by the kernel itself: not a finding.
    const CpuList skipped =
        cpu_difference(cpu_difference(*online, *mask), nohz ? *nohz : CpuList{});
    if (!skipped.empty()) {
      r.status = FindingStatus::kWarn;
      r.summary = fmt::format("soft-lockup detector skips CPUs {} (kernel.watchdog_cpumask = {})",
                              format_cpulist(skipped), *mask_text);
      r.fix = fmt::format("sysctl -w kernel.watchdog_cpumask={}", format_cpulist(*online));
      return r;
    }
  }
  r.status = FindingStatus::kOk;
  r.summary =
      fmt::format("soft-lockup detector on: reports a CPU stuck for {}s (2 x watchdog_thresh {})",
                  2 * *thresh, *thresh);
  return r;
}

Finding audit_hardlockup_detector(const DoctorContext& ctx) {
  Finding r;
  auto nmi = read_int(ctx, r, "/proc/sys/kernel/nmi_watchdog");
  auto panic = read_int(ctx, r, "/proc/sys/kernel/hardlockup_panic");
  const bool pmu = ctx.root.exists("/sys/bus/event_source/devices/cpu") ||
                   ctx.root.exists("/sys/bus/event_source/devices/cpu_core");
  r.add("/sys/bus/event_source/devices/cpu", pmu ? "present (CPU PMU)" : "absent (no CPU PMU)");
  bool perm_disabled = false;
  for (const auto& m : ctx.kmsg.messages)
    if (m.find("Perf NMI watchdog permanently disabled") != std::string::npos) perm_disabled = true;
  r.add("/dev/kmsg", ctx.kmsg.readable
                         ? (perm_disabled ? "NMI watchdog: Perf NMI watchdog permanently disabled"
                                          : "no NMI watchdog failure")
                         : ctx.kmsg.error);
  if (!nmi) {
    r.status = FindingStatus::kUnknown;
    r.summary = "kernel.nmi_watchdog is absent (kernel built without a hard-lockup detector)";
    r.fix = "use a kernel built with CONFIG_HARDLOCKUP_DETECTOR=y";
    return r;
  }
  const std::string nopmu = pmu ? "" : "; this host has no CPU PMU for it";
  r.fix =
      "sysctl -w kernel.nmi_watchdog=1 (or nmi_watchdog=1 on the kernel command line); it needs "
      "a CPU PMU: on a VM expose one (QEMU/KVM: -cpu host,pmu=on)";
  if (*nmi == 0) {
    r.status = FindingStatus::kWarn;
    r.summary = fmt::format("hard-lockup detector is off (kernel.nmi_watchdog = 0): a CPU stuck "
                            "with interrupts off is caught only by stallwatch or a hardware "
                            "watchdog{}",
                            nopmu);
    return r;
  }
  if (perm_disabled) {
    r.status = FindingStatus::kWarn;
    r.summary = "kernel.nmi_watchdog = 1 but the kernel disabled it at boot (\"Perf NMI watchdog "
                "permanently disabled\": no usable PMU)";
    return r;
  }
  if (!pmu && !ctx.kmsg.readable) {
    r.status = FindingStatus::kUnknown;
    r.needs_root = true;
    r.summary = "kernel.nmi_watchdog = 1 but there is no CPU PMU and the kernel log (needs root) "
                "cannot say whether it runs";
    return r;
  }
  r.status = FindingStatus::kOk;
  r.fix.clear();
  r.summary =
      fmt::format("hard-lockup detector on (kernel.nmi_watchdog = 1, hardlockup_panic = {})",
                  panic ? std::to_string(*panic) : "absent");
  return r;
}

Finding audit_stallwatch(const DoctorContext& ctx) {
  Finding r;
  r.add("config",
        ctx.config_found ? ctx.config_path : ctx.config_path + " (absent: built-in defaults)");
  if (!ctx.config_error.empty()) {
    r.status = FindingStatus::kFail;
    r.summary = "configuration is invalid: " + ctx.config_error;
    r.fix = "correct the file (stallwatchctl check-config FILE), then systemctl restart stallwatch";
    return r;
  }
  const std::string path = ctx.config.daemon.runtime_dir + "/status.json";
  auto text = ctx.root.read_file(path);
  r.add(path, text ? fmt::format("{} bytes", text->size()) : text.error().message);
  r.fix = "systemctl enable --now stallwatch; journalctl -u stallwatch shows why it stopped";
  if (!text) {
    r.status = FindingStatus::kFail;
    r.summary = "stallwatchd is not running (no " + path + ")";
    return r;
  }
  auto snap = parse_status(*text);
  if (!snap) {
    r.status = FindingStatus::kFail;
    r.summary = fmt::format("{}: {}", path, snap.error().message);
    return r;
  }
  const bool alive = pid_is_stallwatchd(ctx.root, snap->pid);
  r.add(fmt::format("/proc/{}/comm", snap->pid), alive ? "stallwatchd" : "not stallwatchd");
  const auto v = assess_liveness(*snap, alive, ctx.now_mono_ns, ctx.now_unix_ms, path);
  if (v.liveness != Liveness::kRunning) {
    r.status = FindingStatus::kFail;
    r.summary = v.message;
    if (v.liveness == Liveness::kStale)
      r.fix = "systemctl restart stallwatch (and report the hang)";
    return r;
  }
  std::size_t monitored = 0;
  for (const auto& c : snap->cpus) monitored += c.state != "offline";
  r.add("threshold_ms", std::to_string(snap->threshold_ms));
  r.add("degraded", snap->degraded ? "true" : "false");
  const std::string what = fmt::format("stallwatchd {} (pid {})", snap->version, snap->pid);
  if (snap->degraded) {
    r.status = FindingStatus::kWarn;
    r.summary = what + " runs DEGRADED: SCHED_OTHER heartbeats, a busy CPU can look stalled";
    r.fix = "give it CAP_SYS_NICE and an RT budget (the packaged unit does), then restart";
    return r;
  }
  r.status = FindingStatus::kOk;
  r.fix.clear();
  r.summary = fmt::format("{} running: {} CPUs monitored, threshold {}, status updated {} ago",
                          what, monitored, format_ms(snap->threshold_ms), format_ms(v.age_ms));
  return r;
}

Finding audit_isolated_cpus(const DoctorContext& ctx) {
  Finding r;
  const std::string cmdline = read_trimmed(ctx.root, "/proc/cmdline").value_or("");
  r.add("/proc/cmdline isolcpus", cmdline_param(cmdline, "isolcpus").value_or("absent"));
  r.add("/proc/cmdline nohz_full", cmdline_param(cmdline, "nohz_full").value_or("absent"));
  auto topo = read_cpu_topology(ctx.root);
  if (!topo) {
    r.status = FindingStatus::kUnknown;
    r.summary = "cannot read the CPU topology: " + topo.error().message;
    return r;
  }
  r.add("/sys/devices/system/cpu/isolated", format_cpulist(topo->isolated));
  r.add("/sys/devices/system/cpu/nohz_full", format_cpulist(topo->nohz_full));
  r.add("heartbeat.cpus", ctx.config.heartbeat.cpus);
  r.add("heartbeat.include_isolated", ctx.config.heartbeat.include_isolated ? "true" : "false");
  const CpuList iso = cpu_union(topo->isolated, topo->nohz_full);
  if (iso.empty()) {
    r.status = FindingStatus::kOk;
    r.summary = "no isolated or nohz_full CPUs";
    return r;
  }
  auto mon = select_monitored_cpus(ctx.config.heartbeat.cpus, ctx.config.heartbeat.include_isolated,
                                   *topo);
  if (!mon) {
    r.status = FindingStatus::kUnknown;
    r.summary = "cannot work out the monitored CPUs: " + mon.error().message;
    return r;
  }
  const CpuList unwatched = cpu_difference(iso, *mon);
  if (!unwatched.empty()) {
    r.status = FindingStatus::kWarn;
    r.summary = fmt::format("isolated CPUs {} (isolcpus/nohz_full) are not monitored: a stall "
                            "there is not seen by stallwatch",
                            format_cpulist(unwatched));
    r.fix = "set heartbeat.include_isolated = true in stallwatch.toml (one short heartbeat wakeup "
            "per interval on those CPUs)";
    return r;
  }
  r.status = FindingStatus::kOk;
  r.summary = fmt::format("isolated CPUs {} are monitored (heartbeat.include_isolated = true)",
                          format_cpulist(iso));
  return r;
}

}  // namespace stallwatch::ctl
