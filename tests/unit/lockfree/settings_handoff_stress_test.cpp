// SPDX-License-Identifier: GPL-2.0-or-later
// CheckRunner's settings hand-off under real threads: the supervisor posts settings (a reload)
// over and over while a heartbeat runs checks that apply them. Every field of post k is derived
// from k, so a check that ran with a mix of two posts, or with a post it could not have been
// given yet, or went back to an older one, is caught. Bounded counts, no sleeps; under
// STALLWATCH_TSAN (ctest -L tsan) ThreadSanitizer also checks that the hand-off is free of data
// races (the seqlock it replaced was not: its reader copied while the writer wrote).
#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <thread>

#include "stallwatch/daemon/check_runner.h"

namespace stallwatch::daemon {
namespace {

constexpr std::int64_t kMs = 1'000'000;

RunnerSettings post_number(std::int64_t k) {
  RunnerSettings s;
  s.checker.interval_ns = 100 * kMs + k;
  s.checker.threshold_ns = 2000 * kMs + k;
  s.checker.repeat_ns = 10'000 * kMs + k;
  s.checker.pause_tolerance_ns = 1000 * kMs + k;
  s.checker.escalation_after_ns = 30'000 * kMs + k;
  s.checker.heartbeat_interval_ns = 500 * kMs + k;
  s.ping_period_ns = 1000 * kMs + k;
  return s;
}

// The post number the settings came from, or -1 when their fields disagree (torn).
std::int64_t post_of(const RunnerSettings& s) {
  const std::int64_t k = s.checker.interval_ns - 100 * kMs;
  return post_number(k).checker.threshold_ns == s.checker.threshold_ns &&
                 post_number(k).checker.repeat_ns == s.checker.repeat_ns &&
                 post_number(k).checker.pause_tolerance_ns == s.checker.pause_tolerance_ns &&
                 post_number(k).checker.escalation_after_ns == s.checker.escalation_after_ns &&
                 post_number(k).checker.heartbeat_interval_ns == s.checker.heartbeat_interval_ns &&
                 post_number(k).ping_period_ns == s.ping_period_ns
             ? k
             : -1;
}

// Outputs confined to the checking thread; they never block.
struct QuietOutputs final : RtOutputs {
  std::int64_t now = 0;
  void wake_dispatcher(int) noexcept override {}
  bool watchdog_ping() noexcept override { return true; }
  bool request_feed(int) noexcept override { return false; }
  std::int64_t boot_ns() noexcept override { return now; }
};

TEST(SettingsHandoffStress, TheCheckNeverRunsWithAMixedOrFuturePost) {
  constexpr int kCpus = 2;
  constexpr std::int64_t kPosts = 60'000;
  constexpr long kMaxChecks = 2'000'000;  // a bound in case the last post were never applied
  std::unique_ptr<HeartbeatSlot[]> slots(new HeartbeatSlot[kCpus]);
  CheckGate gate;
  EventRing<CheckEvent> ring(64);
  QuietOutputs out;
  CheckRunner runner(slots.get(), kCpus, post_number(0), gate, ring, out);

  std::atomic<std::int64_t> posting{0};  // the post being written (set before it is posted)
  std::atomic<bool> posted_all{false};
  std::thread supervisor([&] {
    for (std::int64_t k = 1; k <= kPosts; ++k) {
      posting.store(k, std::memory_order_relaxed);
      runner.post_settings(post_number(k));
    }
    posted_all.store(true, std::memory_order_release);
  });

  // The heartbeat on CPU 0 runs every check (it always wins the claim: nobody else claims).
  long torn = 0, backwards = 0, future = 0, checks = 0, changes = 0;
  std::int64_t applied = 0;
  std::int64_t now = 10'000 * kMs;
  for (; checks < kMaxChecks; ++checks) {
    const bool last_round = posted_all.load(std::memory_order_acquire);
    now += kMs;
    out.now = now;
    CheckCall call;
    call.cpu = 0;
    call.now_ns = now;
    call.planned_ns = gate.next_check_ns.load(std::memory_order_relaxed);
    call.claim = gate.try_claim(0, now);
    ASSERT_NE(call.claim, 0u);
    runner.run_check(call);
    const std::int64_t k = post_of(runner.settings());
    if (k < 0) {
      ++torn;
      continue;
    }
    // Posts are taken in order, and one is only seen after it was posted.
    if (k < applied) ++backwards;
    if (k > posting.load(std::memory_order_relaxed)) ++future;
    if (k != applied) ++changes;
    applied = k;
    if (last_round) break;  // every post was made before this check began
  }
  supervisor.join();

  EXPECT_EQ(torn, 0) << "a check ran with fields of two different posts";
  EXPECT_EQ(backwards, 0);
  EXPECT_EQ(future, 0);
  EXPECT_EQ(applied, kPosts) << "the last post is applied by the next check";
  EXPECT_EQ(runner.takeover_after_ns(), 500 * kMs) << "derived from the applied threshold";
  RecordProperty("checks", static_cast<int>(checks));
  RecordProperty("posts_seen", static_cast<int>(changes));
}

}  // namespace
}  // namespace stallwatch::daemon
