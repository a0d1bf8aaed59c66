// SPDX-License-Identifier: GPL-2.0-or-later
// Config: the daemon's settings as plain structs, parsed from TOML and validated in one place.
// Built by load_config()/parse_config() on the main thread (startup, SIGHUP), then handed by value
// to the check (through CheckRunner's settings hand-off), which applies it at the start of its
// next run, on whichever heartbeat runs it. Never shared mutably.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "stallwatch/core/result.h"

namespace stallwatch {

using Nanos = std::chrono::nanoseconds;

inline constexpr const char* kDefaultConfigPath = "/etc/stallwatch/stallwatch.toml";

struct HeartbeatConfig {
  Nanos interval = std::chrono::milliseconds(500);
  int priority = 99;              // SCHED_FIFO priority, 1..99
  std::string cpus = "all";       // "all" or a cpulist ("0-3,8")
  bool include_isolated = false;  // monitor nohz_full/isolated CPUs too
  bool allow_degraded = false;    // run SCHED_OTHER heartbeats when SCHED_FIFO is not permitted
  std::size_t stack_kib = 16;     // per heartbeat thread (locked by mlockall; glibc's minimum)
};

struct CheckerConfig {
  // Longest gap between check deadlines (a backstop). Not in the file: min(1 s, threshold / 2,
  // pause_tolerance).
  Nanos interval = std::chrono::seconds(1);
  Nanos threshold = std::chrono::seconds(2);
  Nanos repeat_interval = std::chrono::seconds(10);
  // A tick later than this means the checker itself was frozen: a global pause.
  Nanos pause_tolerance = std::chrono::milliseconds(1000);
};

struct LogConfig {
  std::string level = "info";  // trace, debug, info, warn, error, critical, off
};

struct DaemonConfig {
  std::string state_dir = "/var/lib/stallwatch";
  std::string runtime_dir = "/run/stallwatch";
  // The daemon's code moved into one 2 MiB huge page at start (daemon/huge_text.h). Off by
  // default: it needs MemoryDenyWriteExecute=no, and leaves anonymous executable memory.
  bool huge_code = false;
};

struct EvidenceConfig {
  bool enabled = true;
  bool sysrq_backtrace = true;
  Nanos sysrq_min_interval = std::chrono::seconds(60);  // system-wide rate limit (it NMIs all CPUs)
  Nanos sysrq_wait = std::chrono::milliseconds(300);    // how long to wait for the backtrace
  Nanos budget = std::chrono::milliseconds(1000);       // whole collection, sysrq included
  Nanos ongoing_min_interval =
      std::chrono::seconds(30);  // re-collect on ongoing at most this often
  int max_reports = 200;
  std::int64_t max_report_bytes = 64ll * 1024 * 1024;  // all reports together
};

enum class EscalationAction { kNone, kWatchdogDevice, kSystemd, kPanic };
std::string_view to_string(EscalationAction action);

struct EscalationConfig {
  EscalationAction action = EscalationAction::kNone;
  Nanos after = std::chrono::seconds(60);
  bool dry_run = false;
  bool allow_panic = false;
};

struct WatchdogConfig {
  std::string device;  // "" = do not own a hardware watchdog
  Nanos timeout = std::chrono::seconds(30);
  Nanos pretimeout = Nanos::zero();  // 0 = leave as is
  std::string pretimeout_governor;   // "" = leave as is
  // SCHED_FIFO priority of the watchdog feeder and the escalation actor threads
  // (checker.priority in 0.1.0, still read with a warning; the check itself runs on the
  // heartbeats and has no thread of its own).
  int feeder_priority = 99;
};

// Prometheus metrics through node_exporter's textfile collector (stallwatchd(8), METRICS AND
// ALERTS).
inline constexpr const char* kAutoTextfile = "/var/lib/prometheus/node-exporter/stallwatch.prom";
struct MetricsConfig {
  std::string textfile = "auto";  // "auto": kAutoTextfile when its directory exists; "": off
  Nanos interval = std::chrono::seconds(60);
};

// The flight recorder (evidence/timeline/): an ftrace instance of its own recording, per CPU, the
// last seconds of context switches, hard IRQs and softirqs; every stall report carries the
// stalled CPU's timeline from `seconds` before its last heartbeat to the detection.
struct TimelineConfig {
  // Off by default: on this project's VM it costs about 0.6 us per context switch (docs/
  // timeline-cost.md), above the 1 % the issue set for a scheduler-heavy benchmark.
  bool enabled = false;
  Nanos seconds = std::chrono::seconds(2);  // before the last heartbeat, 1..10 s
  std::size_t buffer_kib = 512;             // kernel ring buffer per CPU, 16..16384 KiB
};

struct Config {
  std::string source = "<defaults>";  // file it came from
  // What the file should change but that still works ("FILE:LINE:COL: key: message"), such as
  // a deprecated key; the caller shows them (stallwatchctl check-config, the daemon's log).
  std::vector<std::string> warnings;
  HeartbeatConfig heartbeat;
  CheckerConfig checker;
  LogConfig log;
  DaemonConfig daemon;
  EvidenceConfig evidence;
  EscalationConfig escalation;
  WatchdogConfig watchdog;
  MetricsConfig metrics;
  TimelineConfig timeline;
};

// Parses TOML text; errors read "FILE:LINE:COL: key: message".
Result<Config> parse_config(std::string_view text, const std::string& file_name);
// Reads and parses a file. A missing file at the default path yields the defaults; a missing file
// named explicitly (required = true) is an error.
Result<Config> load_config(const std::string& path, bool required);
// The effective configuration as TOML (--print-config).
std::string format_config(const Config& config);
// A TOML basic string ("...") holding s: quote, backslash and control bytes escaped; bytes that
// are not UTF-8 become \uFFFD, so the output always parses.
std::string toml_quote(std::string_view s);

// "500ms", "2s", "1m", "1.5s", "250us" -> nanoseconds.
Result<Nanos> parse_duration(std::string_view text);
std::string format_duration(Nanos d);

}  // namespace stallwatch
