// SPDX-License-Identifier: GPL-2.0-or-later
// EscalationActor: the thread (sw-escalate) that takes an escalation's action as soon as the
// check finds it due, so that nothing on the reporting side (evidence collection of this or
// other CPUs, a journald that stopped reading, a full report queue) can hold it back or drop it
// (issue 19). The check hands it the escalation through a one-shot mailbox (the action is taken
// once per daemon lifetime) and wakes it on the checking CPU through that CPU's relay (RtWake),
// as it does the feeder; the actor calls the Escalation (persist the reset reason, bounded to
// 1 s, then act) and marks the mailbox taken. While an escalation is posted and not yet taken,
// the check sends no WATCHDOG=1: a daemon that cannot act must not look healthy to systemd.
// Threads: request()/pending() from the check (non-blocking, no allocation); the actor thread;
// route()/start()/stop() from the supervisor.
#pragma once

#include <pthread.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <vector>

#include "stallwatch/event.h"
#include "stallwatch/result.h"
#include "stallwatch/rt_wake.h"

namespace stallwatch {

class EscalationActor {
 public:
  // act() takes the action for the escalation (Escalation::take_now); it may block (the persist
  // is bounded, the act is one write or sd_notify).
  explicit EscalationActor(std::function<void(const StallEvent&)> act);
  ~EscalationActor();
  EscalationActor(const EscalationActor&) = delete;
  EscalationActor& operator=(const EscalationActor&) = delete;

  Status start(int priority, bool allow_other);
  void route(HeartbeatManager& relays) { wake_.route(relays); }
  // As Feeder::set_spread: the actor runs anywhere once woken (the persist waits up to 1 s).
  void set_spread(std::vector<int> cpus) { spread_ = std::move(cpus); }
  // The check, for an escalation it found due (not a drill): the first one is posted and the
  // actor woken on `cpu`; later ones are ignored (the action is taken once).
  void request(int cpu, const CheckEvent& e) noexcept;
  // Posted and not yet taken.
  bool pending() const noexcept { return state_.load(std::memory_order_acquire) == kPosted; }
  bool taken() const noexcept { return state_.load(std::memory_order_acquire) == kTaken; }
  // Bounded like the feeder's: false if the thread had to be abandoned (keep this object).
  bool stop(std::int64_t deadline_ns);

 private:
  static constexpr int kEmpty = 0, kPosted = 1, kTaken = 2;
  void run();
  std::function<void(const StallEvent&)> act_;
  std::vector<int> spread_;
  RtWake wake_;
  CheckEvent posted_{};            // written by the check before kPosted (release)
  std::atomic<int> state_{kEmpty};
  std::atomic<bool> stop_{false};
  pthread_t thread_{};
  bool started_ = false;
};

}  // namespace stallwatch
