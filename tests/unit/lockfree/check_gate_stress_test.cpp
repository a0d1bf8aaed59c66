// SPDX-License-Identifier: GPL-2.0-or-later
// CheckGate under real threads: heartbeats racing for the claim while the supervisor asks for
// checks, and bystanders racing to take over a frozen owner's claim while that owner resumes and
// tries to release it. Bounded iteration counts, no sleeps; built with STALLWATCH_TSAN these run
// under ThreadSanitizer (ctest -L tsan), which also checks that the claim orders the owners' plain
// writes (what the next check reads of the previous one's state).
#include "stallwatch/core/check_gate.h"

#include <gtest/gtest.h>

#include <atomic>
#include <barrier>
#include <cstdint>
#include <thread>
#include <vector>

namespace stallwatch {
namespace {

constexpr std::int64_t kMs = 1'000'000;

// What the check owns: plain data, ordered only by the claim (acquire on claim, release on
// release). A claim that did not order it would be a data race TSan reports.
struct CheckState {
  long checks = 0;
  int last_owner = -1;
  long requests_seen =
      0;  // the supervisor's request counter as the last check that took a request read it
};

TEST(CheckGateStress, OneOwnerAtATimeAndNoRequestIsLost) {
  constexpr int kHeartbeats = 3;
  constexpr int kAttempts = 60'000;  // per heartbeat
  constexpr long kRequests = 20'000;
  CheckGate gate;
  CheckState state;
  std::atomic<int> inside{0};
  std::atomic<int> overlaps{0};
  std::atomic<long> wins{0}, failed_releases{0};
  std::atomic<long> posted{0};  // what the supervisor asked for (settings, monitoring...)
  std::atomic<std::int64_t> clock_ns{1000 * kMs};

  std::vector<std::thread> threads;
  for (int cpu = 0; cpu < kHeartbeats; ++cpu) {
    threads.emplace_back([&, cpu] {
      for (int i = 0; i < kAttempts; ++i) {
        const std::int64_t now = clock_ns.fetch_add(1000, std::memory_order_relaxed);
        (void)gate.due(now);
        const std::uint64_t mine = gate.try_claim(cpu, now);
        if (mine == 0) continue;
        if (inside.fetch_add(1, std::memory_order_relaxed) != 0) overlaps.fetch_add(1);
        // What run_check() does first: take the request, then read what was requested.
        if (gate.take_request()) state.requests_seen = posted.load(std::memory_order_relaxed);
        ++state.checks;
        state.last_owner = cpu;
        inside.fetch_sub(1, std::memory_order_relaxed);
        if (!gate.owns(mine) || !gate.release(mine, now + 100 * kMs)) failed_releases.fetch_add(1);
        wins.fetch_add(1, std::memory_order_relaxed);
      }
    });
  }
  threads.emplace_back([&] {  // the supervisor: data first, then the request
    for (long r = 1; r <= kRequests; ++r) {
      posted.store(r, std::memory_order_relaxed);
      gate.request_check_now();
    }
  });
  for (auto& t : threads) t.join();

  EXPECT_EQ(overlaps.load(), 0) << "two owners at once";
  EXPECT_EQ(failed_releases.load(), 0) << "an owner lost a claim nobody took over";
  EXPECT_EQ(state.checks, wins.load());
  EXPECT_GT(wins.load(), 0);
  EXPECT_EQ(gate.claim.load(), 0u);
  // No request lost: either the last one is still pending (the next check takes it and reads
  // everything), or a check took it and read everything the supervisor posted before it.
  if (gate.take_request()) state.requests_seen = posted.load(std::memory_order_relaxed);
  EXPECT_EQ(state.requests_seen, kRequests);
}

// Each round: CPU 0 holds a claim long past the takeover bound (it froze mid-check) and resumes
// just as the bystanders find it stuck: its release races with their takeovers. Exactly one of
// them ends that claim, the owners never overlap, and every claim taken is released once.
TEST(CheckGateStress, AFrozenClaimEndsOnceEitherReleasedOrTakenOver) {
  constexpr int kBystanders = 3;
  constexpr int kRounds = 4'000;
  constexpr std::int64_t kBound = 500 * kMs;
  CheckGate gate;
  CheckState state;  // written by bystander owners, read between rounds (the barrier orders it)
  std::atomic<int> inside{0};
  std::atomic<int> overlaps{0};
  std::atomic<long> bystander_wins{0}, round_takeovers{0}, failed_releases{0};

  // Per round, written by the barrier's completion step only.
  int round = 0;
  std::uint64_t frozen = 0;
  bool frozen_released = false;
  long rounds_ended_twice = 0, rounds_never_ended = 0, stale_release_left_claim = 0;
  std::int64_t t0 = 0;

  auto between_rounds = [&]() noexcept {
    if (round > 0) {
      const long ends = (frozen_released ? 1 : 0) + round_takeovers.exchange(0);
      if (ends > 1) ++rounds_ended_twice;
      if (ends < 1) ++rounds_never_ended;
      if (!frozen_released && gate.claim.load() == frozen) ++stale_release_left_claim;
    }
    ++round;
    frozen_released = false;
    t0 = round * 10'000 * kMs;
    if (round <= kRounds) frozen = gate.try_claim(0, t0);
  };
  between_rounds();
  std::barrier sync(kBystanders + 1, between_rounds);

  std::vector<std::thread> threads;
  threads.emplace_back([&] {  // CPU 0: the frozen owner resumes (3 rounds in 4) and releases
    for (int r = 0; r < kRounds; ++r) {
      if (r % 4 != 0) frozen_released = gate.release(frozen, t0 + 50 * kMs);
      sync.arrive_and_wait();
    }
  });
  for (int b = 1; b <= kBystanders; ++b) {
    threads.emplace_back([&, b] {
      for (int r = 0; r < kRounds; ++r) {
        const std::int64_t now = t0 + kBound + 1 * kMs + b;  // past the bound
        std::uint64_t mine = gate.try_claim(b, now);
        bool took = false;
        if (mine == 0) {
          mine = gate.try_take_over(b, now, kBound);
          took = mine != 0;
        }
        if (mine != 0) {
          if (inside.fetch_add(1, std::memory_order_relaxed) != 0) overlaps.fetch_add(1);
          ++state.checks;
          state.last_owner = b;
          inside.fetch_sub(1, std::memory_order_relaxed);
          if (took) round_takeovers.fetch_add(1);
          bystander_wins.fetch_add(1);
          if (!gate.release(mine, now + 100 * kMs)) failed_releases.fetch_add(1);
        }
        sync.arrive_and_wait();
      }
    });
  }
  for (auto& t : threads) t.join();

  EXPECT_EQ(rounds_ended_twice, 0) << "a frozen claim both released and taken over, or taken twice";
  EXPECT_EQ(rounds_never_ended, 0);
  EXPECT_EQ(stale_release_left_claim, 0);
  EXPECT_EQ(overlaps.load(), 0) << "two bystanders owned the check at once";
  EXPECT_EQ(failed_releases.load(), 0) << "a bystander's claim was taken from it";
  EXPECT_EQ(state.checks, bystander_wins.load());
  EXPECT_GT(gate.takeovers.load(), 0u) << "the race never went the takeover's way";
  EXPECT_EQ(gate.claim.load(), 0u);
}

}  // namespace
}  // namespace stallwatch
