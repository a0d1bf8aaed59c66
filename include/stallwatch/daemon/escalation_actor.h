// SPDX-License-Identifier: GPL-2.0-or-later
// EscalationActor: the thread (sw-escalate) that takes an escalation's action as soon as the
// check finds it due, so that nothing on the reporting side (evidence collection of this or
// other CPUs, a journald that stopped reading, a full report queue) can hold it back or drop it
// (issue 19). The check hands it the escalation through a one-shot mailbox (the action is taken
// once per daemon lifetime) and wakes it on the checking CPU through that CPU's relay, as it does
// the feeder (woken_thread.h); the actor calls the EscalationControl (persist the reset reason,
// bounded to 1 s, then act) and marks the mailbox taken. While an escalation is posted and not yet
// taken, the check sends no WATCHDOG=1: a daemon that cannot act must not look healthy to systemd.
// Threads: request()/pending() from the check (non-blocking, no allocation); the actor thread;
// route()/start()/stop() from the supervisor.
#pragma once

#include <atomic>
#include <functional>

#include "stallwatch/core/event.h"
#include "stallwatch/daemon/woken_thread.h"

namespace stallwatch::daemon {

class EscalationActor final : public WokenThread {
 public:
  // act() takes the action for the escalation (EscalationControl::take_now); it may block (the
  // persist is bounded, the act is one write or sd_notify).
  explicit EscalationActor(std::function<void(const StallEvent&)> act);
  ~EscalationActor() override;

  Status start(int priority, bool allow_other) {
    return WokenThread::start("sw-escalate", priority, allow_other);
  }
  // The check, for an escalation it found due (not a drill): the first one is posted and the
  // actor woken on `cpu`; later ones are ignored (the action is taken once).
  void request(int cpu, const CheckEvent& e) noexcept;
  // Posted and not yet taken.
  bool pending() const noexcept { return state_.load(std::memory_order_acquire) == kPosted; }
  bool taken() const noexcept { return state_.load(std::memory_order_acquire) == kTaken; }

 private:
  static constexpr int kEmpty = 0, kPosted = 1, kTaken = 2;
  void serve() override;
  std::function<void(const StallEvent&)> act_;
  CheckEvent posted_{};  // written by the check before kPosted (release)
  std::atomic<int> state_{kEmpty};
};

}  // namespace stallwatch::daemon
