// SPDX-License-Identifier: GPL-2.0-or-later
// stallwatchctl status: parsing, liveness and formatting of the daemon's status.json.
#include "stallwatch/ctl/status_view.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include <fmt/format.h>

#include <nlohmann/json.hpp>
#include "stallwatch/core/sanitize.h"
#include "stallwatch/core/status_schema.h"

namespace stallwatch::ctl {

using nlohmann::json;
namespace key = status_key;

const CpuStatus* StatusSnapshot::find_cpu(int cpu) const {
  for (const auto& c : cpus)
    if (c.cpu == cpu) return &c;
  return nullptr;
}

Result<StatusSnapshot> parse_status(std::string_view text) {
  json j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return make_error("not a JSON object");
  StatusSnapshot s;
  s.version = get_or<std::string>(j, key::kVersion, "");
  s.pid = get_or<int>(j, key::kPid, 0);
  s.updated_mono_ns = get_or<std::int64_t>(j, key::kUpdatedMonoNs, 0);
  s.updated_unix_ms = get_or<std::int64_t>(j, key::kUpdatedUnixMs, 0);
  s.degraded = get_or<bool>(j, key::kDegraded, false);
  s.config = get_or<std::string>(j, key::kConfig, "");
  s.heartbeat_interval_ms = get_or<std::int64_t>(j, key::kHeartbeatIntervalMs, 0);
  s.threshold_ms = get_or<std::int64_t>(j, key::kThresholdMs, 0);
  s.stalls_total = get_or<std::uint64_t>(j, key::kStallsTotal, 0);
  s.events_dropped = get_or<std::uint64_t>(j, key::kEventsDropped, 0);
  auto cpus = j.find(key::kCpus);
  if (cpus != j.end() && cpus->is_array()) {
    for (const auto& c : *cpus) {
      if (!c.is_object()) continue;
      CpuStatus cs;
      cs.cpu = get_or<int>(c, key::kCpu, -1);
      cs.state = get_or<std::string>(c, key::kState, "unknown");
      cs.age_ms = get_or<std::int64_t>(c, key::kAgeMs, 0);
      cs.seq = get_or<std::uint64_t>(c, key::kSeq, 0);
      cs.late_max_us = get_or<std::int64_t>(c, key::kLateMaxUs, 0);
      cs.late_p99_us = get_or<std::int64_t>(c, key::kLateP99Us, -1);
      cs.stalls = get_or<std::uint64_t>(c, key::kStalls, 0);
      cs.episode_ms = get_or<std::int64_t>(c, key::kEpisodeMs, 0);
      cs.late_hist_log2_ns = get_or<std::vector<std::uint64_t>>(c, key::kLateHistLog2Ns, {});
      if (auto l = c.find(key::kLadder); l != c.end() && l->is_object()) {
        cs.have_ladder = true;
        cs.report_in_ms = get_or<std::int64_t>(*l, key::kReportInMs, -1);
        cs.escalation_in_ms = get_or<std::int64_t>(*l, key::kEscalationInMs, -1);
        cs.reset_in_ms = get_or<std::int64_t>(*l, key::kHardwareResetInMs, -1);
      }
      if (cs.cpu >= 0) s.cpus.push_back(std::move(cs));
    }
  }
  if (auto e = j.find(key::kEscalation); e != j.end() && e->is_object())
    s.escalation_action = get_or<std::string>(*e, key::kEscalationAction, "");
  auto drills = j.find(key::kDrills);
  if (drills != j.end() && drills->is_array())
    for (const auto& d : *drills)
      if (d.is_object()) s.drill_pids.push_back(get_or<int>(d, key::kPid, 0));
  std::sort(s.cpus.begin(), s.cpus.end(),
            [](const CpuStatus& a, const CpuStatus& b) { return a.cpu < b.cpu; });
  return s;
}

std::int64_t hist_quantile_us(const std::vector<std::uint64_t>& hist, double q) {
  const int k = hist_quantile_bucket(hist, q);
  if (k < 0) return 0;
  // Bucket k holds [2^k, 2^(k+1)) ns: report its upper bound, rounded up to whole µs (a file may
  // hold more buckets than the daemon writes: a bound past the int64 range saturates).
  const double upper_us = std::ceil(std::ldexp(1.0, k + 1) / 1000.0);
  if (upper_us >= static_cast<double>(std::numeric_limits<std::int64_t>::max()))
    return std::numeric_limits<std::int64_t>::max();
  return static_cast<std::int64_t>(upper_us);
}

std::int64_t cpu_p99_us(const CpuStatus& cpu) {
  std::int64_t p99 =
      cpu.late_p99_us >= 0 ? cpu.late_p99_us : hist_quantile_us(cpu.late_hist_log2_ns, 0.99);
  // A bucket's upper bound can exceed the largest lateness really seen: never show p99 > max.
  if (cpu.late_max_us > 0 && p99 > cpu.late_max_us) p99 = cpu.late_max_us;
  return p99;
}

LivenessVerdict assess_liveness(const StatusSnapshot& s, bool pid_alive, std::int64_t now_mono_ns,
                                std::int64_t now_unix_ms, const std::string& path) {
  LivenessVerdict v;
  if (s.updated_mono_ns > 0 && now_mono_ns >= s.updated_mono_ns)
    v.age_ms = (now_mono_ns - s.updated_mono_ns) / 1'000'000;
  else if (s.updated_unix_ms > 0)
    v.age_ms = std::max<std::int64_t>(0, now_unix_ms - s.updated_unix_ms);
  if (!pid_alive) {
    v.liveness = Liveness::kNotRunning;
    v.message =
        fmt::format("stallwatchd is not running: pid {} named in {} is gone (last update {} ago)",
                    s.pid, path, format_ms(v.age_ms));
    return v;
  }
  if (v.age_ms > kStaleAfterMs) {
    v.liveness = Liveness::kStale;
    v.message = fmt::format("stallwatchd (pid {}) is not updating {}: last update {} ago (it is "
                            "rewritten at least every 60 s); "
                            "the daemon may be hung",
                            s.pid, path, format_ms(v.age_ms));
    return v;
  }
  v.liveness = Liveness::kRunning;
  return v;
}

std::string format_ms(std::int64_t ms) {
  if (ms < 1000) return fmt::format("{}ms", ms);
  if (ms < 60'000) return fmt::format("{:.1f}s", static_cast<double>(ms) / 1000.0);
  return fmt::format("{}m{:02}s", ms / 60'000, (ms / 1000) % 60);
}

std::string format_us(std::int64_t us) {
  if (us < 1000) return fmt::format("{}us", us);
  if (us < 1'000'000) return fmt::format("{:.1f}ms", static_cast<double>(us) / 1000.0);
  return fmt::format("{:.1f}s", static_cast<double>(us) / 1e6);
}

std::string format_status(const StatusSnapshot& s, const LivenessVerdict& v) {
  // status.json may be stale or edited: its strings are escaped before printing (sanitize.h).
  auto safe = [](std::string_view text) { return escape_controls(text); };
  std::string out;
  if (v.liveness != Liveness::kRunning) out += "WARNING: " + safe(v.message) + "\n";
  out +=
      fmt::format("stallwatchd {} (pid {}){}: threshold {}, heartbeat every {}, stalls so far {}",
                  s.version.empty() ? "?" : safe(s.version), s.pid,
                  s.degraded ? " DEGRADED (SCHED_OTHER heartbeats)" : "", format_ms(s.threshold_ms),
                  format_ms(s.heartbeat_interval_ms), s.stalls_total);
  if (s.events_dropped > 0) out += fmt::format(", events dropped {}", s.events_dropped);
  out += fmt::format("; updated {} ago\n", format_ms(v.age_ms));
  if (!s.config.empty()) out += fmt::format("config: {}\n", safe(s.config));
  out += fmt::format("{:>4}  {:<8}  {:>8}  {:>9}  {:>9}  {:>6}  {}\n", "CPU", "STATE", "AGE",
                     "LATE-MAX", "LATE-P99", "STALLS", "EPISODE");
  for (const auto& c : s.cpus) {
    const bool online = c.state != kStatusStateOffline;
    std::string episode = c.episode_ms > 0 ? format_ms(c.episode_ms) : "-";
    if (c.state == kStatusStateStalled && c.episode_ms > 0) episode += " (ongoing)";
    out += fmt::format("{:>4}  {:<8}  {:>8}  {:>9}  {:>9}  {:>6}  {}\n", c.cpu, safe(c.state),
                       online ? format_ms(c.age_ms) : "-", format_us(c.late_max_us),
                       format_us(cpu_p99_us(c)), c.stalls, episode);
  }
  // The ladder of each stalled or suspect CPU: what fires next, and when.
  for (const auto& c : s.cpus) {
    if (!c.have_ladder) continue;
    std::string line = fmt::format("CPU {}: ", c.cpu);
    line += c.report_in_ms > 0 ? fmt::format("stall report in {}", format_ms(c.report_in_ms))
                               : std::string("stall reported");
    if (c.escalation_in_ms >= 0)
      line += c.escalation_in_ms > 0
                  ? fmt::format(", escalation ({}) in {}", safe(s.escalation_action),
                                format_ms(c.escalation_in_ms))
                  : fmt::format(", escalation ({}) due now", safe(s.escalation_action));
    else
      line += s.escalation_action.empty() || s.escalation_action == "none"
                  ? ", no escalation configured"
                  : ", no escalation (dry-run or drill)";
    if (c.reset_in_ms >= 0)
      line += fmt::format(", hardware reset within {}", format_ms(c.reset_in_ms));
    out += line + "\n";
  }
  return out;
}

std::string format_status_json(const StatusSnapshot& s, const LivenessVerdict& v) {
  json j;
  j["running"] = v.liveness == Liveness::kRunning;
  j["liveness"] = v.liveness == Liveness::kRunning ? "running"
                  : v.liveness == Liveness::kStale ? "stale"
                                                   : "not-running";
  if (!v.message.empty()) j["message"] = v.message;
  j["status_age_ms"] = v.age_ms;
  j[key::kVersion] = s.version;
  j[key::kPid] = s.pid;
  j[key::kDegraded] = s.degraded;
  j[key::kConfig] = s.config;
  j[key::kHeartbeatIntervalMs] = s.heartbeat_interval_ms;
  j[key::kThresholdMs] = s.threshold_ms;
  j[key::kStallsTotal] = s.stalls_total;
  j[key::kEventsDropped] = s.events_dropped;
  json cpus = json::array();
  for (const auto& c : s.cpus) {
    cpus.push_back({{key::kCpu, c.cpu},
                    {key::kState, c.state},
                    {key::kAgeMs, c.age_ms},
                    {key::kSeq, c.seq},
                    {key::kLateMaxUs, c.late_max_us},
                    {key::kLateP99Us, cpu_p99_us(c)},
                    {key::kStalls, c.stalls},
                    {key::kEpisodeMs, c.episode_ms}});
    if (c.have_ladder) {
      json l = {{key::kReportInMs, c.report_in_ms}};
      if (c.escalation_in_ms >= 0) l[key::kEscalationInMs] = c.escalation_in_ms;
      if (c.reset_in_ms >= 0) l[key::kHardwareResetInMs] = c.reset_in_ms;
      cpus.back()[key::kLadder] = std::move(l);
    }
  }
  j[key::kCpus] = std::move(cpus);
  return j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

bool pid_is_stallwatchd(const Sysroot& root, int pid) {
  if (pid <= 0) return false;
  auto comm = root.read_file(fmt::format("/proc/{}/comm", pid), 256);
  if (!comm) return false;
  std::string_view c = *comm;
  while (!c.empty() && (c.back() == '\n' || c.back() == ' ')) c.remove_suffix(1);
  // The kernel truncates comm to 15 bytes; "stallwatchd" fits.
  return c == "stallwatchd";
}

}  // namespace stallwatch::ctl
