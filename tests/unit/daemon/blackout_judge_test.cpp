// SPDX-License-Identifier: GPL-2.0-or-later
// BlackoutJudge on a fixture sysroot: each heartbeat's run-queue wait is a schedstat file the
// test rewrites between samples, as the kernel would after the heartbeat ran again.
#include "stallwatch/daemon/blackout_judge.h"

#include <unistd.h>

#include <array>
#include <filesystem>
#include <fstream>
#include <string>

#include <gtest/gtest.h>

#include "temp_dir.h"

namespace stallwatch::daemon {
namespace {

namespace fs = std::filesystem;

class JudgeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (int cpu = 0; cpu < 2; ++cpu) {
      slots_[static_cast<std::size_t>(cpu)].tid.store(1000 + cpu);
      set_wait(cpu, 5'000'000);
    }
  }
  // The second schedstat field (ns waited runnable) of CPU cpu's heartbeat.
  void set_wait(int cpu, std::int64_t wait_ns) {
    const fs::path dir =
        fs::path(root_) / "proc" / std::to_string(::getpid()) / "task" / std::to_string(1000 + cpu);
    fs::create_directories(dir);
    std::ofstream(dir / "schedstat") << "123456 " << wait_ns << " 77\n";
  }
  test_support::TempDir tmp_{"sw-judge"};
  const std::string root_ = tmp_.path();
  std::array<HeartbeatSlot, 2> slots_{};
};

constexpr std::int64_t kSec = 1'000'000'000;
constexpr std::int64_t kMs = 1'000'000;

// stop_machine() behind an interrupts-off CPU: CPU 0's heartbeat was woken on time and waited
// behind the stopper for 3.4 s of a 3.5 s blackout. A status pass ran after the heartbeats came
// back and before the check posted the blackout: the verdict still finds the baseline from before.
TEST_F(JudgeTest, AStatusPassBetweenTheBlackoutAndItsVerdictKeepsTheBaseline) {
  BlackoutJudge judge{Sysroot(root_), slots_.data(), 2};
  judge.sample(10 * kSec);
  judge.sample(11 * kSec);  // the last pass before the blackout (it starts at 11.2 s)
  set_wait(0, 5'000'000 + 3'400'000'000);
  set_wait(1, 5'000'000 + 2'000'000);
  for (int cpu = 0; cpu < 2; ++cpu) slots_[cpu].stamp(14'700'000'000, 3'400'000'000, cpu);
  judge.sample(14'800'000'000);  // heartbeats back at 14.7 s; the pass comes first
  const BlackoutVerdict v = judge.judge(11'200'000'000, 3'500'000'000, 14'900'000'000);
  EXPECT_TRUE(v.starved) << v.why;
  EXPECT_EQ(v.judged, 2);
  EXPECT_EQ(v.starved_cpu, 0);
  EXPECT_EQ(v.waited_ns, 3'400'000'000);
  EXPECT_EQ(v.root_cpu, 1) << "CPU 1's heartbeat waited 2 ms: not woken, interrupts off there";
  EXPECT_EQ(
      v.why,
      "the heartbeat of CPU 0 waited runnable on its CPU for 3400 ms of it: a stall; CPU 1's "
      "heartbeat was not woken through it (its timer did not fire: interrupts off), the root");
}

// A wait is complete only once its heartbeat has run again: the verdict waits for settled(). A
// heartbeat still silent then counts as not woken, and names the root if it alone is.
TEST_F(JudgeTest, AHeartbeatThatHasNotRunSinceIsStillSilentAndAloneIsTheRoot) {
  BlackoutJudge judge{Sysroot(root_), slots_.data(), 2};
  judge.sample(11 * kSec);
  set_wait(0, 5'000'000 + 3'400'000'000);
  set_wait(1, 5'000'000 + 3'000'000'000);  // waiting still: the kernel adds it when it runs
  slots_[0].stamp(14'700'000'000, 3'400'000'000, 0);
  EXPECT_FALSE(judge.settled(11'200'000'000));
  BlackoutVerdict v = judge.judge(11'200'000'000, 3'500'000'000, 14'800'000'000);
  EXPECT_TRUE(v.starved);
  EXPECT_EQ(v.root_cpu, 1);
  EXPECT_TRUE(v.root_still_silent);
  EXPECT_NE(v.why.find("CPU 1's heartbeat alone has not run since, the root"), std::string::npos)
      << v.why;
  EXPECT_EQ(v.waits, "run-queue waits in ms, by CPU: 0:3400 1:3000+");
  slots_[1].stamp(14'750'000'000, 3'000'000'000, 1);
  EXPECT_TRUE(judge.settled(11'200'000'000));
  // A heartbeat whose thread is gone (its CPU offline: no schedstat) is not waited for.
  slots_[1].tid.store(1009);
  judge.sample(11'100'000'000);
  slots_[1].stamp(1, 0, 1);
  EXPECT_TRUE(judge.settled(11'200'000'000));
  slots_[1].tid.store(1001);
  slots_[1].stamp(14'750'000'000, 3'000'000'000, 1);
  // Both ran and both waited: no root from this evidence.
  judge.sample(10 * kSec);
  set_wait(0, 5'000'000);
  set_wait(1, 5'000'000);
  judge.sample(11 * kSec);
  set_wait(0, 5'000'000 + 3'400'000'000);
  set_wait(1, 5'000'000 + 3'000'000'000);
  v = judge.judge(11'200'000'000, 3'500'000'000, 14'800'000'000);
  EXPECT_TRUE(v.starved);
  EXPECT_EQ(v.root_cpu, -1);
}

TEST(JudgeBlackout, NotRunCountsAsNotWokenWhateverItReadsSoFar) {
  // CPU 0 ran and waited; CPUs 1 and 2 have not run since: two candidates, no root.
  EXPECT_EQ(judge_blackout({3 * kSec, 2 * kSec, 1 * kMs}, 3 * kSec, {false, true, true}).root_cpu,
            -1);
  // CPU 2 ran with a short wait (not woken), CPU 1 has not run: two candidates, no root.
  EXPECT_EQ(judge_blackout({3 * kSec, 2 * kSec, 1 * kMs}, 3 * kSec, {false, true, false}).root_cpu,
            -1);
  EXPECT_EQ(judge_blackout({3 * kSec, 2 * kSec, 2 * kSec}, 3 * kSec, {false, true, false}).root_cpu,
            1);
}

// SIGSTOP or a VM pause: nobody waited runnable.
TEST_F(JudgeTest, NoWaitIsAFreeze) {
  BlackoutJudge judge{Sysroot(root_), slots_.data(), 2};
  judge.sample(10 * kSec);
  set_wait(0, 5'000'000 + 40'000);
  const BlackoutVerdict v = judge.judge(10'500'000'000, 2 * kSec, 12'600'000'000);
  EXPECT_FALSE(v.starved);
  EXPECT_EQ(v.judged, 2);
  EXPECT_EQ(v.why, "no heartbeat waited runnable on its CPU (at most 0 ms, 2 judged): a freeze");
}

// Only baselines from before the blackout count, and only of the same thread; the oldest
// generations are overwritten.
TEST_F(JudgeTest, BaselinesFromAfterTheStartOrOfAnotherThreadAreNotUsed) {
  BlackoutJudge judge{Sysroot(root_), slots_.data(), 2};
  judge.sample(10 * kSec);
  for (int i = 1; i <= 4; ++i) judge.sample((20 + i) * kSec);  // four passes push it out
  set_wait(0, 4 * kSec);
  BlackoutVerdict v = judge.judge(15 * kSec, 3 * kSec, 30 * kSec);
  EXPECT_EQ(v.judged, 0);
  EXPECT_FALSE(v.starved);
  EXPECT_EQ(v.why, "no heartbeat's run-queue wait could be read from before it: taken as a freeze");

  judge.sample(31 * kSec);
  slots_[0].tid.store(1005);  // CPU 0's heartbeat restarted: its old baseline is not its own
  set_wait(1, 4 * kSec);
  const fs::path dir = fs::path(root_) / "proc" / std::to_string(::getpid()) / "task" / "1005";
  fs::create_directories(dir);
  std::ofstream(dir / "schedstat") << "1 9000000000 1\n";
  v = judge.judge(32 * kSec, 3 * kSec, 35 * kSec);
  EXPECT_EQ(v.judged, 1);
  EXPECT_TRUE(v.starved);
  EXPECT_EQ(v.starved_cpu, 1);
}

TEST(JudgeBlackout, HalfTheBlackoutWaitedIsAStall) {
  EXPECT_TRUE(judge_blackout({-1, 1 * kSec}, 2 * kSec).starved);
  EXPECT_FALSE(judge_blackout({-1, 999'999'999}, 2 * kSec).starved);
  EXPECT_FALSE(judge_blackout({-1, -1}, 2 * kSec).starved);
}

// stop_machine() behind an interrupts-off CPU (QEMU 05): the held CPUs' heartbeats were woken on
// time and waited; the root's was not woken until the end (a few ms of wait).
TEST(JudgeBlackout, TheOneHeartbeatNotWokenWhileTheOthersWaitedIsTheRoot) {
  const auto v = judge_blackout({3400 * kMs, 3390 * kMs, 4 * kMs, 3380 * kMs}, 3500 * kMs);
  EXPECT_TRUE(v.starved);
  EXPECT_EQ(v.starved_cpu, 0);
  EXPECT_EQ(v.root_cpu, 2);
  EXPECT_NE(v.why.find("CPU 2's heartbeat was not woken"), std::string::npos) << v.why;
  EXPECT_EQ(v.waits, "run-queue waits in ms, by CPU: 0:3400 1:3390 2:4 3:3380");
  EXPECT_EQ(judge_blackout({-1, 5 * kMs}, kSec).waits, "run-queue waits in ms, by CPU: 0:- 1:5");
  EXPECT_EQ(judge_blackout(std::vector<std::int64_t>(17, 0), kSec).waits, "") << "too many to list";
}

TEST(JudgeBlackout, NoRootUnlessExactlyOneHeartbeatWasNotWoken) {
  // Every heartbeat waited (an RT hog or a preempt-off spin at the root): stamps decide.
  EXPECT_EQ(judge_blackout({3400 * kMs, 3390 * kMs, 3000 * kMs}, 3500 * kMs).root_cpu, -1);
  // Two not woken: which one held the others is not told by this.
  EXPECT_EQ(judge_blackout({3400 * kMs, 4 * kMs, 5 * kMs}, 3500 * kMs).root_cpu, -1);
  // A freeze: nobody waited, so nobody is a root.
  EXPECT_EQ(judge_blackout({1 * kMs, 2 * kMs, 3 * kMs}, 3500 * kMs).root_cpu, -1);
  // Unread (no baseline) is not "not woken"; an eighth of it or more is not either.
  EXPECT_EQ(judge_blackout({3400 * kMs, -1, 3300 * kMs}, 3500 * kMs).root_cpu, -1);
  EXPECT_EQ(judge_blackout({3400 * kMs, 438 * kMs}, 3500 * kMs).root_cpu, -1);
  EXPECT_EQ(judge_blackout({3400 * kMs, 437 * kMs}, 3500 * kMs).root_cpu, 1);
}

}  // namespace
}  // namespace stallwatch::daemon
