// SPDX-License-Identifier: GPL-2.0-or-later
#include "stallwatch/daemon/status_doc.h"

#include <algorithm>

#include <fmt/format.h>

#include "stallwatch/core/config.h"
#include "stallwatch/core/cpuset.h"
#include "stallwatch/core/status_schema.h"

namespace stallwatch::daemon {

StatusCpu status_cpu_from_slot(int cpu, const HeartbeatSlot& slot) {
  StatusCpu c;
  c.cpu = cpu;
  c.last_ns = slot.last_ns.load(std::memory_order_acquire);
  c.seq = slot.seq.load(std::memory_order_relaxed);
  c.late_max_ns = slot.late_max_ns.load(std::memory_order_relaxed);
  c.late_hist.reserve(slot.late_hist.size());
  for (const auto& b : slot.late_hist) c.late_hist.push_back(b.load(std::memory_order_relaxed));
  return c;
}

Ladder ladder_for(const StatusInputs& in, const StatusCpu& c) {
  Ladder l;
  const std::int64_t age =
      c.last_ns > 0 ? std::max<std::int64_t>(0, in.now_mono_ns - c.last_ns) : 0;
  const std::int64_t episode = c.state == CpuState::kStalled && c.episode_start_ns > 0
                                   ? std::max<std::int64_t>(0, in.now_mono_ns - c.episode_start_ns)
                                   : age;
  l.report_in_ms = c.state == CpuState::kStalled
                       ? 0
                       : std::max<std::int64_t>(0, in.threshold_ns - age) / 1'000'000;
  const bool drilled = std::any_of(in.drills.begin(), in.drills.end(), [&](const StatusDrill& d) {
    return d.cpu == c.cpu && in.now_mono_ns <= d.until_mono_ns;
  });
  if (in.escalation_action == "none" || in.escalation_after_ns <= 0 || in.escalation_dry_run ||
      drilled)
    return l;
  l.escalation_in_ms = std::max<std::int64_t>(0, in.escalation_after_ns - episode) / 1'000'000;
  if (in.escalation_action == "watchdog-device" && in.watchdog_timeout_ns > 0)
    l.reset_in_ms = l.escalation_in_ms + in.watchdog_timeout_ns / 1'000'000;
  return l;
}

nlohmann::json status_document(const StatusInputs& in) {
  namespace key = status_key;
  nlohmann::json j;
  j[key::kVersion] = in.version;
  j[key::kPid] = in.pid;
  j[key::kUpdatedMonoNs] = in.now_mono_ns;
  j[key::kUpdatedUnixMs] = in.now_unix_ms;
  j[key::kDegraded] = in.degraded;
  j[key::kConfig] = in.config;
  j[key::kHeartbeatIntervalMs] = in.heartbeat_interval_ns / 1'000'000;
  j[key::kThresholdMs] = in.threshold_ns / 1'000'000;
  j[key::kStallsTotal] = in.stalls_total;
  j[key::kEventsDropped] = in.events_dropped;
  j[key::kChecksTotal] = in.checks;
  j[key::kCheckHoldNsTotal] = in.check_hold_ns_total;
  j[key::kCheckHoldMaxUs] = in.check_hold_max_ns / 1000;
  j[key::kLastCheckAgeMs] =
      in.last_check_ns > 0 ? (in.now_mono_ns - in.last_check_ns) / 1'000'000 : -1;
  j[key::kGlobalPausesTotal] = in.global_pauses;
  j[key::kWatchdogPingsDropped] = in.watchdog_pings_dropped;
  j[key::kWatchdogFeedsMissed] = in.feeds_missed;
  j[key::kEscalation] = {{key::kEscalationAction, in.escalation_action},
                         {key::kEscalationAfterMs, in.escalation_after_ns / 1'000'000},
                         {key::kEscalationDryRun, in.escalation_dry_run},
                         {key::kEscalationWatchdogTimeoutMs, in.watchdog_timeout_ns / 1'000'000}};
  nlohmann::json cpus = nlohmann::json::array();
  for (const StatusCpu& c : in.cpus) {
    if (c.state == CpuState::kUnmonitored && !c.monitored) continue;
    nlohmann::json o;
    o[key::kCpu] = c.cpu;
    o[key::kState] = c.state == CpuState::kUnmonitored ? kStatusStateOffline : to_string(c.state);
    o[key::kAgeMs] = c.state == CpuState::kUnmonitored || c.last_ns == 0
                         ? 0
                         : std::max<std::int64_t>(0, in.now_mono_ns - c.last_ns) / 1'000'000;
    o[key::kSeq] = c.seq;
    o[key::kLateMaxUs] = c.late_max_ns / 1000;
    o[key::kLateP99Us] = status_late_p99_us(c.late_hist);
    o[key::kStalls] = c.stalls;
    o[key::kEpisodeMs] = c.state == CpuState::kStalled && c.episode_start_ns > 0
                             ? (in.now_mono_ns - c.episode_start_ns) / 1'000'000
                             : 0;
    o[key::kLateHistLog2Ns] = c.late_hist;
    const std::int64_t age = c.last_ns > 0 ? in.now_mono_ns - c.last_ns : 0;
    if (c.state == CpuState::kStalled ||
        (c.state == CpuState::kHealthy && age * 2 > in.threshold_ns)) {
      const Ladder l = ladder_for(in, c);
      nlohmann::json lad;
      lad[key::kReportInMs] = l.report_in_ms;
      if (l.escalation_in_ms >= 0) lad[key::kEscalationInMs] = l.escalation_in_ms;
      if (l.reset_in_ms >= 0) lad[key::kHardwareResetInMs] = l.reset_in_ms;
      o[key::kLadder] = std::move(lad);
    }
    cpus.push_back(std::move(o));
  }
  j[key::kCpus] = std::move(cpus);
  nlohmann::json drills = nlohmann::json::array();
  for (const auto& d : in.drills)
    drills.push_back(
        {{key::kCpu, d.cpu}, {key::kPid, d.pid}, {key::kUntilMonoNs, d.until_mono_ns}});
  j[key::kDrills] = std::move(drills);
  return j;
}

std::string status_line(const StatusInputs& in) {
  int active = 0;
  std::vector<int> stalled;
  for (const StatusCpu& c : in.cpus) {
    if (c.state != CpuState::kUnmonitored) ++active;
    if (c.state == CpuState::kStalled) stalled.push_back(c.cpu);
  }
  return fmt::format("{}monitoring {} CPUs, threshold {}; stalls so far: {}; stalled now: {}",
                     in.degraded ? "DEGRADED (SCHED_OTHER heartbeats) " : "", active,
                     format_duration(Nanos(in.threshold_ns)), in.stalls_total,
                     stalled.empty() ? "none" : format_cpulist(stalled));
}

StatusInputs status_snapshot(const StatusSources& src, std::int64_t now_mono_ns,
                             std::int64_t now_unix_ms) {
  StatusInputs in;
  in.version = src.version;
  in.pid = src.pid;
  in.now_mono_ns = now_mono_ns;
  in.now_unix_ms = now_unix_ms;
  in.degraded = src.degraded;
  const Config& config = *src.config;
  in.config = config.source;
  in.heartbeat_interval_ns = config.heartbeat.interval.count();
  in.threshold_ns = config.checker.threshold.count();
  const PublishedState& pub = *src.published;
  in.stalls_total = pub.stalls_total.load(std::memory_order_relaxed);
  in.events_dropped = src.events_dropped;
  in.checks = pub.checks.load(std::memory_order_relaxed);
  in.check_hold_ns_total = pub.check_hold_ns_total.load(std::memory_order_relaxed);
  in.check_hold_max_ns = pub.check_hold_max_ns.load(std::memory_order_relaxed);
  in.last_check_ns = pub.last_check_ns.load(std::memory_order_relaxed);
  in.global_pauses = pub.global_pauses.load(std::memory_order_relaxed);
  in.feeds_missed = pub.feeds_missed.load(std::memory_order_relaxed);
  in.watchdog_pings_dropped = src.watchdog_pings_dropped;
  in.drills = src.drills;
  in.escalation_action = std::string(to_string(config.escalation.action));
  in.escalation_after_ns = config.escalation.after.count();
  in.escalation_dry_run = config.escalation.dry_run;
  in.watchdog_timeout_ns = src.watchdog_timeout_ns;
  const CpuList& monitored = *src.monitored;
  for (int cpu = 0; cpu < src.slot_count; ++cpu) {
    StatusCpu c = status_cpu_from_slot(cpu, src.slots[cpu]);
    const PublishedCpu& p = pub.cpu[cpu];
    c.state = static_cast<CpuState>(p.state.load(std::memory_order_relaxed));
    c.stalls = p.stalls.load(std::memory_order_relaxed);
    c.episode_start_ns = p.episode_start_ns.load(std::memory_order_relaxed);
    c.monitored = std::binary_search(monitored.begin(), monitored.end(), cpu);
    in.cpus.push_back(std::move(c));
  }
  return in;
}

}  // namespace stallwatch::daemon
