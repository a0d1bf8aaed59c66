// SPDX-License-Identifier: GPL-2.0-or-later
#include "stallwatch/daemon/escalation_actor.h"

namespace stallwatch::daemon {

EscalationActor::EscalationActor(std::function<void(const StallEvent&)> act)
    : act_(std::move(act)) {}

EscalationActor::~EscalationActor() { (void)stop(0); }

void EscalationActor::request(int cpu, const CheckEvent& e) noexcept {
  // One writer (the check owner); the mailbox is written only while empty.
  if (state_.load(std::memory_order_relaxed) != kEmpty) return;
  posted_ = e;
  state_.store(kPosted, std::memory_order_release);
  wake_on(cpu);
}

void EscalationActor::serve() {
  if (state_.load(std::memory_order_acquire) != kPosted) return;
  act_(to_stall_event(posted_));
  state_.store(kTaken, std::memory_order_release);
}

}  // namespace stallwatch::daemon
