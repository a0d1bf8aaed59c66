// SPDX-License-Identifier: GPL-2.0-or-later
// The checker's episode logic and false-positive guards, driven by a fake clock and fake slots.
#include "stallwatch/core/checker.h"

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
  EXPECT_EQ(ev[0].stall_ns,
            ev[0].detected_mono_ns - last_stamp);  // first stamp after - last before
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

// The heartbeat running the first check after a blackout woke late_ns late (ctx).
std::vector<CheckEvent> late_check(Checker& checker, HeartbeatSlot* slots, int cpu,
                                   std::int64_t now, std::int64_t late) {
  slots[cpu].stamp(now, late, cpu);
  std::vector<CheckEvent> out;
  out.reserve(checker.max_events());
  checker.tick_into(now, now, now, out, CheckContext{cpu, late});
  return out;
}

std::vector<CheckEvent> verdict(Checker& checker, std::int64_t now, bool starved,
                                int root_cpu = -1) {
  std::vector<CheckEvent> out;
  out.reserve(checker.max_events());
  checker.apply_verdict(checker.pending_blackout(), starved, root_cpu, now, out);
  checker.tick_into(now, now, now, out, CheckContext{0, 0});
  return out;
}

TEST_F(CheckerTest, ABlackoutAsksForAVerdictAndAFreezeIsOneGlobalPause) {
  run_for(1000 * kMs);
  now_ += 5000 * kMs;  // VM paused: no heartbeat ran
  auto ev = late_check(*checker_, slots_.get(), 0, now_, 4900 * kMs);
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].kind, EventKind::kBlackout);
  EXPECT_EQ(ev[0].stall_ns, 4900 * kMs);
  EXPECT_NE(checker_->pending_blackout(), 0u);
  EXPECT_FALSE(checker_->healthy());
  ev = verdict(*checker_, now_ + kMs, false);
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].kind, EventKind::kGlobalPause);
  EXPECT_EQ(ev[0].pause_cause, PauseCause::kFreeze);
  EXPECT_EQ(ev[0].cpu, -1);
  EXPECT_EQ(checker_->pending_blackout(), 0u);
  // The paused time is not counted: the heartbeats resume and nobody is reported.
  EXPECT_TRUE(run_for(3000 * kMs).empty());
}

TEST_F(CheckerTest, FreezesOfAnyLengthAroundTheThresholdAreNeverStalls) {
  // The daemon SIGSTOPped for 1.6 to 2.4 s (threshold 2 s), the verdict arriving after the
  // other heartbeats woke too: no stall, ever, and one global pause per freeze.
  run_for(1000 * kMs);
  int pauses = 0;
  for (std::int64_t freeze : {1600, 1800, 2000, 2200, 2400}) {
    now_ += freeze * kMs;
    auto ev = late_check(*checker_, slots_.get(), 2, now_, freeze * kMs - 200 * kMs);
    for (const auto& e : ev) EXPECT_NE(e.kind, EventKind::kStall) << freeze;
    for (int c : {0, 1, 3}) slots_[c].stamp(now_ + kMs, freeze * kMs - 150 * kMs, c);
    now_ += 5 * kMs;
    std::vector<CheckEvent> out;
    out.reserve(checker_->max_events());
    checker_->tick_into(now_, now_, now_, out, CheckContext{1, freeze * kMs - 150 * kMs});
    for (const auto& e : out) EXPECT_NE(e.kind, EventKind::kStall) << freeze;
    for (const auto& e : verdict(*checker_, now_ + 2 * kMs, false)) {
      EXPECT_NE(e.kind, EventKind::kStall) << freeze;
      pauses += e.kind == EventKind::kGlobalPause;
    }
    now_ = (now_ / (100 * kMs) + 1) * (100 * kMs);  // back on run_for's grid
    for (const auto& e : run_for(3000 * kMs)) EXPECT_NE(e.kind, EventKind::kStall) << freeze;
  }
  EXPECT_EQ(pauses, 5);
}

TEST_F(CheckerTest, APauseDuringAStallKeepsItsAgeWithoutThePause) {
  // A 20 s stall plus a 50 s VM pause must not reach escalation.after = 1 min.
  settings_.escalation_after_ns = 60'000 * kMs;
  checker_->apply(settings_);
  run_for(1000 * kMs);
  auto ev = run_for(20'000 * kMs, {1});
  ASSERT_EQ(ev[0].kind, EventKind::kStall);
  now_ += 50'000 * kMs;
  late_check(*checker_, slots_.get(), 0, now_, 49'900 * kMs);
  auto judged = verdict(*checker_, now_, false);
  ASSERT_EQ(judged.size(), 1u);
  EXPECT_EQ(judged[0].kind, EventKind::kGlobalPause);
  EXPECT_EQ(checker_->view(1).state, CpuState::kStalled) << "the stall is not erased by the pause";
  EXPECT_LT(checker_->view(1).age_ns, 21'000 * kMs);
  EXPECT_GT(checker_->view(1).age_ns, 19'500 * kMs);
  ev = run_for(30'000 * kMs, {1});  // 50 s of stall in all, without the pause
  for (const auto& e : ev) EXPECT_NE(e.kind, EventKind::kEscalation);
  ev = run_for(12'000 * kMs, {1});  // past 60 s of real stall
  EXPECT_TRUE(std::any_of(ev.begin(), ev.end(), [](const StallEvent& e) {
    return e.kind == EventKind::kEscalation && e.cpu == 1;
  }));
  ev = run_for(1000 * kMs);
  ASSERT_FALSE(ev.empty());
  EXPECT_EQ(ev.back().kind, EventKind::kRecovered);
  EXPECT_LT(ev.back().stall_ns, 64'000 * kMs) << "the episode's length leaves the pause out";
}

TEST_F(CheckerTest, AStallBuildingWhenAPauseCameKeepsItsAge) {
  run_for(1000 * kMs);
  run_for(1500 * kMs, {1});  // CPU 1 silent for 1.5 s: not yet a stall
  now_ += 5000 * kMs;        // then the VM pauses
  auto ev = late_check(*checker_, slots_.get(), 0, now_, 4900 * kMs);
  for (const auto& e : ev) EXPECT_NE(e.kind, EventKind::kStall);
  ev = verdict(*checker_, now_, false);
  for (const auto& e : ev) EXPECT_NE(e.kind, EventKind::kStall);
  // 0.5 s more of real silence crosses the 2 s threshold (not 2 s from the resume).
  auto after = run_for(800 * kMs, {1});
  ASSERT_EQ(after.size(), 1u);
  EXPECT_EQ(after[0].kind, EventKind::kStall);
  EXPECT_EQ(after[0].cpu, 1);
  EXPECT_LT(after[0].stall_ns, 2500 * kMs);
}

TEST_F(CheckerTest, AStallVerdictOnTheOnlyHeartbeatReportsTheStallAfterTheFact) {
  // A 1-CPU host: the one heartbeat was held off its CPU by an RT hog for 3 s, so no check
  // could run meanwhile; the verdict (it waited runnable) makes it a stall, found after it ended.
  auto one = std::make_unique<Checker>(slots_.get(), kCpus, settings_);
  one->set_monitored(0, true, now_);
  slots_[0].stamp(now_ + 100 * kMs, 0, 0);
  std::vector<CheckEvent> out;
  out.reserve(one->max_events());
  one->tick_into(now_ + 100 * kMs, now_ + 100 * kMs, 0, out, CheckContext{0, 0});
  const std::int64_t before = now_ + 100 * kMs;
  now_ += 3600 * kMs;
  auto ev = late_check(*one, slots_.get(), 0, now_, 3000 * kMs);
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].kind, EventKind::kBlackout);
  ev = verdict(*one, now_ + kMs, true);
  ASSERT_EQ(ev.size(), 2u);
  EXPECT_EQ(ev[0].kind, EventKind::kStall);
  EXPECT_EQ(ev[0].cpu, 0);
  EXPECT_TRUE(ev[0].after_the_fact);
  EXPECT_EQ(ev[0].stall_start_mono_ns, now_ - 3000 * kMs - settings_.heartbeat_interval_ns);
  EXPECT_GE(ev[0].stall_start_mono_ns, before);
  EXPECT_EQ(ev[1].kind, EventKind::kRecovered);
  EXPECT_EQ(ev[1].episode, ev[0].episode);
  EXPECT_EQ(one->stalls_total(), 1u);
}

TEST_F(CheckerTest, ACascadeIsReportedAsTheStallThatStartedIt) {
  // CPU 2 spins with interrupts off; 300 ms later stop_machine holds every other CPU behind it
  // (their heartbeats wait runnable behind the stopper), for 3 s in all.
  run_for(1000 * kMs);
  const std::int64_t t0 = now_;
  slots_[2].stamp(t0, 0, 2);
  for (int c : {0, 1, 3}) slots_[c].stamp(t0 + 300 * kMs, 0, c);
  now_ = t0 + 3300 * kMs;  // the spin ends: everyone wakes late (due at t0 + 800 ms)
  auto ev = late_check(*checker_, slots_.get(), 0, now_, 2500 * kMs);
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].kind, EventKind::kBlackout);
  for (int c : {1, 3}) slots_[c].stamp(now_ + kMs, 2501 * kMs, c);
  ev = verdict(*checker_, now_ + 2 * kMs, true);  // CPU 2 has not stamped yet
  std::vector<CheckEvent> stalls;
  for (const auto& e : ev)
    if (e.kind == EventKind::kStall) stalls.push_back(e);
  ASSERT_EQ(stalls.size(), 1u) << "one stall, not four, and not a pause";
  EXPECT_EQ(stalls[0].cpu, 2);
  EXPECT_EQ(stalls[0].cascade_cpus, 3);
  EXPECT_FALSE(stalls[0].after_the_fact);
  EXPECT_NE(to_stall_event(stalls[0]).note.find("attributed"), std::string::npos);
  auto after = run_for(1000 * kMs);  // CPU 2 stamps again: its recovery
  ASSERT_FALSE(after.empty());
  EXPECT_EQ(after.back().kind, EventKind::kRecovered);
  EXPECT_EQ(after.back().cpu, 2);
}

// A cascade: CPU 2 last stamped at t0 + root_at, CPUs 0, 1 and 3 (500 ms heartbeats) at t0 +
// held_at; every heartbeat is held until t0 + end, when CPU 0's check finds the blackout and CPUs
// 1 and 3 stamp, CPU 2 not yet. Returns the stalls of a stall verdict naming root_cpu.
std::vector<CheckEvent> cascade_stalls(Checker& checker, HeartbeatSlot* slots, std::int64_t& now,
                                       std::int64_t root_at, std::int64_t held_at, std::int64_t end,
                                       int root_cpu) {
  const std::int64_t t0 = now;
  const std::int64_t late = end - held_at - 500 * kMs;
  for (int c : {0, 1, 3}) slots[c].stamp(t0 + held_at, 0, c);
  slots[2].stamp(t0 + root_at, 0, 2);
  now = t0 + end;
  auto ev = late_check(checker, slots, 0, now, late);
  EXPECT_EQ(ev.size(), 1u);
  for (int c : {1, 3}) slots[c].stamp(now + kMs, late + kMs, c);
  std::vector<CheckEvent> stalls;
  for (const auto& e : verdict(checker, now + 2 * kMs, true, root_cpu))
    if (e.kind == EventKind::kStall) stalls.push_back(e);
  return stalls;
}

// The cascade frozen within one heartbeat interval of the spin (QEMU 05, CI 2026-12-04: 124 ms
// in): CPU 2 stamped at t0 + 200 ms and went silent; the others, stamping on another phase, last
// stamped at t0 and were held from t0 + 300 ms, before their next stamp was due. The oldest stamp
// is theirs: stamps cannot tell, the evidence (CPU 2's heartbeat not woken) can.
std::vector<CheckEvent> frozen_within_an_interval(Checker& checker, HeartbeatSlot* slots,
                                                  std::int64_t& now, int root_cpu) {
  return cascade_stalls(checker, slots, now, 200 * kMs, 0, 3300 * kMs, root_cpu);
}

TEST_F(CheckerTest, TheEvidenceNamesTheCascadesRootWhereStampsCannot) {
  run_for(1000 * kMs);
  auto stalls = frozen_within_an_interval(*checker_, slots_.get(), now_, 2);
  ASSERT_EQ(stalls.size(), 1u);
  EXPECT_EQ(stalls[0].cpu, 2);
  EXPECT_EQ(stalls[0].cascade_cpus, 3);
  EXPECT_FALSE(stalls[0].after_the_fact) << "CPU 2 has not stamped yet";
}

TEST_F(CheckerTest, WithoutEvidenceTheOldestStampIsTheRoot) {
  // The limit the evidence lifts: the same cascade, no heartbeat singled out. The held CPU 0 is
  // taken for the root (after the fact), and CPU 2, still silent, is reported again by its age.
  run_for(1000 * kMs);
  auto stalls = frozen_within_an_interval(*checker_, slots_.get(), now_, -1);
  ASSERT_EQ(stalls.size(), 2u);
  EXPECT_EQ(stalls[0].cpu, 0);
  EXPECT_TRUE(stalls[0].after_the_fact);
  EXPECT_EQ(stalls[0].cascade_cpus, 3);
  EXPECT_EQ(stalls[1].cpu, 2);
}

TEST_F(CheckerTest, StampsAWholeIntervalApartOverruleTheEvidence) {
  // CPU 2 went silent after t0 and the others stamped at t0 + 600 ms, more than a heartbeat
  // interval later: CPU 2's silence provably came first, whatever heartbeat was singled out.
  run_for(1000 * kMs);
  auto stalls = cascade_stalls(*checker_, slots_.get(), now_, 0, 600 * kMs, 3600 * kMs, 1);
  ASSERT_EQ(stalls.size(), 1u);
  EXPECT_EQ(stalls[0].cpu, 2);
  EXPECT_EQ(stalls[0].cascade_cpus, 3);
}

TEST_F(CheckerTest, ACpuTakenOfflineBeforeTheVerdictIsStillAttributedToTheCascade) {
  // As in system scenario 05: CPU 2 spins with interrupts off, stop_machine holds CPUs 0, 1 and
  // 3 behind it, and CPU 3's offline (waiting for the spin) completes between the blackout and
  // its verdict: its heartbeat was moved to CPU 0 and then it was unmonitored. It was held too.
  run_for(1000 * kMs);
  const std::int64_t t0 = now_;
  slots_[2].stamp(t0, 0, 2);
  for (int c : {0, 1, 3}) slots_[c].stamp(t0 + 300 * kMs, 0, c);
  now_ = t0 + 3300 * kMs;
  auto ev = late_check(*checker_, slots_.get(), 0, now_, 2500 * kMs);
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].kind, EventKind::kBlackout);
  slots_[3].moved_to.store(0);
  slots_[3].displacements.store(1);
  slots_[3].displaced_on.store(0);
  for (int c : {1, 2}) slots_[c].stamp(now_ + kMs, 2501 * kMs, c);
  std::vector<CheckEvent> out;
  out.reserve(checker_->max_events());
  checker_->tick_into(now_ + 2 * kMs, now_ + 2 * kMs, 0, out, CheckContext{0, 0});
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].kind, EventKind::kDisplaced);
  checker_->set_monitored(3, false, now_ + 40 * kMs);  // the kernel took CPU 3 offline
  ev = verdict(*checker_, now_ + 60 * kMs, true);
  std::vector<CheckEvent> stalls;
  for (const auto& e : ev)
    if (e.kind == EventKind::kStall) stalls.push_back(e);
  ASSERT_EQ(stalls.size(), 1u);
  EXPECT_EQ(stalls[0].cpu, 2);
  EXPECT_TRUE(stalls[0].after_the_fact);
  EXPECT_EQ(stalls[0].cascade_cpus, 3) << "CPU 3 was held with the others before it went away";
  // Its record does not outlive the verdict: a later blackout starts from nothing.
  EXPECT_EQ(checker_->view(3).state, CpuState::kUnmonitored);
}

TEST_F(CheckerTest, AHeartbeatOnAnotherCpuNeverSpeaksForItsOwn) {
  run_for(1000 * kMs);
  slots_[1].moved_to.store(0);  // taskset -a moved it: its wakeups run on CPU 0
  slots_[1].displacements.store(1);
  slots_[1].displaced_on.store(0);
  auto ev = run_for(3000 * kMs, {1});
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].kind, EventKind::kDisplaced);
  EXPECT_EQ(ev[0].moved_to, 0);
  EXPECT_EQ(checker_->view(1).state, CpuState::kDisplaced) << "not monitored, never healthy";
  // It puts itself back; its CPU is busy, so it cannot stamp there: a stall, counted from then.
  slots_[1].placed_ns.store(now_);
  slots_[1].displaced_on.store(kReturning);
  ev = run_for(2500 * kMs, {1});
  ASSERT_EQ(ev.size(), 2u);
  EXPECT_EQ(ev[0].kind, EventKind::kDisplaced);
  EXPECT_EQ(ev[0].moved_to, -1);
  EXPECT_EQ(ev[1].kind, EventKind::kStall);
  EXPECT_EQ(ev[1].cpu, 1);
}

TEST_F(CheckerTest, AHeartbeatBackBeforeAnyCheckSawItWasStillMoved) {
  run_for(1000 * kMs);
  slots_[1].moved_to.store(0);
  slots_[1].displacements.store(1);
  slots_[1].placed_ns.store(now_);
  slots_[1].displaced_on.store(kReturning);
  auto ev = run_for(100 * kMs);
  ASSERT_EQ(ev.size(), 2u);
  EXPECT_EQ(ev[0].kind, EventKind::kDisplaced);
  EXPECT_EQ(ev[0].moved_to, 0);
  EXPECT_EQ(ev[1].kind, EventKind::kDisplaced);
  EXPECT_EQ(ev[1].moved_to, -1);
}

TEST_F(CheckerTest, ANewSeqIsNeverReadWithAnOldStamp) {
  // stamp() writes last_ns before seq (release); the check reads seq first. A check between
  // the two stores of a recovering heartbeat sees the old seq, so the next check still sees
  // the recovery (reading them the other way round could pair a new seq with the old stamp
  // and hide the recovery for the whole episode).
  run_for(1000 * kMs);
  run_for(2500 * kMs, {1});
  ASSERT_EQ(checker_->view(1).state, CpuState::kStalled);
  slots_[1].last_ns.store(now_ + 50 * kMs);  // the first half of a stamp
  auto ev = checker_->tick(now_ + 60 * kMs, now_ + 60 * kMs);
  EXPECT_TRUE(ev.empty());
  slots_[1].seq.store(slots_[1].seq.load() + 1);  // the second half
  now_ += 100 * kMs;
  ev = checker_->tick(now_, now_);
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].kind, EventKind::kRecovered);
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
  run_until(10'300 * kMs, {1});             // a new silence asks again
  EXPECT_EQ(checker_->suspects(), 2u);
  EXPECT_TRUE(checker_->view(1).suspect);
  run_until(12'500 * kMs);  // late but never stalled: the suspicion ends at the next check
  EXPECT_FALSE(checker_->view(1).suspect);
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
