// SPDX-License-Identifier: GPL-2.0-or-later
// Status document: the daemon's state as the JSON that stallwatchctl reads (status.json) and the
// systemd STATUS= line. Pure functions over a snapshot, so the content is unit-tested; built and
// written by the dispatcher (non-RT) thread only.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "stallwatch/core/checker.h"
#include "stallwatch/core/config.h"
#include "stallwatch/core/cpuset.h"
#include "stallwatch/core/heartbeat_slot.h"
#include "stallwatch/daemon/check_runner.h"

namespace stallwatch::daemon {

struct StatusCpu {
  int cpu = 0;
  CpuState state = CpuState::kUnmonitored;
  bool monitored = false;    // in the configured set (an offline one shows as "offline")
  std::int64_t last_ns = 0;  // last stamp
  std::uint64_t seq = 0;
  std::int64_t late_max_ns = 0;
  std::uint64_t stalls = 0;
  std::int64_t episode_start_ns = 0;
  std::vector<std::uint64_t> late_hist;
};

// An announced drill the dispatcher has posted to the check (`stallwatchctl drill` starts its hog
// once its pid is listed).
struct StatusDrill {
  int cpu = -1;
  int pid = 0;
  std::int64_t until_mono_ns = 0;
};

struct StatusInputs {
  std::string version;
  int pid = 0;
  std::int64_t now_mono_ns = 0;
  std::int64_t now_unix_ms = 0;
  bool degraded = false;
  std::string config;
  std::int64_t heartbeat_interval_ns = 0;
  std::int64_t threshold_ns = 0;
  std::uint64_t stalls_total = 0;
  std::uint64_t events_dropped = 0;
  std::uint64_t checks = 0;
  std::uint64_t check_hold_ns_total = 0;
  std::int64_t check_hold_max_ns = 0;
  std::int64_t last_check_ns = 0;
  std::uint64_t global_pauses = 0;
  std::uint64_t watchdog_pings_dropped = 0;
  std::uint64_t feeds_missed = 0;
  std::vector<StatusCpu> cpus;
  std::vector<StatusDrill> drills;
  // The escalation ladder (issue 19): what is configured, so the status says for a stalled or
  // suspect CPU how long until each action fires.
  std::string escalation_action = "none";
  std::int64_t escalation_after_ns = 0;
  bool escalation_dry_run = false;
  std::int64_t watchdog_timeout_ns = 0;  // the armed device's real timeout; 0 = none armed
};

// For a stalled (or suspect) CPU: ms until the report (0 once reported), until the escalation
// (-1 when none is configured, dry-run, or the CPU is drilled), until the hardware reset that
// follows a watchdog-device escalation (-1 otherwise). Pure.
struct Ladder {
  std::int64_t report_in_ms = 0;
  std::int64_t escalation_in_ms = -1;
  std::int64_t reset_in_ms = -1;
};
Ladder ladder_for(const StatusInputs& in, const StatusCpu& c);

// Reads one CPU's slot into a StatusCpu (relaxed: statistics).
StatusCpu status_cpu_from_slot(int cpu, const HeartbeatSlot& slot);

nlohmann::json status_document(const StatusInputs& in);
// "monitoring 2 CPUs, threshold 2s; stalls so far: 0; stalled now: none"
std::string status_line(const StatusInputs& in);

// What status_snapshot() reads: the running configuration and the live state, owned by the
// Daemon. The caller (the dispatcher thread, through the Daemon) keeps config and monitored from
// changing while it runs; the rest is atomics read relaxed.
struct StatusSources {
  std::string version;
  int pid = 0;
  const Config* config = nullptr;
  const CpuList* monitored = nullptr;
  const HeartbeatSlot* slots = nullptr;  // slot_count of them
  int slot_count = 0;
  const PublishedState* published = nullptr;
  bool degraded = false;
  std::uint64_t events_dropped = 0;          // the report worker's
  std::uint64_t watchdog_pings_dropped = 0;  // the notifier's
  std::int64_t watchdog_timeout_ns = 0;      // the armed device's; 0 = none armed
  std::vector<StatusDrill> drills;
};

// The daemon's state at now_mono_ns (and now_unix_ms, for the reader's clock) as the inputs of
// status_document() and status_line().
StatusInputs status_snapshot(const StatusSources& src, std::int64_t now_mono_ns,
                             std::int64_t now_unix_ms);

}  // namespace stallwatch::daemon
