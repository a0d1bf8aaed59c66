// SPDX-License-Identifier: GPL-2.0-or-later
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

// Why a global pause was declared (CheckEvent carries no text: it crosses the lock-free ring).
enum class PauseCause : std::uint8_t { kNone, kSuspend, kFreeze };

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
  bool owner_stuck = false;     // reported by a bystander: the CPU froze while running the check
};

// What the check produces, as plain data: built on the real-time path without allocating and
// handed through the lock-free EventRing to the dispatcher, which turns it into a StallEvent.
struct CheckEvent {
  EventKind kind = EventKind::kStall;
  int cpu = -1;
  PauseCause pause_cause = PauseCause::kNone;
  bool owner_stuck = false;
  std::int64_t stall_ns = 0;
  std::int64_t threshold_ns = 0;
  std::int64_t detected_mono_ns = 0;
  std::int64_t stall_start_mono_ns = 0;
  std::uint64_t episode = 0;
};

// The StallEvent of a CheckEvent, with its note written out (non-RT side).
StallEvent to_stall_event(const CheckEvent& e);

}  // namespace stallwatch
