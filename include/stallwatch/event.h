// StallEvent: what the checker decided on one tick for one CPU (or for the whole system).
// Produced by Checker::tick() on the checker thread, moved through the report queue to the
// report worker thread, which enriches stalls with evidence and hands them to the sinks.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace stallwatch {

enum class EventKind {
  kStall,        // a CPU's heartbeat age crossed the threshold
  kOngoing,      // still stalled, repeat_interval after the previous report
  kRecovered,    // the heartbeat stamped again; stall_ns is the whole episode
  kGlobalPause,  // the checker itself was frozen (VM pause, SMI, suspend): ages re-baselined
  kEscalation,   // a stall lasted escalation.after: the configured action is (or would be) taken
};

std::string_view to_string(EventKind kind);

struct StallEvent {
  EventKind kind = EventKind::kStall;
  int cpu = -1;                 // -1 for system-wide events
  std::int64_t stall_ns = 0;    // age of the stamp (stall/ongoing), episode length (recovered),
                                // length of the pause (global-pause)
  std::int64_t threshold_ns = 0;
  std::int64_t detected_mono_ns = 0;  // CLOCK_MONOTONIC when the checker decided
  std::int64_t stall_start_mono_ns = 0;  // the CPU's last stamp: when the stall began
  std::uint64_t episode = 0;    // per-daemon episode counter, stable across ongoing/recovered
  std::string note;             // free text (global pause reason, escalation action, ...)
};

}  // namespace stallwatch
