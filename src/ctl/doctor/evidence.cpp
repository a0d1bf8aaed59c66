// SPDX-License-Identifier: GPL-2.0-or-later
// Doctor, report group Evidence: whether the flight recorder ([timeline]) can run on this host --
// tracefs mounted at /sys/kernel/tracing, its five events, instances/, root -- and the kernel
// memory its per-CPU ring buffers take.
#include <array>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "stallwatch/core/cpuset.h"
#include "stallwatch/ctl/doctor/doctor.h"
#include "stallwatch/ctl/doctor/parse.h"

namespace stallwatch::ctl {

namespace {

constexpr const char* kTracefs = "/sys/kernel/tracing";
constexpr const char* kDebugTracefs = "/sys/kernel/debug/tracing";
// The recorder's events (docs/timeline.md).
constexpr std::array<const char*, 5> kEvents = {"sched/sched_switch", "irq/irq_handler_entry",
                                                "irq/irq_handler_exit", "irq/softirq_entry",
                                                "irq/softirq_exit"};

// Mount points of tracefs in /proc/mounts ("\040" and friends left escaped: the two paths that
// matter have none).
std::vector<std::string> tracefs_mounts(const std::string& mounts) {
  std::vector<std::string> out;
  std::size_t pos = 0;
  while (pos < mounts.size()) {
    std::size_t end = mounts.find('\n', pos);
    if (end == std::string::npos) end = mounts.size();
    const std::string_view line(mounts.data() + pos, end - pos);
    pos = end + 1;
    const std::size_t a = line.find(' ');
    if (a == std::string_view::npos) continue;
    const std::size_t b = line.find(' ', a + 1);
    if (b == std::string_view::npos) continue;
    const std::size_t c = line.find(' ', b + 1);
    const std::string_view type = line.substr(b + 1, c == std::string_view::npos ? c : c - b - 1);
    if (type == "tracefs") out.emplace_back(line.substr(a + 1, b - a - 1));
  }
  return out;
}

std::string format_kib(std::uint64_t kib) {
  if (kib < 1024) return fmt::format("{} KiB", kib);
  if (kib % 1024 == 0) return fmt::format("{} MiB", kib / 1024);
  return fmt::format("{:.1f} MiB", static_cast<double>(kib) / 1024.0);
}

}  // namespace

Finding audit_flight_recorder(const DoctorContext& ctx) {
  Finding r;
  const TimelineConfig& tl = ctx.config.timeline;
  r.add("timeline.enabled", tl.enabled ? "true" : "false");
  r.add("timeline.buffer_kib", std::to_string(tl.buffer_kib));
  // The ring buffers: buffer_kib for every CPU, at most every possible one.
  auto possible = parse_cpulist(
      read_trimmed(ctx.root, "/sys/devices/system/cpu/possible").value_or(std::string()));
  std::string memory;
  if (possible && !possible->empty()) {
    const std::uint64_t n = possible->size();
    memory = fmt::format("{} of kernel memory ({} KiB x {} possible CPU{})",
                         format_kib(n * tl.buffer_kib), tl.buffer_kib, n, n == 1 ? "" : "s");
    r.add("/sys/devices/system/cpu/possible", format_cpulist(*possible));
  } else {
    memory = fmt::format("{} KiB of kernel memory per CPU", tl.buffer_kib);
    r.add("/sys/devices/system/cpu/possible", "absent");
  }
  if (!tl.enabled) {
    r.status = FindingStatus::kOk;
    r.summary = "flight recorder off ([timeline] enabled = false): reports carry no timeline";
    return r;
  }

  auto mounts = ctx.root.read_file("/proc/mounts");
  const std::vector<std::string> at = mounts ? tracefs_mounts(*mounts) : std::vector<std::string>{};
  std::string where;
  for (const auto& m : at) where += (where.empty() ? "" : ", ") + m;
  r.add("/proc/mounts tracefs",
        !mounts ? mounts.error().message : where.empty() ? "not mounted" : where);
  bool mounted = false, debug_only = false;
  for (const auto& m : at) mounted = mounted || m == kTracefs;
  for (const auto& m : at) debug_only = debug_only || (!mounted && m == kDebugTracefs);
  const std::string mount_fix =
      "mount -t tracefs nodev /sys/kernel/tracing (systemd mounts it at boot as "
      "sys-kernel-tracing.mount: systemctl start sys-kernel-tracing.mount), then systemctl "
      "restart stallwatch";
  if (!mounts && !ctx.root.exists(std::string(kTracefs) + "/events")) {
    r.status = FindingStatus::kUnknown;
    r.summary = "cannot tell whether tracefs is mounted (/proc/mounts unreadable): the flight "
                "recorder needs it at /sys/kernel/tracing";
    r.fix = mount_fix;
    return r;
  }
  if (mounts && !mounted) {
    r.status = FindingStatus::kWarn;
    r.summary =
        debug_only
            ? "tracefs is mounted only at /sys/kernel/debug/tracing: the flight recorder uses "
              "/sys/kernel/tracing (the one the packaged unit lets it write); reports carry no "
              "timeline"
            : "tracefs is not mounted: the flight recorder cannot run and reports carry no "
              "timeline";
    r.fix = mount_fix;
    return r;
  }
  // tracefs' root directory is root's and mode 0700: only root sees the events.
  if (ctx.euid != 0) {
    r.status = FindingStatus::kUnknown;
    r.needs_root = true;
    r.summary = "tracefs is mounted; whether the flight recorder's events are there needs root "
                "(run stallwatchctl doctor as root); its buffers take " +
                memory;
    return r;
  }
  if (auto lockdown = read_trimmed(ctx.root, "/sys/kernel/security/lockdown")) {
    r.add("/sys/kernel/security/lockdown", *lockdown);
    if (lockdown->find("[confidentiality]") != std::string::npos) {
      r.status = FindingStatus::kWarn;
      r.summary = "kernel lockdown is in confidentiality mode, which closes tracefs: the flight "
                  "recorder cannot run";
      r.fix = "boot without lockdown=confidentiality (integrity mode leaves tracefs open)";
      return r;
    }
  }
  std::vector<std::string> missing;
  for (const char* e : kEvents) {
    const std::string path = fmt::format("{}/events/{}/format", kTracefs, e);
    const bool present = ctx.root.exists(path);
    r.add(path, present ? "present" : "absent");
    if (!present) missing.emplace_back(e);
  }
  const std::string instances = std::string(kTracefs) + "/instances";
  const bool has_instances = ctx.root.exists(instances);
  r.add(instances, has_instances ? "present" : "absent");
  if (has_instances)
    r.add(instances + "/stallwatch", ctx.root.exists(instances + "/stallwatch")
                                         ? "present (the running daemon's recorder)"
                                         : "absent");
  if (!missing.empty()) {
    std::string list;
    for (const auto& m : missing) list += (list.empty() ? "" : ", ") + m;
    r.status = FindingStatus::kWarn;
    r.summary = fmt::format(
        "this kernel has no {} event{}: the flight recorder cannot run and reports carry no "
        "timeline",
        list, missing.size() == 1 ? "" : "s");
    r.fix = "use a kernel built with CONFIG_FTRACE=y and event tracing (CONFIG_EVENT_TRACING, "
            "which any tracer selects)";
    return r;
  }
  if (!has_instances) {
    r.status = FindingStatus::kWarn;
    r.summary = "tracefs has no instances/ directory: the flight recorder cannot make its own "
                "ftrace instance and reports carry no timeline";
    r.fix = "use a kernel with ftrace instances (Linux 3.10 or later, CONFIG_FTRACE=y)";
    return r;
  }
  r.status = FindingStatus::kOk;
  r.summary = fmt::format(
      "flight recorder can run (tracefs at {}, its 5 events, instances/, root): {} of history, "
      "buffers take {}",
      kTracefs, format_duration(tl.seconds), memory);
  return r;
}

}  // namespace stallwatch::ctl
