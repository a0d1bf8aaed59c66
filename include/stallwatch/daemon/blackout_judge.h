// SPDX-License-Identifier: GPL-2.0-or-later
// BlackoutJudge: freeze or stall? When every heartbeat was silent together (a blackout, see
// checker.h), timing says nothing about why. The evidence is each heartbeat thread's run-queue
// wait (`/proc/self/task/<tid>/schedstat`, second field, ns): a heartbeat held off by a stalled
// CPU was woken on time and waited runnable on its CPU for most of the blackout (an RT hog, a
// kernel spin with preemption off, stop_machine's stopper); a heartbeat of a frozen monitor
// (SIGSTOP, the cgroup freezer, a debugger) was not runnable, and one of a paused VM was asleep
// with its timer not yet fired, so neither waited. Some heartbeat waited at least half the
// blackout: a stall (starved). None did: a freeze.
// The root of a cascade: stop_machine() holds every other CPU in its stopper with interrupts on,
// so their heartbeats are woken on time and wait, while the CPU holding it up with interrupts off
// takes no timer interrupt, and its heartbeat is not woken until the end. One judged heartbeat
// that waited under an eighth of the blackout while another waited half of it names that CPU
// (root_cpu): the evidence the check needs where stamps cannot order the silences (all within
// one heartbeat interval, checker.h). None or several such heartbeats: no root is named.
// A wait is only complete once its heartbeat has run again (the kernel adds a wait to schedstat
// when the task gets the CPU): a heartbeat that has not stamped since the blackout began reads
// short. The dispatcher waits until settled() (every heartbeat has run since), for a bound; a
// heartbeat still silent then counts as not woken: it is the root if it alone is (a stall still
// going on, reported by its age; the verdict names it so no held CPU is taken for it).
// What it cannot tell apart: a stall with interrupts off on every silent CPU at once (the
// heartbeats' timers do not fire, so they never wait) reads as a freeze; and a VM pause whose
// time the guest's scheduler clock sees, while a heartbeat was already starved, counts as stall.
// Baselines are read at every status pass and after each verdict: the run-queue wait a healthy
// heartbeat adds between two reads is microseconds a wakeup, far below half a blackout. The last
// kGenerations reads are kept and a verdict uses the newest one from before the blackout: a status
// pass can run after the heartbeats are back and before the check has posted the blackout (its
// timer expired during it), and must not leave the verdict without a baseline (seen in QEMU: a
// stop_machine() cascade judged a freeze, "no heartbeat's run-queue wait could be read").
// Threads: the dispatcher's only.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "stallwatch/core/heartbeat_slot.h"
#include "stallwatch/core/sysroot.h"

namespace stallwatch::daemon {

struct BlackoutVerdict {
  bool starved = false;
  int starved_cpu = -1;            // the heartbeat that waited longest, if starved
  std::int64_t waited_ns = 0;      // its run-queue wait during the blackout
  int judged = 0;                  // heartbeats with a baseline from before the blackout
  int root_cpu = -1;               // if starved: the one heartbeat not woken through it (see above)
  bool root_still_silent = false;  // root_cpu has not run since the blackout began
  std::string why;                 // one line for the log
  std::string waits;               // each heartbeat's wait, for the log, up to kListedWaits CPUs
};

inline constexpr std::size_t kListedWaits = 16;

// Pure: the verdict from each heartbeat's wait growth (ns, -1 = no usable baseline); not_run[cpu]:
// its heartbeat has not stamped since the blackout began (its wait is not complete).
BlackoutVerdict judge_blackout(const std::vector<std::int64_t>& waited_ns, std::int64_t length_ns,
                               const std::vector<bool>& not_run = {});

class BlackoutJudge {
 public:
  BlackoutJudge(Sysroot root, const HeartbeatSlot* slots, int count);
  // Baselines: every heartbeat's run-queue wait now.
  void sample(std::int64_t now_ns);
  // Every heartbeat has stamped since start_ns: each one's wait through the blackout is complete.
  bool settled(std::int64_t start_ns) const;
  // The verdict on a blackout of length_ns that began at start_ns; then re-samples.
  BlackoutVerdict judge(std::int64_t start_ns, std::int64_t length_ns, std::int64_t now_ns);

 private:
  static constexpr std::size_t kGenerations = 4;
  struct Baseline {
    int tid = 0;
    std::int64_t wait_ns = -1;
    std::int64_t read_ns = 0;
  };
  std::int64_t read_wait(int tid) const;
  // The newest usable baseline of a CPU from at or before start_ns, or nullptr.
  const Baseline* baseline_before(std::size_t cpu, int tid, std::int64_t start_ns) const;
  Sysroot root_;
  const HeartbeatSlot* slots_;
  std::size_t count_;
  std::size_t newest_ = 0;      // generation written last
  std::vector<Baseline> base_;  // [generation * count_ + cpu]
};

}  // namespace stallwatch::daemon
