// SPDX-License-Identifier: GPL-2.0-or-later
#include "stallwatch/daemon/supervisor_plan.h"

#include <algorithm>

#include <fmt/format.h>

namespace stallwatch::daemon {

ReloadPlan plan_reload(const Config& running, const CpuList& running_monitored, Config n,
                       const CpuTopology& topo, int armed_timeout_s) {
  ReloadPlan plan;
  auto monitored = select_monitored_cpus(n.heartbeat.cpus, n.heartbeat.include_isolated, topo);
  if (!monitored) {
    plan.message = fmt::format("reload of {} rejected: {}; keeping the running configuration",
                               n.source, monitored.error().message);
    return plan;
  }
  if (armed_timeout_s > 0) {
    const Nanos timeout = std::chrono::seconds(armed_timeout_s);
    for (auto [key, value] :
         {std::pair<const char*, Nanos>{"heartbeat.interval", n.heartbeat.interval},
          {"checker.interval", n.checker.interval}}) {
      if (value * 3 > timeout) {
        plan.message = fmt::format(
            "reload of {} rejected: {} ({}) is longer than a third of the armed hardware "
            "watchdog's timeout ({}s): the device would not be fed in time; keeping the running "
            "configuration",
            n.source, key, format_duration(value), armed_timeout_s);
        return plan;
      }
    }
  }
  const auto& oh = running.heartbeat;
  const auto& nh = n.heartbeat;
  // Interval, phase and priority are changed in the running heartbeats (never restarted: the
  // heartbeat of a stalled CPU cannot exit before the stall ends, and its episode must go on);
  // a stack size or the degraded fallback only matter when a heartbeat starts.
  plan.heartbeats_changed =
      *monitored != running_monitored || oh.interval != nh.interval || oh.priority != nh.priority;
  auto differs = [&](auto member) {
    Config a, b;
    a.*member = running.*member;
    b.*member = n.*member;
    return format_config(a) != format_config(b);
  };
  if (differs(&Config::daemon)) plan.restart_only.emplace_back("[daemon]");
  if (differs(&Config::evidence)) plan.restart_only.emplace_back("[evidence]");
  if (differs(&Config::escalation)) plan.restart_only.emplace_back("[escalation]");
  if (differs(&Config::watchdog)) plan.restart_only.emplace_back("[watchdog]");
  // The recorder's ftrace instance is set up once, at start (its buffer size, window and the
  // instance itself).
  if (differs(&Config::timeline)) plan.restart_only.emplace_back("[timeline]");
  if (oh.stack_kib != nh.stack_kib) plan.restart_only.emplace_back("heartbeat.stack_kib");
  if (oh.allow_degraded != nh.allow_degraded)
    plan.restart_only.emplace_back("heartbeat.allow_degraded");
  n.heartbeat.stack_kib = oh.stack_kib;
  n.heartbeat.allow_degraded = oh.allow_degraded;
  n.daemon = running.daemon;
  n.evidence = running.evidence;
  n.escalation = running.escalation;
  n.watchdog = running.watchdog;
  n.timeline = running.timeline;
  plan.message = fmt::format(
      "configuration reloaded from {}: threshold {} -> {}, check interval {} -> {}, heartbeat "
      "interval {} -> {}, CPUs {} -> {}{}",
      n.source, format_duration(running.checker.threshold), format_duration(n.checker.threshold),
      format_duration(running.checker.interval), format_duration(n.checker.interval),
      format_duration(oh.interval), format_duration(nh.interval), format_cpulist(running_monitored),
      format_cpulist(*monitored), plan.heartbeats_changed ? " (heartbeats updated in place)" : "");
  plan.accepted = true;
  plan.monitored = *monitored;
  plan.next = std::move(n);
  return plan;
}

int plan_sentinel(const CpuList& watched, const CpuList& online, const CpuList& avoid,
                  const std::vector<int>& allowed) {
  if (watched.size() >= 2) return -1;
  int fallback = -1;
  for (int cpu : allowed) {
    if (std::binary_search(watched.begin(), watched.end(), cpu) ||
        !std::binary_search(online.begin(), online.end(), cpu))
      continue;
    if (!std::binary_search(avoid.begin(), avoid.end(), cpu)) return cpu;
    if (fallback < 0) fallback = cpu;
  }
  return fallback;
}

HotplugPlan plan_hotplug(const std::vector<HotplugCpu>& cpus) {
  HotplugPlan plan;
  for (std::size_t i = 0; i < cpus.size(); ++i) {
    const HotplugCpu& c = cpus[i];
    const int cpu = static_cast<int>(i);
    if (c.monitored) {
      if (!c.wanted || c.displaced) plan.stop.push_back(cpu);
      continue;
    }
    if (c.wanted && (!c.has_thread || c.exited)) plan.start.push_back(cpu);
  }
  return plan;
}

}  // namespace stallwatch::daemon
