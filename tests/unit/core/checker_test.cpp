// SPDX-License-Identifier: GPL-2.0-or-later
// The checker's episode logic and false-positive guards, driven by a fake clock and fake slots.
#include "stallwatch/checker.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <memory>

namespace stallwatch {
namespace {

constexpr std::int64_t kMs = 1'000'000;

class CheckerTest : public ::testing::Test {
 protected:
  static constexpr int kCpus = 4;
  CheckerTest() : slots_(new HeartbeatSlot[kCpus]) {
    settings_.interval_ns = 100 * kMs;
    settings_.threshold_ns = 2000 * kMs;
    settings_.repeat_ns = 10000 * kMs;
    settings_.pause_tolerance_ns = 1000 * kMs;
    settings_.heartbeat_interval_ns = 500 * kMs;
    checker_ = std::make_unique<Checker>(slots_.get(), kCpus, settings_);
    for (int c = 0; c < kCpus; ++c) checker_->set_monitored(c, true, now_);
  }

  // Advances the fake clock in checker-interval steps; every CPU not in `stuck` stamps on its
  // 500 ms grid. Returns all events.
  std::vector<StallEvent> run_for(std::int64_t ns, std::vector<int> stuck = {}) {
    std::vector<StallEvent> all;
    for (std::int64_t t = 0; t < ns; t += settings_.interval_ns) {
      now_ += settings_.interval_ns;
      for (int c = 0; c < kCpus; ++c) {
        bool is_stuck = std::find(stuck.begin(), stuck.end(), c) != stuck.end();
        if (!is_stuck && now_ % (500 * kMs) == 0) slots_[c].stamp(now_, 0, c);
      }
      auto ev = checker_->tick(now_, now_ + boot_offset_);
      all.insert(all.end(), ev.begin(), ev.end());
    }
    return all;
  }

  std::unique_ptr<HeartbeatSlot[]> slots_;
  CheckerSettings settings_;
  std::unique_ptr<Checker> checker_;
  std::int64_t now_ = 1000 * kMs;
  std::int64_t boot_offset_ = 0;
};

TEST_F(CheckerTest, HealthyCpusProduceNoEvents) {
  EXPECT_TRUE(run_for(30'000 * kMs).empty());
  EXPECT_TRUE(checker_->all_started());
  EXPECT_EQ(checker_->view(0).state, CpuState::kHealthy);
}

TEST_F(CheckerTest, StartingIsNotStalledUntilThreshold) {
  now_ += 1500 * kMs;
  EXPECT_TRUE(checker_->tick(now_, now_).empty());
  EXPECT_EQ(checker_->view(2).state, CpuState::kStarting);
  EXPECT_FALSE(checker_->all_started());
}

TEST_F(CheckerTest, StallOngoingRecoveredEpisode) {
  run_for(2000 * kMs);
  const std::int64_t last_stamp = slots_[1].last_ns.load();
  auto ev = run_for(2400 * kMs, {1});
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].kind, EventKind::kStall);
  EXPECT_EQ(ev[0].cpu, 1);
  EXPECT_GT(ev[0].stall_ns, 2000 * kMs);
  EXPECT_LE(ev[0].stall_ns, 2100 * kMs);
  EXPECT_EQ(ev[0].stall_start_mono_ns, last_stamp);
  EXPECT_EQ(ev[0].threshold_ns, 2000 * kMs);
  EXPECT_EQ(checker_->view(1).state, CpuState::kStalled);

  ev = run_for(10'000 * kMs, {1});
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].kind, EventKind::kOngoing);
  EXPECT_EQ(ev[0].episode, 1u);

  ev = run_for(1000 * kMs);
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].kind, EventKind::kRecovered);
  EXPECT_EQ(ev[0].cpu, 1);
  EXPECT_EQ(ev[0].episode, 1u);
  EXPECT_EQ(ev[0].stall_ns, ev[0].detected_mono_ns - last_stamp);  // first stamp after - last before
  EXPECT_EQ(checker_->stalls_total(), 1u);
  EXPECT_EQ(checker_->view(1).stalls, 1u);
  EXPECT_EQ(checker_->view(1).state, CpuState::kHealthy);
}

TEST_F(CheckerTest, SeveralCpusReportedInCpuOrder) {
  run_for(1000 * kMs);
  auto ev = run_for(3000 * kMs, {3, 0, 2});
  ASSERT_EQ(ev.size(), 3u);
  EXPECT_EQ(ev[0].cpu, 0);
  EXPECT_EQ(ev[1].cpu, 2);
  EXPECT_EQ(ev[2].cpu, 3);
  EXPECT_NE(ev[0].episode, ev[1].episode);
}

TEST_F(CheckerTest, LateTickWithAllHeartbeatsFrozenIsOneGlobalPause) {
  run_for(1000 * kMs);
  now_ += 5000 * kMs;  // VM paused: neither checker nor heartbeats ran
  auto ev = checker_->tick(now_, now_);
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].kind, EventKind::kGlobalPause);
  EXPECT_EQ(ev[0].cpu, -1);
  EXPECT_FALSE(checker_->healthy());
  // Ages were re-baselined: the heartbeats resume and nobody is reported.
  EXPECT_TRUE(run_for(3000 * kMs).empty());
  EXPECT_TRUE(checker_->healthy());
}

TEST_F(CheckerTest, HeartbeatsCatchingUpBeforeTheCheckerAfterAPauseStillMeanGlobalPause) {
  run_for(1000 * kMs);
  now_ += 5000 * kMs;
  slots_[0].stamp(now_ - 1 * kMs, 4500 * kMs, 0);  // two heartbeats ran first after the resume
  slots_[2].stamp(now_ - 1 * kMs, 4500 * kMs, 2);
  auto ev = checker_->tick(now_, now_);
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].kind, EventKind::kGlobalPause);
}

TEST_F(CheckerTest, LateTickWhileOtherHeartbeatsRanIsNotAGlobalPause) {
  run_for(1000 * kMs);
  // The checker was held up for 3 s (queued behind a stuck CPU 1); CPUs 0, 2, 3 kept stamping.
  for (int step = 0; step < 30; ++step) {
    now_ += 100 * kMs;
    if (now_ % (500 * kMs) == 0)
      for (int c : {0, 2, 3}) slots_[c].stamp(now_, 0, c);
  }
  auto ev = checker_->tick(now_, now_);
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].kind, EventKind::kStall);
  EXPECT_EQ(ev[0].cpu, 1);
}

TEST_F(CheckerTest, SuspendIsAGlobalPause) {
  run_for(1000 * kMs);
  boot_offset_ += 60'000 * kMs;  // CLOCK_BOOTTIME ran on while suspended
  auto ev = run_for(100 * kMs);
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].kind, EventKind::kGlobalPause);
  EXPECT_NE(ev[0].note.find("suspended"), std::string::npos);
}

TEST_F(CheckerTest, HeartbeatThatNeverStampsIsStalledAfterThreshold) {
  auto ev = run_for(2500 * kMs, {2});
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].kind, EventKind::kStall);
  EXPECT_EQ(ev[0].cpu, 2);
}

TEST_F(CheckerTest, UnmonitoredCpuIsNeverStalled) {
  run_for(1000 * kMs);
  checker_->set_monitored(3, false, now_);  // went offline
  EXPECT_TRUE(run_for(5000 * kMs, {3}).empty());
  checker_->set_monitored(3, true, now_);  // back online: starting again
  EXPECT_EQ(checker_->view(3).state, CpuState::kStarting);
  EXPECT_TRUE(run_for(1000 * kMs).empty());
  EXPECT_EQ(checker_->view(3).state, CpuState::kHealthy);
}

TEST_F(CheckerTest, EscalationOncePerEpisode) {
  settings_.escalation_after_ns = 5000 * kMs;
  checker_->apply(settings_);
  run_for(1000 * kMs);
  auto ev = run_for(8000 * kMs, {1});
  int escalations = 0;
  for (auto& e : ev) escalations += e.kind == EventKind::kEscalation;
  EXPECT_EQ(escalations, 1);
  ASSERT_GE(ev.size(), 2u);
  EXPECT_EQ(ev[0].kind, EventKind::kStall);
  EXPECT_EQ(ev[1].kind, EventKind::kEscalation);
  EXPECT_GE(ev[1].stall_ns, 5000 * kMs);
}

TEST_F(CheckerTest, ThresholdChangeAppliesAtNextTick) {
  run_for(1000 * kMs);
  settings_.threshold_ns = 1000 * kMs;
  checker_->apply(settings_);
  auto ev = run_for(1300 * kMs, {0});
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].threshold_ns, 1000 * kMs);
}

TEST(Lateness, BucketsAndPercentile) {
  EXPECT_EQ(lateness_bucket(0), 0);
  EXPECT_EQ(lateness_bucket(1024), 10);
  EXPECT_EQ(lateness_bucket(2047), 10);
  EXPECT_EQ(lateness_bucket(std::int64_t{1} << 50), kLatenessBuckets - 1);
  HeartbeatSlot s;
  for (int i = 0; i < 99; ++i) s.stamp(i, 1000, 0);  // ~1 us
  s.stamp(100, 1'000'000, 0);                        // one 1 ms outlier
  EXPECT_EQ(lateness_percentile_ns(s, 0.5), 1023);
  EXPECT_EQ(lateness_percentile_ns(s, 0.999), (std::int64_t{1} << 20) - 1);
  EXPECT_EQ(s.late_max_ns.load(), 1'000'000);
  EXPECT_EQ(s.seq.load(), 100u);
}

}  // namespace
}  // namespace stallwatch

namespace stallwatch {
namespace {

// Deadline-driven checks, as the heartbeats run them: a check happens only at the first
// heartbeat wake at or after the deadline the previous check set.
class DeadlineTest : public ::testing::Test {
 protected:
  static constexpr int kCpus = 2;
  static constexpr std::int64_t kMs = 1'000'000;
  DeadlineTest() : slots_(new HeartbeatSlot[kCpus]) {
    s_.interval_ns = 10'000 * kMs;  // backstop far away: only real deadlines drive checks
    s_.threshold_ns = 2000 * kMs;
    s_.repeat_ns = 10'000 * kMs;
    s_.pause_tolerance_ns = 1000 * kMs;
    s_.heartbeat_interval_ns = 500 * kMs;
    checker_ = std::make_unique<Checker>(slots_.get(), kCpus, s_);
    for (int c = 0; c < kCpus; ++c) checker_->set_monitored(c, true, now_);
    out_.reserve(checker_->max_events());
  }
  // Heartbeats at 500 ms, staggered (CPU 1 at +250 ms); a stuck CPU neither stamps nor checks.
  // Returns the events with their check times.
  std::vector<CheckEvent> run_until(std::int64_t end, std::vector<int> stuck = {}) {
    std::vector<CheckEvent> all;
    for (; now_ < end; now_ += 250 * kMs) {
      const int cpu = static_cast<int>((now_ / (250 * kMs)) % 2);
      if (std::find(stuck.begin(), stuck.end(), cpu) != stuck.end()) continue;
      slots_[cpu].stamp(now_, 0, cpu);
      if (now_ < planned_) continue;
      out_.clear();
      checker_->tick_into(now_, now_, planned_, out_);
      ++checks_;
      planned_ = checker_->next_deadline_ns();
      all.insert(all.end(), out_.begin(), out_.end());
    }
    return all;
  }
  std::unique_ptr<HeartbeatSlot[]> slots_;
  CheckerSettings s_;
  std::unique_ptr<Checker> checker_;
  std::vector<CheckEvent> out_;
  std::int64_t now_ = 1000 * kMs;
  std::int64_t planned_ = 0;
  int checks_ = 0;
};

TEST_F(DeadlineTest, HealthyMachineChecksOncePerThresholdNotPerWakeup) {
  EXPECT_TRUE(run_until(61'000 * kMs).empty());
  // 60 s of heartbeats = 240 wakeups; a check is due only when the oldest stamp could reach half
  // the threshold (the counter-baseline point), about every threshold / 2 - heartbeat interval.
  EXPECT_GE(checks_, 50);
  EXPECT_LE(checks_, 70);
  EXPECT_EQ(checker_->suspects(), 0u);
}

TEST_F(DeadlineTest, NextDeadlineIsOldestStampPlusThreshold) {
  run_until(5000 * kMs);
  out_.clear();
  checker_->tick_into(now_, now_, planned_, out_);
  const std::int64_t oldest = std::min(slots_[0].last_ns.load(), slots_[1].last_ns.load());
  EXPECT_EQ(checker_->next_deadline_ns(), oldest + s_.threshold_ns / 2 + 1);
  // The interval backstop caps it when shorter.
  s_.interval_ns = 300 * kMs;
  checker_->apply(s_);
  checker_->tick_into(now_ + 1, now_ + 1, now_, out_);
  EXPECT_EQ(checker_->next_deadline_ns(), now_ + 1 + 300 * kMs);
}

TEST_F(DeadlineTest, CpuStallingRightAfterACheckIsReportedWithinThresholdPlusOneWake) {
  run_until(5000 * kMs);
  const std::int64_t last_stamp = slots_[1].last_ns.load();
  auto ev = run_until(12'000 * kMs, {1});
  ASSERT_FALSE(ev.empty());
  EXPECT_EQ(ev[0].kind, EventKind::kStall);
  EXPECT_EQ(ev[0].cpu, 1);
  // Detected by CPU 0's heartbeat at its first wake after last stamp + threshold.
  EXPECT_GT(ev[0].detected_mono_ns - last_stamp, s_.threshold_ns);
  EXPECT_LE(ev[0].detected_mono_ns - last_stamp, s_.threshold_ns + s_.heartbeat_interval_ns);
}

TEST_F(DeadlineTest, RepeatAndEscalationDeadlinesOfAStalledCpu) {
  s_.escalation_after_ns = 4000 * kMs;
  checker_->apply(s_);
  run_until(5000 * kMs);
  auto ev = run_until(30'000 * kMs, {1});
  int stalls = 0, escalations = 0, ongoing = 0;
  for (const auto& e : ev) {
    stalls += e.kind == EventKind::kStall;
    escalations += e.kind == EventKind::kEscalation;
    ongoing += e.kind == EventKind::kOngoing;
  }
  EXPECT_EQ(stalls, 1);
  EXPECT_EQ(escalations, 1);
  EXPECT_EQ(ongoing, 2);  // every repeat_interval (10 s) in ~23 s of stall
}

TEST_F(DeadlineTest, HalfwayToAStallAsksOnceForACounterBaseline) {
  run_until(5000 * kMs);
  auto ev = run_until(6300 * kMs, {1});  // 1.3 s without CPU 1: past half, not yet a stall
  EXPECT_TRUE(ev.empty());
  EXPECT_EQ(checker_->suspects(), 1u);
  EXPECT_TRUE(checker_->view(1).suspect);  // helper threads keep off CPU 1 from here
  EXPECT_FALSE(checker_->view(0).suspect);
  run_until(8000 * kMs, {1});  // and on to a stall: no second request in the same silence
  EXPECT_EQ(checker_->suspects(), 1u);
  EXPECT_EQ(checker_->view(1).state, CpuState::kStalled);
  EXPECT_TRUE(checker_->view(1).suspect);
  run_until(9000 * kMs);
  EXPECT_FALSE(checker_->view(1).suspect);  // recovered: CPU 1 may carry helpers again
  run_until(10'300 * kMs, {1});  // a new silence asks again
  EXPECT_EQ(checker_->suspects(), 2u);
  EXPECT_TRUE(checker_->view(1).suspect);
  run_until(12'500 * kMs);  // late but never stalled: the suspicion ends at the next check
  EXPECT_FALSE(checker_->view(1).suspect);
}

TEST_F(DeadlineTest, GlobalPauseBetweenDeadlinesIsOneEvent) {
  run_until(5000 * kMs);
  now_ += 6000 * kMs;  // frozen: no heartbeat ran, so no check either
  auto ev = run_until(now_ + 3000 * kMs);
  ASSERT_GE(ev.size(), 1u);
  EXPECT_EQ(ev[0].kind, EventKind::kGlobalPause);
  for (std::size_t i = 1; i < ev.size(); ++i) EXPECT_NE(ev[i].kind, EventKind::kStall);
}

TEST_F(CheckerTest, LateCheckWithJitteryHeartbeatsElsewhereIsAStallNotAPause) {
  run_for(1000 * kMs);
  // No check for 3 s (the CPU that would have run it stalled); the other heartbeats ran with
  // jitter: 4 stamps each instead of the 6 a perfect 500 ms grid gives.
  const std::int64_t start = now_;
  for (std::int64_t t : {430, 1210, 1980, 2760}) {
    for (int c : {0, 2, 3}) slots_[c].stamp(start + t * kMs, 0, c);
  }
  now_ = start + 3000 * kMs;
  auto ev = checker_->tick(now_, now_ + boot_offset_);
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].kind, EventKind::kStall);
  EXPECT_EQ(ev[0].cpu, 1);
}

TEST_F(CheckerTest, StallMarksTheSlotForAttentionAndRecoveryClearsIt) {
  run_for(1000 * kMs);
  run_for(2500 * kMs, {1});
  EXPECT_EQ(slots_[1].attention.load(), 1);
  run_for(600 * kMs);
  EXPECT_EQ(slots_[1].attention.load(), 0);
  EXPECT_EQ(checker_->view(1).state, CpuState::kHealthy);
}

}  // namespace
}  // namespace stallwatch
