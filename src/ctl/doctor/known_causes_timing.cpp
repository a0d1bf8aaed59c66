// SPDX-License-Identifier: GPL-2.0-or-later
// Doctor, report group Known causes: audit items for timing causes of stalls: clocksource, CPU idle
// states, hypervisor steal.
#include <algorithm>
#include <map>

#include <fmt/format.h>

#include "stallwatch/core/cpuset.h"
#include "stallwatch/ctl/doctor/doctor.h"
#include "stallwatch/ctl/doctor/parse.h"

namespace stallwatch::ctl {

namespace {

constexpr std::int64_t kDeepExitLatencyUs = 100;
constexpr double kStealWarnPct = 5.0;
constexpr double kStealFailPct = 20.0;

bool is_x86(const std::string& machine) {
  return machine == "x86_64" || machine == "i386" || machine == "i486" || machine == "i586" ||
         machine == "i686";
}

bool tsc_based(const std::string& cs) {
  // Paravirtual clocks are the TSC read with the hypervisor's scaling: not a fallback.
  return cs == "tsc" || cs == "kvm-clock" || cs == "hyperv_clocksource_tsc_page" || cs == "xen";
}

// "cpu12" -> 12, else -1.
int cpu_number(const std::string& name) {
  if (name.size() < 4 || name.compare(0, 3, "cpu") != 0) return -1;
  auto n = parse_integer(std::string_view(name).substr(3));
  return n ? static_cast<int>(*n) : -1;
}

}  // namespace

Finding audit_clocksource(const DoctorContext& ctx) {
  Finding r;
  const std::string dir = "/sys/devices/system/clocksource/clocksource0/";
  auto cur = read_trimmed(ctx.root, dir + "current_clocksource");
  auto avail = read_trimmed(ctx.root, dir + "available_clocksource");
  r.add(dir + "current_clocksource", cur.value_or("absent"));
  r.add(dir + "available_clocksource", avail.value_or("absent"));
  r.add("machine", ctx.machine);
  const LogHistory h = scan_kernel_log(ctx.kmsg.messages);
  const int unstable = h.count[5];
  r.add("/dev/kmsg", !ctx.kmsg.readable ? ctx.kmsg.error
                     : unstable > 0     ? h.last[5]
                                        : "no clocksource marked unstable");
  r.needs_root = !ctx.kmsg.readable;
  if (!cur) {
    r.status = FindingStatus::kUnknown;
    r.summary = "no current clocksource in sysfs";
    return r;
  }
  const std::string tsc_fix =
      "find out why (journalctl -k | grep -i -e tsc -e clocksource): update the firmware, keep "
      "the TSC synchronised across sockets; boot with tsc=reliable only if this TSC is known good";
  if (unstable > 0) {
    r.status = FindingStatus::kFail;
    r.summary = fmt::format("a clocksource was marked unstable this boot (\"{}\"); now {}",
                            h.last[5], *cur);
    r.fix = tsc_fix;
    return r;
  }
  if (is_x86(ctx.machine) && !tsc_based(*cur)) {
    r.status = FindingStatus::kWarn;
    r.summary = fmt::format("clocksource is {}, not tsc (available: {}): the TSC was found "
                            "unusable and every clock read is slow",
                            *cur, avail.value_or("?"));
    r.fix = tsc_fix;
    return r;
  }
  r.status = FindingStatus::kOk;
  r.summary = fmt::format("clocksource {} (available: {})", *cur, avail.value_or("?"));
  return r;
}

Finding audit_cpu_idle(const DoctorContext& ctx) {
  Finding r;
  const std::string base = "/sys/devices/system/cpu/";
  auto driver = read_trimmed(ctx.root, base + "cpuidle/current_driver");
  auto governor = read_trimmed(ctx.root, base + "cpuidle/current_governor_ro");
  if (!governor) governor = read_trimmed(ctx.root, base + "cpuidle/current_governor");
  r.add(base + "cpuidle/current_driver", driver.value_or("absent"));
  r.add(base + "cpuidle/current_governor", governor.value_or("absent"));
  if (!driver) {
    r.status = FindingStatus::kUnknown;
    r.summary = "no cpuidle in sysfs (kernel without CONFIG_CPU_IDLE)";
    return r;
  }
  if (*driver == "none") {
    r.status = FindingStatus::kOk;
    r.summary = "no cpuidle driver: CPUs idle in the architecture's default halt";
    return r;
  }
  struct State {
    std::string name;
    std::int64_t latency_us = 0;
    CpuList enabled;
  };
  std::map<int, State> states;  // by state index
  auto cpus = ctx.root.list_dir(base);
  for (const auto& c : cpus ? *cpus : std::vector<std::string>{}) {
    const int cpu = cpu_number(c);
    if (cpu < 0) continue;
    auto names = ctx.root.list_dir(base + c + "/cpuidle");
    for (const auto& s : names ? *names : std::vector<std::string>{}) {
      if (s.rfind("state", 0) != 0) continue;
      auto idx = parse_integer(std::string_view(s).substr(5));
      if (!idx) continue;
      const std::string d = base + c + "/cpuidle/" + s + "/";
      State& st = states[static_cast<int>(*idx)];
      st.name = read_trimmed(ctx.root, d + "name").value_or(s);
      auto lat = parse_integer(read_trimmed(ctx.root, d + "latency").value_or(""));
      st.latency_us = std::max(st.latency_us, lat.value_or(0));
      if (read_trimmed(ctx.root, d + "disable").value_or("0") == "0")
        st.enabled = cpu_union(st.enabled, CpuList{cpu});
    }
  }
  std::string list, deep;
  std::int64_t deepest = 0;
  for (const auto& [idx, st] : states) {
    r.add(fmt::format("state{}", idx),
          fmt::format("{}: exit latency {}us, enabled on CPUs {}", st.name, st.latency_us,
                      st.enabled.empty() ? "none" : format_cpulist(st.enabled)));
    if (st.enabled.empty()) continue;
    list += fmt::format("{}{} {}us", list.empty() ? "" : ", ", st.name, st.latency_us);
    deepest = std::max(deepest, st.latency_us);
    if (st.latency_us > kDeepExitLatencyUs)
      deep += fmt::format("{}{} (exit {}us) on CPUs {}", deep.empty() ? "" : ", ", st.name,
                          st.latency_us, format_cpulist(st.enabled));
  }
  if (!deep.empty()) {
    r.status = FindingStatus::kWarn;
    r.summary =
        fmt::format("deep C-states enabled: {}; a wakeup can take up to {}us", deep, deepest);
    r.fix = "cap them: intel_idle.max_cstate=1 (or processor.max_cstate=1) on the kernel command "
            "line, or a PM QoS request (hold /dev/cpu_dma_latency open with a low value, e.g. "
            "tuned's latency-performance profile), or echo 1 > "
            "/sys/devices/system/cpu/cpu*/cpuidle/stateN/disable";
    return r;
  }
  r.status = FindingStatus::kOk;
  r.summary = fmt::format("cpuidle driver {} (governor {}): enabled states {}", *driver,
                          governor.value_or("?"), list.empty() ? "none" : list);
  return r;
}

Finding audit_steal(const DoctorContext& ctx) {
  Finding r;
  auto before = parse_stat_totals(ctx.stat_before);
  auto after = parse_stat_totals(ctx.stat_after);
  if (!after) {
    r.status = FindingStatus::kUnknown;
    r.add("/proc/stat", "unreadable or without a steal column");
    r.summary = "cannot read the steal time from /proc/stat";
    return r;
  }
  auto pct = [](std::uint64_t part, std::uint64_t whole) {
    return whole == 0 ? 0.0 : 100.0 * static_cast<double>(part) / static_cast<double>(whole);
  };
  const double boot = pct(after->steal, after->total);
  r.add("/proc/stat steal since boot",
        fmt::format("{} of {} ticks ({:.1f}%)", after->steal, after->total, boot));
  double window = 0.0;
  std::string window_text = "no sampling window";
  if (before && ctx.window_ms > 0 && after->total > before->total &&
      after->steal >= before->steal) {
    const std::uint64_t dt = after->total - before->total;
    const std::uint64_t ds = after->steal - before->steal;
    window = pct(ds, dt);
    window_text = fmt::format("{:.1f}% over the last {}", window,
                              format_duration(std::chrono::milliseconds(ctx.window_ms)));
    r.add("/proc/stat steal over the window",
          fmt::format("{} of {} ticks in {}ms ({:.1f}%)", ds, dt, ctx.window_ms, window));
  }
  const double worst = std::max(boot, window);
  r.summary = fmt::format("steal {:.1f}% since boot, {}", boot, window_text);
  if (worst >= kStealWarnPct) {
    r.status = worst >= kStealFailPct ? FindingStatus::kFail : FindingStatus::kWarn;
    r.summary += ": vCPUs wait for the hypervisor (vCPU oversubscription or host contention)";
    r.fix = "give the VM dedicated (pinned) vCPUs, fewer vCPUs than free host cores, or move it to "
            "a less loaded host";
    return r;
  }
  r.status = FindingStatus::kOk;
  return r;
}

}  // namespace stallwatch::ctl
