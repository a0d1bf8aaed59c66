// SPDX-License-Identifier: GPL-2.0-or-later
// StatusView: stallwatchctl's reading of the daemon's status file (<runtime_dir>/status.json,
// rewritten atomically by stallwatchd at most once a second). Parsing, liveness and formatting
// are pure functions over text and times so tests drive them with captured files; only
// read_status_file() and pid_is_stallwatchd() touch the system. Single-threaded (stallwatchctl).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "stallwatch/core/result.h"
#include "stallwatch/core/sysroot.h"

namespace stallwatch::ctl {

inline constexpr int kLateHistBuckets = 40;  // bucket k = lateness in [2^k, 2^(k+1)) ns

struct CpuStatus {
  int cpu = -1;
  std::string state = "unknown";  // starting | healthy | stalled | offline
  std::int64_t age_ms = 0;
  std::uint64_t seq = 0;
  std::int64_t late_max_us = 0;
  std::int64_t late_p99_us = -1;  // -1: not in the file (computed from the histogram instead)
  std::uint64_t stalls = 0;
  std::int64_t episode_ms = 0;
  std::vector<std::uint64_t> late_hist_log2_ns;
  // The escalation ladder of a stalled or suspect CPU (ms; -1 = not in the file / not configured).
  bool have_ladder = false;
  std::int64_t report_in_ms = -1, escalation_in_ms = -1, reset_in_ms = -1;
};

struct StatusSnapshot {
  std::string version;
  int pid = 0;
  std::int64_t updated_mono_ns = 0;
  std::int64_t updated_unix_ms = 0;
  bool degraded = false;
  std::string config;
  std::int64_t heartbeat_interval_ms = 0;
  std::int64_t threshold_ms = 0;
  std::uint64_t stalls_total = 0;
  std::uint64_t events_dropped = 0;
  std::vector<CpuStatus> cpus;
  std::vector<int> drill_pids;
  std::string escalation_action;  // "" when the file does not say  // announced drills the daemon
                                  // has posted to its check

  const CpuStatus* find_cpu(int cpu) const;
};

// Tolerates missing and extra fields; fails only on text that is not a JSON object.
Result<StatusSnapshot> parse_status(std::string_view text);

// Upper bound (µs, rounded up) of the bucket holding the q-quantile of a log2 lateness histogram;
// 0 for an empty histogram.
std::int64_t hist_quantile_us(const std::vector<std::uint64_t>& hist_log2_ns, double q);
// The file's p99 if present, else computed from the histogram; capped at the max seen.
std::int64_t cpu_p99_us(const CpuStatus& cpu);

enum class Liveness { kRunning, kStale, kNotRunning };

struct LivenessVerdict {
  Liveness liveness = Liveness::kNotRunning;
  std::int64_t age_ms = 0;  // since the last update
  std::string message;      // why, for humans (empty when running)
};

// The daemon rewrites status.json on every change, on request (status.request) and at least
// every 60 s; stallwatchctl asks for a fresh one first, so an older file means a hung daemon.
inline constexpr std::int64_t kStaleAfterMs = 150000;

// pid_alive: whether snapshot.pid is a live stallwatchd. Times: CLOCK_MONOTONIC ns and
// CLOCK_REALTIME ms now (the monotonic stamp is preferred; it does not jump).
LivenessVerdict assess_liveness(const StatusSnapshot& s, bool pid_alive, std::int64_t now_mono_ns,
                                std::int64_t now_unix_ms, const std::string& path);

// Human table: a header line, then one line per CPU.
std::string format_status(const StatusSnapshot& s, const LivenessVerdict& v);
// Machine form: the snapshot plus liveness and computed p99 per CPU (JSON text).
std::string format_status_json(const StatusSnapshot& s, const LivenessVerdict& v);

// Whether /proc/<pid> exists and its comm is stallwatchd (guards against pid reuse).
bool pid_is_stallwatchd(const Sysroot& root, int pid);

std::string format_ms(std::int64_t ms);  // "850ms", "2.4s", "3m05s"
std::string format_us(std::int64_t us);  // "45us", "1.2ms", "3.5s"

}  // namespace stallwatch::ctl
