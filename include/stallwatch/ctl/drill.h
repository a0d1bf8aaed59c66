// SPDX-License-Identifier: GPL-2.0-or-later
// Drill: `stallwatchctl drill`, a fire drill proving the whole pipeline on this host. A child
// process busy-loops under SCHED_FIFO at the heartbeat's priority, pinned to one CPU, for a
// bounded time (its own clock, RLIMIT_RTTIME, PR_SET_PDEATHSIG, and the parent's kill as a last
// resort); the drill passes when the daemon's status file shows a new stall on that CPU.
// The hog is announced to the daemon in <runtime_dir>/drills/<pid>.json (see
// escalation/drill_announcement.h) so that the daemon reports the stall but never escalates it.
// validate_drill() is pure; run_drill() forks and waits. Single-threaded (stallwatchctl).
#pragma once

#include <cstdint>
#include <string>

#include "stallwatch/core/config.h"
#include "stallwatch/core/result.h"

namespace stallwatch::ctl {

inline constexpr double kDrillMaxSecondsUnforced = 30.0;

struct DrillRequest {
  int cpu = -1;
  double duration_s = 0;
  bool force = false;
};

struct DrillPlan {
  int cpu = -1;
  std::int64_t duration_ns = 0;
  int priority = 99;              // the heartbeat's SCHED_FIFO priority
  std::int64_t threshold_ms = 0;  // from the running daemon
  std::string status_path;
  std::string runtime_dir;        // where the drill is announced (drills/<hog pid>.json)
  bool escalation_armed = false;  // a real escalation is configured: the announcement is a must
};

// Checks the request against the rules (never CPU 0 or more than 30 s without --force; the CPU
// must be monitored by the running daemon; the hog must outlast the threshold so that the
// daemon can notice it). online_cpus: number of configured CPUs (sysconf).
Result<DrillPlan> validate_drill(const DrillRequest& req, int heartbeat_priority,
                                 std::int64_t threshold_ms, std::int64_t checker_interval_ms,
                                 bool cpu_monitored, int cpu_count);

// What the configured escalation would do to a real stall of `duration_s`, and that a drill
// skips it; one line for the operator, e.g. "escalation: action = \"systemd\" after 2s: for a
// real stall stallwatchd would send WATCHDOG=trigger to systemd (...); this drill is announced
// to stallwatchd, which skips it".
std::string describe_drill_escalation(const Config& config, double duration_s);

struct DrillOutcome {
  bool reported = false;
  bool acknowledged = false;  // the daemon listed the announcement before the hog started
  std::uint64_t stalls_before = 0;
  std::uint64_t stalls_after = 0;
  std::int64_t hog_ran_ns = 0;
  std::string message;
};

// Runs the hog and watches the status file. Blocks for about duration + threshold.
Result<DrillOutcome> run_drill(const DrillPlan& plan);

}  // namespace stallwatch::ctl
