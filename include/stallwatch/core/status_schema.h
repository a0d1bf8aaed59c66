// SPDX-License-Identifier: GPL-2.0-or-later
// Status schema: the one description of the daemon's status document (<runtime_dir>/status.json)
// shared by its writer (daemon/status_doc.cpp, plus the counters metrics/publisher.cpp adds) and
// its readers (ctl/status_view.cpp, metrics/exposition.cpp): every key as a named constant, the
// lateness-histogram quantile, and get_or(), the tolerant field getter every reader of a JSON
// file that may come from an older, newer or edited source uses. Pure; any thread.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

#include <nlohmann/json.hpp>

namespace stallwatch {

// The keys of status.json. Nesting: the top level holds the scalars, `escalation` (an object),
// `cpus` (an array of per-CPU objects, each with an optional `ladder` object) and `drills` (an
// array of objects). Times are in the unit their name ends with.
namespace status_key {
// Top level.
inline constexpr const char* kVersion = "version";
inline constexpr const char* kPid = "pid";
inline constexpr const char* kUpdatedMonoNs = "updated_mono_ns";
inline constexpr const char* kUpdatedUnixMs = "updated_unix_ms";
inline constexpr const char* kDegraded = "degraded";
inline constexpr const char* kConfig = "config";
inline constexpr const char* kHeartbeatIntervalMs = "heartbeat_interval_ms";
inline constexpr const char* kThresholdMs = "threshold_ms";
inline constexpr const char* kStallsTotal = "stalls_total";
inline constexpr const char* kEventsDropped = "events_dropped";
inline constexpr const char* kChecksTotal = "checks_total";
// Real-time time a check held its CPU (from the carrying heartbeat's wakeup to the check's end).
inline constexpr const char* kCheckHoldNsTotal = "check_hold_ns_total";
inline constexpr const char* kCheckHoldMaxUs = "check_hold_max_us";
inline constexpr const char* kLastCheckAgeMs = "last_check_age_ms";  // -1: no check yet
inline constexpr const char* kGlobalPausesTotal = "global_pauses_total";
inline constexpr const char* kWatchdogPingsDropped = "watchdog_pings_dropped";
inline constexpr const char* kWatchdogFeedsMissed = "watchdog_feeds_missed";
inline constexpr const char* kEscalation = "escalation";
inline constexpr const char* kCpus = "cpus";
inline constexpr const char* kDrills = "drills";
// Added by the metrics publisher (MetricsPublisher::add_fields).
inline constexpr const char* kEscalationsTotal = "escalations_total";  // {action: n}
inline constexpr const char* kWatchdogArmed = "watchdog_armed";        // bool, or null
inline constexpr const char* kConfigReloadFailuresTotal = "config_reload_failures_total";

// In `escalation`.
inline constexpr const char* kEscalationAction = "action";
inline constexpr const char* kEscalationAfterMs = "after_ms";
inline constexpr const char* kEscalationDryRun = "dry_run";
inline constexpr const char* kEscalationWatchdogTimeoutMs = "watchdog_timeout_ms";

// In each element of `cpus`.
inline constexpr const char* kCpu = "cpu";
inline constexpr const char* kState = "state";  // a CpuState name, or "offline"
inline constexpr const char* kAgeMs = "age_ms";
inline constexpr const char* kSeq = "seq";
inline constexpr const char* kLateMaxUs = "late_max_us";
inline constexpr const char* kLateP99Us = "late_p99_us";
inline constexpr const char* kStalls = "stalls";
inline constexpr const char* kEpisodeMs = "episode_ms";
inline constexpr const char* kLateHistLog2Ns = "late_hist_log2_ns";
inline constexpr const char* kLadder = "ladder";
// Added by the metrics publisher.
inline constexpr const char* kStallsByClass = "stalls_by_class";  // {class: n > 0}
inline constexpr const char* kStallMsTotal = "stall_ms_total";

// In a CPU's `ladder` (present for a stalled or suspect CPU; the last two only when they apply).
inline constexpr const char* kReportInMs = "report_in_ms";
inline constexpr const char* kEscalationInMs = "escalation_in_ms";
inline constexpr const char* kHardwareResetInMs = "hardware_reset_in_ms";

// In each element of `drills` (kCpu and kPid as above).
inline constexpr const char* kUntilMonoNs = "until_mono_ns";
}  // namespace status_key

// Values of a CPU's `state` that readers act on: to_string(CpuState) of its state, or "offline"
// for a configured CPU that has no heartbeat now (CpuState::kUnmonitored).
inline constexpr const char* kStatusStateOffline = "offline";
inline constexpr const char* kStatusStateStalled = "stalled";      // CpuState::kStalled
inline constexpr const char* kStatusStateDisplaced = "displaced";  // CpuState::kDisplaced

// The lateness histograms (`late_hist_log2_ns`): bucket k counts heartbeat wakeups late by
// [2^k, 2^(k+1)) ns.
//
// The bucket holding the rank-th smallest sample (rank from 1; clamped to [1, total]), or -1 for
// an empty histogram.
int hist_rank_bucket(const std::vector<std::uint64_t>& hist, std::uint64_t rank);
// The bucket holding the q-quantile by nearest rank (the ceil(q * total)-th smallest sample), or
// -1 for an empty histogram.
int hist_quantile_bucket(const std::vector<std::uint64_t>& hist, double q);
// status.json's `late_p99_us`: the largest lateness of the bucket holding the
// (floor(0.99 * total) + 1)-th smallest sample (2^(k+1) - 1 ns), in whole µs (truncated); 0 for
// an empty histogram. Its rank is one above hist_quantile_bucket(hist, 0.99)'s when 0.99 * total
// is a whole number: the daemon has always written it so, and the file does not change here.
std::int64_t status_late_p99_us(const std::vector<std::uint64_t>& hist);

namespace detail {

template <class T>
struct IsVector : std::false_type {};
template <class T, class A>
struct IsVector<std::vector<T, A>> : std::true_type {};

// v as T if it has T's JSON type. An integer read from a floating-point number must fit:
// converting 2.4e69 to a long is undefined behaviour, which nlohmann::json does not guard
// against. max() rounds up to a power of two as a double, so ">=" keeps the result in range.
template <class T>
bool read_as(const nlohmann::json& v, T& out) {
  if constexpr (std::is_same_v<T, bool>) {
    if (!v.is_boolean()) return false;
    out = v.get<bool>();
    return true;
  } else if constexpr (std::is_same_v<T, std::string>) {
    if (!v.is_string()) return false;
    out = v.get<std::string>();
    return true;
  } else if constexpr (std::is_integral_v<T>) {
    if (v.is_number_float()) {
      const double d = v.get<double>();
      if (!std::isfinite(d) || d < static_cast<double>(std::numeric_limits<T>::min()) ||
          d >= static_cast<double>(std::numeric_limits<T>::max()))
        return false;
      out = static_cast<T>(d);
      return true;
    }
    if (!v.is_number()) return false;
    out = v.get<T>();
    return true;
  } else if constexpr (std::is_floating_point_v<T>) {
    if (!v.is_number()) return false;
    out = v.get<T>();
    return true;
  } else if constexpr (IsVector<T>::value) {
    if (!v.is_array()) return false;
    T items;
    items.reserve(v.size());
    for (const auto& e : v) {
      typename T::value_type item{};
      if (!read_as(e, item)) return false;
      items.push_back(std::move(item));
    }
    out = std::move(items);
    return true;
  } else {
    static_assert(!sizeof(T), "get_or: bool, std::string, a number or a std::vector of them");
  }
}

}  // namespace detail

// j[key] as T when j is an object holding key with a value of T's JSON type (a boolean for bool,
// a string for std::string, a number for a number: an integer from a floating-point number only
// if it fits; an array of such for a std::vector), else fallback. j may be anything; never
// throws.
template <class T>
T get_or(const nlohmann::json& j, const char* key, T fallback) {
  if (!j.is_object()) return fallback;
  auto it = j.find(key);
  if (it == j.end()) return fallback;
  T out{};
  return detail::read_as(*it, out) ? out : fallback;
}

}  // namespace stallwatch
