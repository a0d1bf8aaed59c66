// SPDX-License-Identifier: GPL-2.0-or-later
// CheckRunner: the check as the heartbeats run it, with fake non-blocking outputs and a fake
// clock; the hardware-watchdog feed hand-off, the systemd ping cadence, the supervisor's
// lock-free requests, a frozen check owner, and no allocation on the real-time path.
#include "stallwatch/check_runner.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <new>

#include "stallwatch/escalation/feed_policy.h"

#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

// Counts allocations made by this test binary (the real-time path must make none).
static std::atomic<long> g_allocations{0};
void* operator new(std::size_t n) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }

namespace stallwatch {
namespace {

constexpr std::int64_t kMs = 1'000'000;

struct FakeOutputs final : RtOutputs {
  int wakes = 0, pings = 0, feeds = 0, last_feed_cpu = -1, last_wake_cpu = -1;
  std::int64_t boot_offset = 0;
  std::int64_t now = 0, last_wake_ns = 0;
  void wake_dispatcher(int cpu) noexcept override { ++wakes; last_wake_cpu = cpu; last_wake_ns = now; }
  void watchdog_ping() noexcept override { ++pings; }
  void request_feed(int cpu) noexcept override { ++feeds; last_feed_cpu = cpu; }
  std::int64_t boot_ns() noexcept override { return now + boot_offset; }
};

class RunnerTest : public ::testing::Test {
 protected:
  static constexpr int kCpus = 2;
  RunnerTest() : slots_(new HeartbeatSlot[kCpus]), ring_(64) {
    settings_.checker.interval_ns = 100 * kMs;
    settings_.checker.threshold_ns = 1000 * kMs;
    settings_.checker.repeat_ns = 5000 * kMs;
    settings_.checker.pause_tolerance_ns = 1000 * kMs;
    settings_.checker.heartbeat_interval_ns = 100 * kMs;
    settings_.ping_period_ns = 500 * kMs;
    runner_ = std::make_unique<CheckRunner>(slots_.get(), kCpus, settings_, gate_, ring_, out_);
    for (int c = 0; c < kCpus; ++c) runner_->post_monitor(c, true, now_);
  }
  // Heartbeats every 100 ms on each CPU not stuck; the first due wins and runs the check, as
  // HeartbeatManager does.
  void run_for(std::int64_t ns, std::vector<int> stuck = {}) {
    const std::int64_t end = now_ + ns;
    while (now_ < end) {
      now_ += 50 * kMs;
      out_.now = now_;
      const int cpu = static_cast<int>((now_ / (50 * kMs)) % 2);
      if (std::find(stuck.begin(), stuck.end(), cpu) != stuck.end()) continue;
      slots_[cpu].stamp(now_, 0, cpu);
      const std::int64_t planned = gate_.next_check_ns.load();
      const bool attention = slots_[cpu].attention.load() != 0;
      if ((now_ >= planned || attention) && gate_.try_claim(cpu, now_)) {
        slots_[cpu].attention.store(0);
        const long before = g_allocations.load();
        runner_->run_check(cpu, now_, planned);
        rt_allocations_ += g_allocations.load() - before;
      }
    }
  }
  std::vector<CheckEvent> drain() {
    std::vector<CheckEvent> v;
    CheckEvent e;
    while (ring_.pop(e)) v.push_back(e);
    return v;
  }

  std::unique_ptr<HeartbeatSlot[]> slots_;
  CheckGate gate_;
  EventRing<CheckEvent> ring_;
  FakeOutputs out_;
  RunnerSettings settings_;
  std::unique_ptr<CheckRunner> runner_;
  std::int64_t now_ = 10'000 * kMs;
  long rt_allocations_ = 0;
};

TEST_F(RunnerTest, StallGoesThroughTheRingAndWakesTheDispatcher) {
  run_for(2000 * kMs);
  EXPECT_TRUE(drain().empty());
  EXPECT_TRUE(runner_->published().all_started.load());
  const int wakes = out_.wakes;
  EXPECT_FALSE(runner_->published().cpu[1].suspect.load());
  run_for(600 * kMs, {1});
  // Half-way to the threshold: CPU 1 is suspect (helpers keep off it), and the dispatcher was
  // woken, to run on the checking CPU, for the counter baseline.
  EXPECT_TRUE(drain().empty());
  EXPECT_TRUE(runner_->published().cpu[1].suspect.load());
  EXPECT_FALSE(runner_->published().cpu[0].suspect.load());
  EXPECT_GT(out_.wakes, wakes);
  EXPECT_EQ(out_.last_wake_cpu, 0);
  run_for(900 * kMs, {1});
  auto ev = drain();
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].kind, EventKind::kStall);
  EXPECT_EQ(ev[0].cpu, 1);
  EXPECT_EQ(out_.last_wake_cpu, 0);
  EXPECT_TRUE(runner_->published().cpu[1].suspect.load());
  EXPECT_EQ(runner_->published().cpu[1].state.load(), static_cast<int>(CpuState::kStalled));
  EXPECT_EQ(runner_->published().stalls_total.load(), 1u);
  run_for(300 * kMs);
  ev = drain();
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].kind, EventKind::kRecovered);
  EXPECT_FALSE(runner_->published().cpu[1].suspect.load());
}

// A new heartbeat (its slot reset) asks for a check at its first stamp, as a recovery does: with
// a 1 s backstop, the CPUs count as started (READY=1) as soon as each has stamped once.
TEST_F(RunnerTest, EveryCpuCountsAsStartedAtItsHeartbeatsFirstStamp) {
  settings_.checker.interval_ns = 1000 * kMs;
  runner_ = std::make_unique<CheckRunner>(slots_.get(), kCpus, settings_, gate_, ring_, out_);
  for (int c = 0; c < kCpus; ++c) {
    runner_->post_monitor(c, true, now_);
    slots_[c].reset();
  }
  run_for(50 * kMs);  // CPU 1's first stamp runs the first check; CPU 0 has not stamped
  EXPECT_FALSE(runner_->published().all_started.load());
  EXPECT_EQ(runner_->published().cpu[0].state.load(), static_cast<int>(CpuState::kStarting));
  EXPECT_EQ(runner_->published().cpu[1].state.load(), static_cast<int>(CpuState::kHealthy));
  const std::int64_t backstop = gate_.next_check_ns.load();
  run_for(50 * kMs);  // CPU 0's first stamp, long before that deadline
  EXPECT_LT(now_, backstop);
  EXPECT_TRUE(runner_->published().all_started.load());
  EXPECT_EQ(runner_->published().cpu[0].state.load(), static_cast<int>(CpuState::kHealthy));
  EXPECT_EQ(slots_[0].attention.load(), 0);
}

TEST_F(RunnerTest, PingsAtItsPeriodAndNeverAfterClose) {
  run_for(5000 * kMs);
  EXPECT_GE(out_.pings, 9);
  EXPECT_LE(out_.pings, 11);
  runner_->close();
  const int pings = out_.pings;
  gate_.closed.store(false);  // keep checks going to prove the runner itself stops pinging
  run_for(2000 * kMs);
  EXPECT_EQ(out_.pings, pings);
}

TEST_F(RunnerTest, NoCheckNoPing) {
  run_for(1000 * kMs);
  const int pings = out_.pings;
  run_for(3000 * kMs, {0, 1});  // every CPU stalled: nobody checks, nobody pings
  EXPECT_EQ(out_.pings, pings);
}

// The dispatcher's periodic pass rides on a check: the first check at or past status_due_ns
// wakes it, once, on the checking CPU; a healthy machine's checks wake it at no other time.
TEST_F(RunnerTest, PeriodicStatusPassRidesOnTheFirstCheckPastDue) {
  run_for(2000 * kMs);
  drain();
  const PublishedState& pub = runner_->published();
  int wakes = out_.wakes;
  run_for(3000 * kMs);
  EXPECT_EQ(out_.wakes, wakes) << "nothing due, nothing changed: the dispatcher sleeps";
  const std::int64_t due = now_ + 1000 * kMs;
  pub.status_due_ns.store(due);
  run_for(950 * kMs);
  EXPECT_EQ(out_.wakes, wakes) << "not yet due";
  run_for(1000 * kMs);
  EXPECT_EQ(out_.wakes, wakes + 1);
  EXPECT_EQ(pub.status_due_ns.load(), PublishedState::kNotDue);
  EXPECT_GE(out_.last_wake_ns, due);
  EXPECT_LE(out_.last_wake_ns - due, settings_.checker.interval_ns) << "by the first check past due";
  wakes = out_.wakes;
  run_for(3000 * kMs);
  EXPECT_EQ(out_.wakes, wakes) << "woken once, until the dispatcher sets the next due time";
}

TEST_F(RunnerTest, FeedRequestedOnTheCheckingCpuAndUnservedRequestsAreRetried) {
  escalation::FeedPolicySettings fs;
  fs.timeout_ns = 3000 * kMs;
  fs.tick_interval_ns = 100 * kMs;
  escalation::FeedPolicy policy(fs);
  runner_->set_feed_policy(&policy);
  run_for(200 * kMs);
  ASSERT_GE(out_.feeds, 1);
  EXPECT_GE(out_.last_feed_cpu, 0);
  // Nobody serves the requests (a feeder stuck in a driver): each next check counts a miss
  // and asks again, rather than believing the device was fed.
  const int feeds = out_.feeds;
  run_for(300 * kMs);
  EXPECT_GT(out_.feeds, feeds);
  EXPECT_GT(runner_->published().feeds_missed.load(), 0u);
  // Served: back to one request per feed period (timeout/3 - tick = 900 ms).
  runner_->feed_served(runner_->published().feeds_requested.load());
  run_for(50 * kMs);
  runner_->feed_served(runner_->published().feeds_requested.load());
  const int served_at = out_.feeds;
  run_for(800 * kMs);
  EXPECT_LE(out_.feeds - served_at, 1);
}

TEST_F(RunnerTest, SettingsAndMonitoringRequestsApplyAtTheNextCheck) {
  run_for(1000 * kMs);
  RunnerSettings next = settings_;
  next.checker.threshold_ns = 3000 * kMs;
  runner_->post_settings(next);
  EXPECT_EQ(gate_.next_check_ns.load(), 0);  // asks for a check at once
  run_for(2000 * kMs, {1});
  EXPECT_TRUE(drain().empty()) << "a 2 s gap is below the new 3 s threshold";
  runner_->post_monitor(1, false, now_);
  run_for(5000 * kMs, {1});
  EXPECT_TRUE(drain().empty()) << "an unmonitored CPU is never stalled";
  EXPECT_EQ(runner_->published().cpu[1].state.load(), static_cast<int>(CpuState::kUnmonitored));
}

TEST_F(RunnerTest, FrozenOwnerIsReportedByABystander) {
  run_for(1000 * kMs);
  ASSERT_TRUE(gate_.try_claim(1, now_));  // CPU 1's heartbeat froze mid-check
  const std::int64_t claimed = now_;
  EXPECT_EQ(runner_->stuck_after_ns(), settings_.checker.threshold_ns);
  runner_->owner_stuck(0, 1, claimed, claimed + 1100 * kMs);
  auto ev = drain();
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].kind, EventKind::kStall);
  EXPECT_EQ(ev[0].cpu, 1);
  EXPECT_TRUE(ev[0].owner_stuck);
  EXPECT_EQ(ev[0].stall_ns, 1100 * kMs);
  EXPECT_FALSE(to_stall_event(ev[0]).note.empty());
}

TEST_F(RunnerTest, RealTimePathDoesNotAllocate) {
  escalation::FeedPolicySettings fs;
  fs.timeout_ns = 3000 * kMs;
  escalation::FeedPolicy policy(fs);
  runner_->set_feed_policy(&policy);
  run_for(2000 * kMs);
  run_for(3000 * kMs, {1});   // a stall, ongoing checks, feeds, pings
  run_for(1000 * kMs);        // recovery
  now_ += 5000 * kMs;         // and a global pause
  run_for(1000 * kMs);
  RunnerSettings next = settings_;
  runner_->post_settings(next);
  runner_->post_monitor(1, false, now_);
  run_for(500 * kMs);
  EXPECT_EQ(rt_allocations_, 0);
  EXPECT_FALSE(drain().empty());
}

TEST(EventRing, BoundedDropsAreCountedAndOrderIsKept) {
  EventRing<CheckEvent> ring(4);
  for (int i = 0; i < 6; ++i) {
    CheckEvent e;
    e.cpu = i;
    ring.push(e);
  }
  EXPECT_EQ(ring.dropped(), 2u);
  CheckEvent e;
  for (int i = 0; i < 4; ++i) {
    ASSERT_TRUE(ring.pop(e));
    EXPECT_EQ(e.cpu, i);
  }
  EXPECT_FALSE(ring.pop(e));
  e.cpu = 9;
  EXPECT_TRUE(ring.push(e));
  ASSERT_TRUE(ring.pop(e));
  EXPECT_EQ(e.cpu, 9);
}

}  // namespace
}  // namespace stallwatch
