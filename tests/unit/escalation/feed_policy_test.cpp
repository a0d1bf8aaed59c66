// SPDX-License-Identifier: GPL-2.0-or-later
#include "stallwatch/escalation/feed_policy.h"

#include <gtest/gtest.h>

namespace stallwatch::escalation {
namespace {

constexpr std::int64_t kMs = 1'000'000;
constexpr std::int64_t kS = 1'000'000'000;

FeedPolicySettings settings(std::int64_t timeout_ns = 30 * kS, std::int64_t tick_ns = 100 * kMs) {
  FeedPolicySettings s;
  s.timeout_ns = timeout_ns;
  s.tick_interval_ns = tick_ns;
  s.escalation_grace_ns = 3 * kS;
  s.stop_on_escalation = true;
  return s;
}

TEST(FeedPolicy, PeriodLeavesRoomForOneTick) {
  EXPECT_EQ(settings().feed_period_ns(), 10 * kS - 100 * kMs);
  EXPECT_EQ(settings(kS, 400 * kMs).feed_period_ns(), 0);  // feed every tick
}

TEST(FeedPolicy, GapsNeverExceedATimeoutThird) {
  FeedPolicy p(settings());
  std::int64_t last = -1;
  std::int64_t max_gap = 0;
  int feeds = 0;
  // 5 minutes of ticks with up to 30 ms of jitter.
  for (std::int64_t t = 1000 * kS, i = 0; t < 1300 * kS; t += 100 * kMs, ++i) {
    std::int64_t now = t + (i % 7) * 5 * kMs;
    if (p.on_tick(now, true) == FeedDecision::kFeed) {
      if (last >= 0) max_gap = std::max(max_gap, now - last);
      last = now;
      ++feeds;
    }
  }
  // timeout/3, plus at most the lateness of one tick (the timerfd does not accumulate it).
  EXPECT_LE(max_gap, 10 * kS + 30 * kMs);
  EXPECT_GE(max_gap, 9 * kS);  // and not needlessly often
  EXPECT_GE(feeds, 29);
  EXPECT_LE(feeds, 34);
}

TEST(FeedPolicy, OnTimeTicksMeetATimeoutThirdExactly) {
  FeedPolicy p(settings());
  std::int64_t last = 0;
  p.fed_at(0);
  for (std::int64_t t = 100 * kMs; t < 120 * kS; t += 100 * kMs) {
    if (p.on_tick(t, true) != FeedDecision::kFeed) continue;
    ASSERT_LE(t - last, 10 * kS);
    last = t;
  }
  EXPECT_GT(last, 100 * kS);
}

TEST(FeedPolicy, FirstTickFeeds) {
  FeedPolicy p(settings());
  EXPECT_EQ(p.on_tick(5 * kS, true), FeedDecision::kFeed);
  EXPECT_EQ(p.on_tick(5 * kS + 100 * kMs, true), FeedDecision::kNotDue);
}

TEST(FeedPolicy, FedAtCountsTheArmFeed) {
  FeedPolicy p(settings());
  p.fed_at(5 * kS);
  EXPECT_EQ(p.on_tick(5 * kS + 100 * kMs, true), FeedDecision::kNotDue);
  EXPECT_EQ(p.on_tick(5 * kS + 9900 * kMs, true), FeedDecision::kFeed);
}

TEST(FeedPolicy, UnhealthyCheckerIsNotFed) {
  FeedPolicy p(settings());
  p.fed_at(0);
  for (std::int64_t t = 100 * kMs; t < 40 * kS; t += 100 * kMs)
    ASSERT_EQ(p.on_tick(t, false), FeedDecision::kUnhealthy) << t;
  EXPECT_EQ(p.on_tick(40 * kS, true), FeedDecision::kFeed);  // healthy again: feed at once
}

TEST(FeedPolicy, MissedFeedIsRetriedNextTick) {
  FeedPolicy p(settings());
  ASSERT_EQ(p.on_tick(0, true), FeedDecision::kFeed);
  p.feed_missed();
  EXPECT_EQ(p.on_tick(100 * kMs, true), FeedDecision::kFeed);
}

TEST(FeedPolicy, StopIsForever) {
  FeedPolicy p(settings());
  ASSERT_EQ(p.on_tick(0, true), FeedDecision::kFeed);
  p.stop();
  for (std::int64_t t = 100 * kMs; t < 100 * kS; t += 100 * kMs)
    ASSERT_EQ(p.on_tick(t, true), FeedDecision::kStopped);
  EXPECT_TRUE(p.stopped());
}

TEST(FeedPolicy, EscalationDueStopsAfterTheGrace) {
  FeedPolicy p(settings());
  p.fed_at(0);
  p.escalation_due(1 * kS);
  // Still fed during the grace (the sink persists the reset reason first).
  EXPECT_EQ(p.on_tick(1 * kS + 100 * kMs, true), FeedDecision::kNotDue);
  EXPECT_FALSE(p.stopped());
  p.escalation_due(2 * kS);  // repeated: the first one counts
  EXPECT_EQ(p.on_tick(4 * kS - 1, true), FeedDecision::kNotDue);
  EXPECT_EQ(p.on_tick(4 * kS, true), FeedDecision::kStopped);
  EXPECT_TRUE(p.stopped());
  EXPECT_EQ(p.on_tick(60 * kS, true), FeedDecision::kStopped);
}

TEST(FeedPolicy, EscalationDueIgnoredUnlessActionIsWatchdogDevice) {
  FeedPolicySettings s = settings();
  s.stop_on_escalation = false;
  FeedPolicy p(s);
  p.escalation_due(0);
  EXPECT_EQ(p.on_tick(100 * kS, true), FeedDecision::kFeed);
  EXPECT_FALSE(p.stopped());
}

TEST(FeedPolicy, ZeroGraceStopsImmediately) {
  FeedPolicySettings s = settings();
  s.escalation_grace_ns = 0;
  FeedPolicy p(s);
  p.escalation_due(0);
  EXPECT_TRUE(p.stopped());
}

TEST(FeedPolicySettingsFrom, FollowsTheConfig) {
  Config c;
  c.checker.interval = std::chrono::milliseconds(200);
  c.evidence.budget = std::chrono::milliseconds(1000);
  c.escalation.action = EscalationAction::kWatchdogDevice;
  FeedPolicySettings s = FeedPolicySettings::from(c, 32);
  EXPECT_EQ(s.timeout_ns, 32 * kS);
  EXPECT_EQ(s.tick_interval_ns, 200 * kMs);
  EXPECT_EQ(s.escalation_grace_ns, 3 * kS);
  EXPECT_TRUE(s.stop_on_escalation);

  c.escalation.dry_run = true;
  EXPECT_FALSE(FeedPolicySettings::from(c, 32).stop_on_escalation);
  c.escalation.dry_run = false;
  c.escalation.action = EscalationAction::kSystemd;
  EXPECT_FALSE(FeedPolicySettings::from(c, 32).stop_on_escalation);
  c.evidence.enabled = false;
  EXPECT_EQ(FeedPolicySettings::from(c, 32).escalation_grace_ns, 2 * kS);
}

}  // namespace
}  // namespace stallwatch::escalation
