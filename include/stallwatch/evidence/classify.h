// SPDX-License-Identifier: GPL-2.0-or-later
// Stall classification: a pure function from the gathered Evidence to exactly one class and the
// evidence that decided it. Called by EvidenceEngine::collect() on the report worker thread and by
// the unit tests on fixture evidence. The rules, first match wins:
//   global-pause           the checker itself was frozen (EventKind::kGlobalPause)
//   interrupts-off         the CPU's LOC count and /proc/stat times did not move over a window
//                          inside the stall; or at least 80 % of the stall's part of the
//                          window (>= 400 ms) is missing from the CPU's
//                          /proc/stat times (no tick counted it busy, nohz did not count it
//                          idle); or the kernel reported a hard LOCKUP on it
//   hypervisor-steal       steal time >= 80 % of the stall window
//   irq-storm              hardirq + softirq > 50 % of the CPU's time, or one IRQ (not LOC) fired
//                          >= 10,000/s and made >= 80 % of the CPU's interrupts
//   rt-hog                 the task on the CPU is SCHED_FIFO/RR at priority >= the heartbeat's
//                          (or SCHED_DEADLINE)
//   kernel-nonpreemptible  the CPU's NMI backtrace shows a kernel RIP (not idle), the kernel
//                          reported a soft lockup / RCU stall on it, or the running task's
//                          syscall reads "running" while system time is >= 80 % of the CPU
//   unknown                none of the above; the reason says what was seen
#pragma once

#include <string>

#include "stallwatch/evidence/evidence.h"

namespace stallwatch::evidence {

inline constexpr double kStealShare = 0.8;
inline constexpr double kIrqShare = 0.5;
inline constexpr double kIrqStormRatePerSec = 10'000;
inline constexpr double kIrqDominantShare = 0.8;
inline constexpr double kSystemShare = 0.8;
inline constexpr double kUnaccountedShare = 0.8;
inline constexpr std::int64_t kUnaccountedMinNs = 400'000'000;

struct Classification {
  std::string stall_class = "unknown";
  std::string reason;
  int culprit = -1;     // index into Evidence::tasks, -1 for none
  std::string handler;  // set from the timeline when an IRQ handler, not a task, held the CPU
};

Classification classify(const Evidence& ev);

// The culprit from the flight recorder's timeline when it shows one: the task that held the
// stalled CPU through at least half of the silence after its last heartbeat. It becomes the
// culprit of rt-hog, kernel-nonpreemptible and unknown stalls (the class keeps its own evidence
// rules); a task gone by the time of the scan is added to ev->tasks from the timeline. When the
// CPU went silent inside a hard-IRQ or softirq handler, no task is the culprit: cls->handler
// names the handler instead (whatever task the handler interrupted).
void culprit_from_timeline(Evidence* ev, Classification* cls);

// The part of the counter window that overlaps the stall, for shares of "the stall".
std::int64_t stall_window_ns(const Evidence& ev);

// Over a "before-stall" or "inside-stall" window: the time missing from the CPU's /proc/stat times
// when it is at least kUnaccountedShare of the stall's part of the window (itself >=
// kUnaccountedMinNs), else 0.
std::int64_t unaccounted_stall_ns(const Evidence& ev);

}  // namespace stallwatch::evidence
