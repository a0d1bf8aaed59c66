// SPDX-License-Identifier: GPL-2.0-or-later
// status.json -> Prometheus text format 0.0.4. Series per host: 20 to 22 fixed (13 of them the
// lateness histogram) + 4 per CPU + 1 per (CPU, class) that has stalled; see stallwatchd(8).
#include "stallwatch/metrics/exposition.h"

#include <algorithm>
#include <cmath>
#include <string_view>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "stallwatch/core/status_schema.h"

namespace stallwatch::metrics {

namespace {

using nlohmann::json;
namespace key = status_key;

// value / 10^digits as an exact decimal without trailing zeros: (1234, 3) -> "1.234".
std::string decimal(std::int64_t value, int digits) {
  std::int64_t scale = 1;
  for (int i = 0; i < digits; ++i) scale *= 10;
  const bool neg = value < 0;
  const std::uint64_t v =
      neg ? 0 - static_cast<std::uint64_t>(value) : static_cast<std::uint64_t>(value);
  std::string out = fmt::format("{}{}", neg ? "-" : "", v / static_cast<std::uint64_t>(scale));
  std::string frac = fmt::format("{:0{}}", v % static_cast<std::uint64_t>(scale), digits);
  while (!frac.empty() && frac.back() == '0') frac.pop_back();
  if (!frac.empty()) out += "." + frac;
  return out;
}

std::string escape_label(std::string_view v) {
  std::string out;
  for (char c : v) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '"')
      out += "\\\"";
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
  return out;
}

class Writer {
 public:
  void family(std::string_view name, std::string_view type, std::string_view help) {
    out_ += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
  }
  void sample(std::string_view name, std::string_view labels, std::string_view value) {
    out_ += name;
    if (!labels.empty()) out_ += fmt::format("{{{}}}", labels);
    out_ += fmt::format(" {}\n", value);
  }
  std::string take() { return std::move(out_); }

 private:
  std::string out_;
};

std::string cpu_label(int cpu) { return fmt::format("cpu=\"{}\"", cpu); }

}  // namespace

std::string render_metrics(const json& status) {
  Writer w;
  std::vector<const json*> cpus;
  if (auto it = status.is_object() ? status.find(key::kCpus) : status.end();
      status.is_object() && it != status.end() && it->is_array())
    for (const auto& c : *it)
      if (c.is_object() && get_or<int>(c, key::kCpu, -1) >= 0) cpus.push_back(&c);
  std::sort(cpus.begin(), cpus.end(), [](const json* a, const json* b) {
    return get_or<int>(*a, key::kCpu, -1) < get_or<int>(*b, key::kCpu, -1);
  });

  w.family("stallwatch_build_info", "gauge", "stallwatchd's version; always 1.");
  w.sample("stallwatch_build_info",
           fmt::format("version=\"{}\"",
                       escape_label(get_or<std::string>(status, key::kVersion, "unknown"))),
           "1");
  w.family("stallwatch_last_update_timestamp_seconds", "gauge",
           "When stallwatchd last wrote its state (Unix time). A dead daemon's file keeps an old "
           "value.");
  w.sample("stallwatch_last_update_timestamp_seconds", "",
           decimal(get_or<std::int64_t>(status, key::kUpdatedUnixMs, 0), 3));
  w.family("stallwatch_degraded", "gauge",
           "1 while the heartbeats run SCHED_OTHER (no SCHED_FIFO permission): stall reports may "
           "be false.");
  w.sample("stallwatch_degraded", "", get_or<bool>(status, key::kDegraded, false) ? "1" : "0");
  w.family("stallwatch_stall_threshold_seconds", "gauge",
           "checker.threshold: a CPU whose heartbeat is older than this is stalled.");
  w.sample("stallwatch_stall_threshold_seconds", "",
           decimal(get_or<std::int64_t>(status, key::kThresholdMs, 0), 3));

  w.family(
      "stallwatch_stalls_total", "counter",
      "Stall episodes started, by CPU and evidence class (a series appears with its first stall).");
  for (const json* c : cpus) {
    auto by = c->find(key::kStallsByClass);
    if (by == c->end() || !by->is_object()) continue;
    for (const auto& [cls, n] : by->items())  // nlohmann's object is sorted by key
      if (n.is_number_unsigned() && n.get<std::uint64_t>() > 0)
        w.sample("stallwatch_stalls_total",
                 fmt::format("{},class=\"{}\"", cpu_label(get_or<int>(*c, key::kCpu, -1)),
                             escape_label(cls)),
                 fmt::format("{}", n.get<std::uint64_t>()));
  }
  w.family("stallwatch_stalled", "gauge",
           "1 while the CPU is stalled (its heartbeat is older than the threshold).");
  for (const json* c : cpus)
    w.sample("stallwatch_stalled", cpu_label(get_or<int>(*c, key::kCpu, -1)),
             get_or<std::string>(*c, key::kState, "") == kStatusStateStalled ? "1" : "0");
  // The escalation ladder (issue 19), one series per host: the soonest escalation and hardware
  // reset among the stalled CPUs; absent while none is coming (stallwatchctl status per CPU).
  std::int64_t esc_ms = -1, reset_ms = -1;
  for (const json* c : cpus) {
    auto l = c->find(key::kLadder);
    if (l == c->end() || !l->is_object()) continue;
    const auto e = get_or<std::int64_t>(*l, key::kEscalationInMs, -1);
    const auto r = get_or<std::int64_t>(*l, key::kHardwareResetInMs, -1);
    if (e >= 0 && (esc_ms < 0 || e < esc_ms)) esc_ms = e;
    if (r >= 0 && (reset_ms < 0 || r < reset_ms)) reset_ms = r;
  }
  if (esc_ms >= 0) {
    w.family("stallwatch_escalation_due_seconds", "gauge",
             "Time until the soonest escalation of a stalled CPU fires (0: due now); absent when "
             "none is coming.");
    w.sample("stallwatch_escalation_due_seconds", "", decimal(esc_ms, 3));
  }
  if (reset_ms >= 0) {
    w.family("stallwatch_hardware_reset_due_seconds", "gauge",
             "Time until the hardware watchdog resets the machine after the soonest escalation; "
             "absent when none is coming.");
    w.sample("stallwatch_hardware_reset_due_seconds", "", decimal(reset_ms, 3));
  }
  // One series per host, not per CPU (the series budget): alert on > 0, stallwatchctl status
  // names the CPUs.
  w.family("stallwatch_cpus_unmonitored", "gauge",
           "Configured online CPUs not monitored now: their heartbeat was moved off them from "
           "outside (taskset -a, tuna, a cpuset) and is not back yet.");
  w.sample("stallwatch_cpus_unmonitored", "",
           fmt::format("{}", std::count_if(cpus.begin(), cpus.end(), [](const json* c) {
                         return get_or<std::string>(*c, key::kState, "") == kStatusStateDisplaced;
                       })));
  w.family("stallwatch_stall_seconds_total", "counter",
           "Time the CPU spent stalled, from its last heartbeat before each stall (ongoing stall "
           "included).");
  for (const json* c : cpus)
    w.sample("stallwatch_stall_seconds_total", cpu_label(get_or<int>(*c, key::kCpu, -1)),
             decimal(get_or<std::int64_t>(*c, key::kStallMsTotal, 0), 3));
  w.family("stallwatch_heartbeat_age_seconds", "gauge",
           "Time since the CPU's heartbeat last ran (no sample while the CPU is offline).");
  for (const json* c : cpus)
    if (get_or<std::string>(*c, key::kState, "") != kStatusStateOffline)
      w.sample("stallwatch_heartbeat_age_seconds", cpu_label(get_or<int>(*c, key::kCpu, -1)),
               decimal(get_or<std::int64_t>(*c, key::kAgeMs, 0), 3));
  w.family("stallwatch_heartbeat_lateness_max_seconds", "gauge",
           "Largest heartbeat wakeup lateness seen on the CPU since its heartbeat started.");
  for (const json* c : cpus)
    w.sample("stallwatch_heartbeat_lateness_max_seconds", cpu_label(get_or<int>(*c, key::kCpu, -1)),
             decimal(get_or<std::int64_t>(*c, key::kLateMaxUs, 0), 6));

  // One histogram per host, folded from the per-CPU log2 histograms.
  std::vector<std::uint64_t> hist;
  for (const json* c : cpus) {
    auto h = c->find(key::kLateHistLog2Ns);
    if (h == c->end() || !h->is_array()) continue;
    if (hist.size() < h->size()) hist.resize(h->size());
    for (std::size_t k = 0; k < h->size(); ++k)
      if ((*h)[k].is_number_unsigned()) hist[k] += (*h)[k].get<std::uint64_t>();
  }
  w.family(
      "stallwatch_heartbeat_lateness_seconds", "histogram",
      "Heartbeat wakeup lateness, all CPUs of the host. _sum is estimated from bucket midpoints "
      "(the daemon keeps log2 buckets, not exact sums).");
  std::uint64_t cumulative = 0;
  std::size_t k = 0;
  double sum_s = 0;
  // The midpoint 1.5 * 2^i as a double: a file may hold more than 64 buckets, where a shift of
  // a 64-bit integer is undefined (found by fuzz_status_render).
  for (std::size_t i = 0; i < hist.size(); ++i)
    sum_s += static_cast<double>(hist[i]) *
             (i == 0 ? 1.0 : std::ldexp(1.5, static_cast<int>(std::min<std::size_t>(i, 4096)))) /
             1e9;
  for (int e : kLatenessLeLog2Ns) {
    for (; k < hist.size() && static_cast<int>(k) + 1 <= e; ++k) cumulative += hist[k];
    w.sample("stallwatch_heartbeat_lateness_seconds_bucket",
             fmt::format("le=\"{}\"", decimal(static_cast<std::int64_t>(std::int64_t{1} << e), 9)),
             fmt::format("{}", cumulative));
  }
  for (; k < hist.size(); ++k) cumulative += hist[k];
  w.sample("stallwatch_heartbeat_lateness_seconds_bucket", "le=\"+Inf\"",
           fmt::format("{}", cumulative));
  w.sample("stallwatch_heartbeat_lateness_seconds_sum", "", fmt::format("{}", sum_s));
  w.sample("stallwatch_heartbeat_lateness_seconds_count", "", fmt::format("{}", cumulative));

  w.family(
      "stallwatch_global_pauses_total", "counter",
      "Times the whole machine was frozen (VM pause, SMI, suspend): ages re-baselined, no stall.");
  w.sample("stallwatch_global_pauses_total", "",
           fmt::format("{}", get_or<std::uint64_t>(status, key::kGlobalPausesTotal, 0)));
  w.family("stallwatch_escalations_total", "counter",
           "Stalls that lasted escalation.after and were handed to the configured action (dry runs "
           "too).");
  if (auto e = status.is_object() ? status.find(key::kEscalationsTotal) : status.end();
      status.is_object() && e != status.end() && e->is_object())
    for (const auto& [action, n] : e->items())
      if (n.is_number_unsigned())
        w.sample("stallwatch_escalations_total", fmt::format("action=\"{}\"", escape_label(action)),
                 fmt::format("{}", n.get<std::uint64_t>()));
  w.family(
      "stallwatch_watchdog_armed", "gauge",
      "1 while the hardware watchdog (watchdog.device) is armed, 0 if configured but not armed; "
      "no sample when none is configured.");
  if (auto a = status.is_object() ? status.find(key::kWatchdogArmed) : status.end();
      status.is_object() && a != status.end() && a->is_boolean())
    w.sample("stallwatch_watchdog_armed", "", a->get<bool>() ? "1" : "0");
  w.family("stallwatch_reports_dropped_total", "counter",
           "Stall events dropped because the report queue was full (not journaled, no report).");
  w.sample("stallwatch_reports_dropped_total", "",
           fmt::format("{}", get_or<std::uint64_t>(status, key::kEventsDropped, 0)));
  w.family("stallwatch_config_reload_failures_total", "counter",
           "Configuration reloads (SIGHUP) rejected; the previous configuration stays in force.");
  w.sample("stallwatch_config_reload_failures_total", "",
           fmt::format("{}", get_or<std::uint64_t>(status, key::kConfigReloadFailuresTotal, 0)));
  return w.take();
}

}  // namespace stallwatch::metrics
