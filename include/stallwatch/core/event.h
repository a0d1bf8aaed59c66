// SPDX-License-Identifier: GPL-2.0-or-later
// StallEvent: what the check decided for one CPU (or for the whole system). Produced by
// Checker::tick_into() on the heartbeat that runs the check (as a CheckEvent), turned into a
// StallEvent by the dispatcher and moved through the report queue to the report worker thread,
// which enriches stalls with evidence and hands them to the sinks.
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
  kDisplaced,    // the CPU's heartbeat was found on another CPU (moved from outside): the CPU is
                 // not monitored until it is back (moved_to = the CPU it ran on; -1 = back)
  kBlackout,     // every heartbeat was silent for a while: freeze or stall? A question for the
                 // dispatcher, which judges it from evidence (never reaches a sink)
};

std::string_view to_string(EventKind kind);

// Why a global pause was declared (CheckEvent carries no text: it crosses the lock-free ring).
enum class PauseCause : std::uint8_t { kNone, kSuspend, kFreeze };

struct StallEvent {
  EventKind kind = EventKind::kStall;
  int cpu = -1;               // -1 for system-wide events
  std::int64_t stall_ns = 0;  // age of the stamp (stall/ongoing), episode length (recovered),
                              // length of the pause (global-pause)
  std::int64_t threshold_ns = 0;
  std::int64_t detected_mono_ns = 0;     // CLOCK_MONOTONIC when the checker decided
  std::int64_t stall_start_mono_ns = 0;  // the CPU's last stamp: when the stall began
  std::uint64_t episode = 0;    // per-daemon episode counter, stable across ongoing/recovered
  std::string note;             // free text (global pause reason, escalation action, ...)
  bool owner_stuck = false;     // the CPU froze while its heartbeat ran the check (taken over)
  int moved_to = -1;            // kDisplaced: the CPU the heartbeat ran on; -1 = back on its CPU
  int cascade_cpus = 0;         // kStall: other CPUs whose heartbeats were held up behind this one
  bool after_the_fact = false;  // kStall: found when it had already ended (every heartbeat was
                                // held up with it, so no check could run meanwhile)
  bool drill = false;           // kEscalation: the CPU was under an announced drill when the
                                // check found the escalation due: nothing acts on it
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
  std::uint64_t episode = 0;  // kBlackout: the blackout's id, for the verdict
  int moved_to = -1;
  int cascade_cpus = 0;
  bool after_the_fact = false;
  bool drill = false;
};

// The StallEvent of a CheckEvent, with its note written out (non-RT side).
StallEvent to_stall_event(const CheckEvent& e);

}  // namespace stallwatch
