// SPDX-License-Identifier: GPL-2.0-or-later
// EscalationActor with a real thread: the check's request is taken at once and only once, and
// pending() holds until it is (the check sends no WATCHDOG=1 meanwhile). Bounded waits only.
#include "stallwatch/daemon/escalation_actor.h"

#include <chrono>
#include <mutex>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

namespace stallwatch::daemon {
namespace {

template <typename F>
bool wait_until(F f, std::chrono::milliseconds limit = std::chrono::milliseconds(2000)) {
  const auto end = std::chrono::steady_clock::now() + limit;
  while (!f()) {
    if (std::chrono::steady_clock::now() > end) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

TEST(EscalationActor, TakesTheFirstRequestOnceAndIsPendingUntilThen) {
  std::mutex mu;
  std::vector<StallEvent> acted;
  std::atomic<bool> release{false};
  EscalationActor actor([&](const StallEvent& e) {
    while (!release.load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    std::lock_guard lock(mu);
    acted.push_back(e);
  });
  ASSERT_TRUE(actor.start(1, /*allow_other=*/true).ok());  // SCHED_OTHER when not root
  EXPECT_FALSE(actor.pending());
  CheckEvent e;
  e.kind = EventKind::kEscalation;
  e.cpu = 1;
  e.stall_ns = 20'000'000'000;
  e.episode = 7;
  actor.request(0, e);  // no relays routed: a plain wake
  EXPECT_TRUE(actor.pending()) << "the action is being taken: no WATCHDOG=1";
  CheckEvent other = e;
  other.cpu = 0;
  actor.request(0, other);  // later escalations are not taken again
  release.store(true);
  ASSERT_TRUE(wait_until([&] { return actor.taken(); }));
  EXPECT_FALSE(actor.pending());
  {
    std::lock_guard lock(mu);
    ASSERT_EQ(acted.size(), 1u);
    EXPECT_EQ(acted[0].kind, EventKind::kEscalation);
    EXPECT_EQ(acted[0].cpu, 1);
    EXPECT_EQ(acted[0].episode, 7u);
    EXPECT_EQ(acted[0].stall_ns, 20'000'000'000);
  }
  EXPECT_TRUE(actor.stop(INT64_MAX / 2));
}

}  // namespace
}  // namespace stallwatch::daemon
