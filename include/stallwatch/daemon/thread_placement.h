// SPDX-License-Identifier: GPL-2.0-or-later
// ThreadPlacement: keeps the daemon's non-real-time threads (dispatcher, report worker, evidence
// readers, counter sampler, logger, supervisor) off the CPUs whose heartbeat is late (suspect:
// more than threshold / 2 since its last stamp, or stalled), so that the stall report, the sysrq
// backtrace and the counter baselines never wait for the stalled CPU. A sleeping thread woken
// from a healthy CPU can otherwise be queued onto the CPU it last ran on, which cannot run it
// until the stall ends (a hard-IRQ handler that does not return, interrupts off).
// The dispatcher calls update() on every pass: it is itself woken on the checking CPU (RtWake),
// so it runs on a healthy CPU and moves the others before it wakes them. Heartbeats and their
// relays (pinned to their CPU), the feeder (moved by the relays) and the stop path's movers are
// left alone. Moving a thread that sleeps is
// immediate; one caught running on the stalled CPU makes update() wait until that CPU runs again
// (its work is frozen there anyway), which delays only this non-real-time thread.
// Threads: the dispatcher's.
#pragma once

#include <sys/types.h>

#include <functional>
#include <string_view>
#include <vector>

#include "stallwatch/daemon/check_runner.h"

namespace stallwatch::daemon {

// Calls fn with the id of every thread of this process (/proc/self/task) but the caller's.
// Used to place the helpers and, at exit, to gather every thread on one CPU.
void for_each_other_thread(const std::function<void(pid_t)>& fn);

// Pure: the CPUs helpers may use, allowed minus avoid; all of allowed when that leaves none.
std::vector<int> placement_cpus(const std::vector<int>& allowed, const std::vector<bool>& avoid);
// Pure: whether a thread of this name is placed by ThreadPlacement (not a heartbeat or feeder).
bool placed_thread(std::string_view comm);

class ThreadPlacement {
 public:
  // allowed: the CPUs the process may use (its affinity when the daemon started).
  ThreadPlacement(const PublishedState* published, int slots, std::vector<int> allowed);
  // pinned: the calling thread was pinned to one CPU by its waker; it is widened again.
  void update(bool pinned);
  const std::vector<int>& current() const { return current_; }
  std::uint64_t moves() const { return moves_; }

 private:
  const PublishedState* published_;
  std::vector<int> allowed_;
  std::vector<bool> avoid_;
  std::vector<int> current_;  // the CPUs helpers were last given
  std::uint64_t moves_ = 0;   // placements of the other threads done
};

}  // namespace stallwatch::daemon
