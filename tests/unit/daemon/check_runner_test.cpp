// SPDX-License-Identifier: GPL-2.0-or-later
// CheckRunner: the check as the heartbeats run it, with fake non-blocking outputs and a fake
// clock; the hardware-watchdog feed hand-off, the systemd ping cadence, the supervisor's
// lock-free requests, a frozen check owner, and no allocation on the real-time path.
#include "stallwatch/daemon/check_runner.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <new>

#include "stallwatch/core/heartbeat.h"
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

namespace stallwatch::daemon {
namespace {

constexpr std::int64_t kMs = 1'000'000;

struct FakeOutputs final : RtOutputs {
  int wakes = 0, pings = 0, feeds = 0, last_feed_cpu = -1, last_wake_cpu = -1;
  int ping_failures = 0;  // the next this many pings fail (socket queue full)
  std::int64_t boot_offset = 0;
  std::int64_t now = 0, last_wake_ns = 0, last_ping_ns = 0;
  void wake_dispatcher(int cpu) noexcept override {
    ++wakes;
    last_wake_cpu = cpu;
    last_wake_ns = now;
  }
  bool watchdog_ping() noexcept override {
    if (ping_failures > 0) {
      --ping_failures;
      return false;
    }
    ++pings;
    last_ping_ns = now;
    return true;
  }
  bool direct = false;  // fed by the check itself
  bool request_feed(int cpu) noexcept override {
    ++feeds;
    last_feed_cpu = cpu;
    return direct;
  }
  int escalations = 0, escalation_cpu = -1;
  bool pending = false;  // the actor has not taken it yet
  void request_escalation(int cpu, const CheckEvent& e) noexcept override {
    ++escalations;
    escalation_cpu = e.cpu;
    (void)cpu;
    pending = true;
  }
  bool escalation_pending() noexcept override { return pending; }
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
  // Heartbeats every 100 ms on each CPU not stuck (staggered by 50 ms), each wakeup going
  // through check_on_wakeup() as HeartbeatManager's do; a stuck CPU's next wakeup is late.
  // Blackout verdicts are answered as the dispatcher would (verdict_starved_).
  void run_for(std::int64_t ns, std::vector<int> stuck = {}) {
    const std::int64_t end = now_ + ns;
    while (now_ < end) {
      now_ += 50 * kMs;
      wake(static_cast<int>((now_ / (50 * kMs)) % 2), stuck);
    }
  }
  void wake(int cpu, const std::vector<int>& stuck = {}) {
    out_.now = now_;
    if (std::find(stuck.begin(), stuck.end(), cpu) != stuck.end()) return;
    const std::int64_t late = next_[cpu] == 0 ? 0 : std::max<std::int64_t>(0, now_ - next_[cpu]);
    next_[cpu] = now_ + 100 * kMs;
    slots_[cpu].stamp(now_, late, cpu);
    const long before = g_allocations.load();
    check_on_wakeup(gate_, *runner_, slots_[cpu], cpu, now_, late,
                    Checker::late_bound_ns(settings_.checker.heartbeat_interval_ns));
    rt_allocations_ += g_allocations.load() - before;
    answer_blackouts();
  }
  // The dispatcher's side of a blackout: the verdict (not on the real-time path).
  void answer_blackouts() {
    CheckEvent e;
    std::vector<CheckEvent> keep;
    while (ring_.pop(e)) {
      if (e.kind == EventKind::kBlackout) {
        ++blackouts_;
        runner_->post_verdict(e.episode, verdict_starved_, verdict_root_);
      } else {
        keep.push_back(e);
      }
    }
    for (const auto& k : keep) ring_.push(k);
  }
  // A watchdog of timeout 3 s fed from checks 100 ms apart (feed period 900 ms).
  static escalation::FeedPolicySettings feed_settings() {
    escalation::FeedPolicySettings fs;
    fs.timeout_ns = 3000 * kMs;
    fs.tick_interval_ns = 100 * kMs;
    return fs;
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
  std::int64_t next_[kCpus] = {};
  long rt_allocations_ = 0;
  int blackouts_ = 0;
  bool verdict_starved_ = false;
  int verdict_root_ = -1;
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
  EXPECT_LE(out_.last_wake_ns - due, settings_.checker.interval_ns)
      << "by the first check past due";
  wakes = out_.wakes;
  run_for(3000 * kMs);
  EXPECT_EQ(out_.wakes, wakes) << "woken once, until the dispatcher sets the next due time";
}

TEST_F(RunnerTest, FeedRequestedOnTheCheckingCpuAndUnservedRequestsAreRetried) {
  escalation::FeedPolicy policy(feed_settings());
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

// Issue 19: a drill of escalation.after + the watchdog timeout + 3 s with action
// watchdog-device (stop_on_escalation, no grace) never stops the feeding: the check knows the
// drill from what the dispatcher posted, where the feeding is decided. The same stall without
// the drill stops it at once.
TEST_F(RunnerTest, ADrillsEscalationNeverStopsTheFeeding) {
  RunnerSettings next = settings_;
  next.checker.escalation_after_ns = 2000 * kMs;
  runner_->post_settings(next);
  escalation::FeedPolicySettings fs = feed_settings();
  fs.stop_on_escalation = true;
  fs.escalation_grace_ns = 0;
  escalation::FeedPolicy policy(fs);
  runner_->set_feed_policy(&policy);
  run_for(1000 * kMs);
  drain();
  // The drill on CPU 1: announced for its length plus the grace, posted before the hog starts.
  const std::int64_t drill_ns = 2000 * kMs + fs.timeout_ns + 3000 * kMs;
  runner_->post_drill(1, now_ + drill_ns + 1000 * kMs);
  int fed = 0;
  std::vector<CheckEvent> seen;
  for (std::int64_t t = 0; t < drill_ns; t += 100 * kMs) {
    const int before = out_.feeds;
    run_for(100 * kMs, {1});
    fed += out_.feeds - before;
    runner_->feed_served(runner_->published().feeds_requested.load());
    for (auto& e : drain()) seen.push_back(e);
  }
  const auto esc = std::find_if(seen.begin(), seen.end(), [](const CheckEvent& e) {
    return e.kind == EventKind::kEscalation;
  });
  ASSERT_NE(esc, seen.end());
  EXPECT_EQ(esc->cpu, 1);
  EXPECT_TRUE(esc->drill);
  EXPECT_FALSE(policy.stopped());
  EXPECT_EQ(out_.escalations, 0) << "a drill's escalation is not handed to the actor";
  // Fed at least once per feed period (timeout/3 - tick = 900 ms) through the whole drill.
  EXPECT_GE(fed, static_cast<int>(drill_ns / (900 * kMs)));

  // The drill is over (the dispatcher cleared it); a real stall of CPU 1 escalates and the
  // feeding stops.
  run_for(1000 * kMs);
  drain();
  runner_->post_drill(1, 0);
  run_for(2500 * kMs, {1});
  bool real = false;
  for (auto& e : drain())
    if (e.kind == EventKind::kEscalation && e.cpu == 1 && !e.drill) real = true;
  EXPECT_TRUE(real);
  EXPECT_TRUE(policy.stopped());
}

// Issue 19: the check hands a due escalation to the actor at once (not through the report
// queue), and sends no WATCHDOG=1 until the actor has taken it; a drill's is never handed over.
TEST_F(RunnerTest, AnEscalationIsHandedToTheActorAndNoPingWhileItIsPending) {
  RunnerSettings next = settings_;
  next.checker.escalation_after_ns = 2000 * kMs;
  runner_->post_settings(next);
  run_for(1000 * kMs);
  drain();
  run_for(2300 * kMs, {1});
  ASSERT_EQ(out_.escalations, 1);
  EXPECT_EQ(out_.escalation_cpu, 1);
  const int pings = out_.pings;
  run_for(2000 * kMs, {1});
  EXPECT_EQ(out_.pings, pings) << "no WATCHDOG=1 while the escalation is not taken";
  out_.pending = false;  // taken
  run_for(1000 * kMs, {1});
  EXPECT_GT(out_.pings, pings);
  EXPECT_EQ(out_.escalations, 1);
}

// A driver fed by the check itself: every due feed is served at once, none counted missed.
TEST_F(RunnerTest, ADirectFeedIsServedByTheCheckItself) {
  escalation::FeedPolicy policy(feed_settings());
  runner_->set_feed_policy(&policy);
  out_.direct = true;
  run_for(5000 * kMs);
  EXPECT_GE(out_.feeds, 5);
  EXPECT_EQ(runner_->published().feeds_missed.load(), 0u);
}

TEST_F(RunnerTest, SettingsAndMonitoringRequestsApplyAtTheNextCheck) {
  run_for(1000 * kMs);
  RunnerSettings next = settings_;
  next.checker.threshold_ns = 3000 * kMs;
  runner_->post_settings(next);
  EXPECT_TRUE(gate_.requested.load());  // asks for a check at once
  run_for(2000 * kMs, {1});
  EXPECT_TRUE(drain().empty()) << "a 2 s gap is below the new 3 s threshold";
  runner_->post_monitor(1, false, now_);
  run_for(5000 * kMs, {1});
  EXPECT_TRUE(drain().empty()) << "an unmonitored CPU is never stalled";
  EXPECT_EQ(runner_->published().cpu[1].state.load(), static_cast<int>(CpuState::kUnmonitored));
}

TEST_F(RunnerTest, AClaimHeldForeverIsTakenOverAndDetectionGoesOn) {
  run_for(1000 * kMs);
  // A heartbeat froze while holding the claim (here a CPU outside the test's two) and never
  // comes back: without a takeover no check would run anywhere again.
  const std::uint64_t frozen = gate_.try_claim(5, now_);
  ASSERT_NE(frozen, 0u);
  const int pings = out_.pings;
  run_for(3000 * kMs, {1});  // then CPU 1 stalls
  auto ev = drain();
  ASSERT_FALSE(ev.empty());
  EXPECT_EQ(ev[0].kind, EventKind::kStall);
  EXPECT_EQ(ev[0].cpu, 1);
  EXPECT_EQ(runner_->published().stuck_owners.load(), 1u);
  EXPECT_EQ(gate_.takeovers.load(), 1u);
  EXPECT_GT(out_.pings, pings) << "pings go on from the checks the bystander runs";
  run_for(500 * kMs);
  ev = drain();
  ASSERT_FALSE(ev.empty());
  EXPECT_EQ(ev.back().kind, EventKind::kRecovered);
  // The frozen owner resumes mid-check: it owns nothing any more, so it outputs and releases
  // nothing (the claim, if held, stays with its new owner).
  const std::uint64_t held = gate_.claim.load();
  CheckCall stale;
  stale.cpu = 5;
  stale.now_ns = now_;
  stale.claim = frozen;
  runner_->run_check(stale);
  EXPECT_TRUE(drain().empty());
  EXPECT_EQ(gate_.claim.load(), held);
}

TEST_F(RunnerTest, TheOwnerOfAFrozenClaimIsReportedAsTheStalledCpu) {
  run_for(1000 * kMs);
  ASSERT_NE(gate_.try_claim(1, now_), 0u);  // CPU 1 froze mid-check (an IRQ handler that hangs)
  run_for(1500 * kMs, {1});
  auto ev = drain();
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].kind, EventKind::kStall);
  EXPECT_EQ(ev[0].cpu, 1);
  EXPECT_TRUE(ev[0].owner_stuck);
  EXPECT_NE(to_stall_event(ev[0]).note.find("took the check over"), std::string::npos);
}

TEST(CheckGate, ARequestIsNotLostWhenTheOwnerReleases) {
  CheckGate gate;
  const std::uint64_t mine = gate.try_claim(0, 1000 * kMs);
  ASSERT_NE(mine, 0u);
  EXPECT_EQ(gate.try_claim(1, 1000 * kMs), 0u);
  gate.request_check_now();                     // the supervisor, during the check
  EXPECT_TRUE(gate.release(mine, 3000 * kMs));  // the owner's next deadline is 2 s away
  EXPECT_TRUE(gate.due(1001 * kMs)) << "the request survives the release";
  EXPECT_TRUE(gate.take_request());
  EXPECT_FALSE(gate.due(1001 * kMs));
}

TEST(CheckGate, OwnerAndClaimTimeAreOneWord) {
  CheckGate gate;
  const std::uint64_t w = gate.try_claim(4095, 7'000 * kMs);
  EXPECT_EQ(CheckGate::owner_of(w), 4095);
  EXPECT_EQ(CheckGate::claimed_ns_of(w), 7'000 * kMs);
  EXPECT_EQ(gate.try_take_over(1, 7'400 * kMs, 500 * kMs), 0u) << "not past the bound";
  const std::uint64_t t = gate.try_take_over(1, 7'600 * kMs, 500 * kMs);
  ASSERT_NE(t, 0u);
  EXPECT_EQ(CheckGate::owner_of(gate.claim.load()), 1);
  EXPECT_FALSE(gate.release(w, 9'000 * kMs)) << "a taken-over owner releases nothing";
  EXPECT_TRUE(gate.owns(t));
  EXPECT_TRUE(gate.release(t, 9'000 * kMs));
  EXPECT_EQ(gate.claim.load(), 0u);
}

TEST_F(RunnerTest, AFailedPingIsRetriedAtTheNextCheckNotCountedAsSent) {
  run_for(1000 * kMs);
  const int pings = out_.pings;
  out_.ping_failures = 1;
  const std::int64_t due = out_.last_ping_ns + settings_.ping_period_ns;
  while (now_ < due + 10 * kMs) run_for(50 * kMs);
  EXPECT_EQ(out_.ping_failures, 0) << "a ping was attempted when due";
  run_for(150 * kMs);
  EXPECT_EQ(out_.pings, pings + 1) << "and retried at the next wakeup, not a period later";
  EXPECT_LE(out_.last_ping_ns - due, 150 * kMs);
}

TEST_F(RunnerTest, AFreezeOfEveryHeartbeatIsJudgedAndNeverAStall) {
  run_for(1000 * kMs);
  for (std::int64_t freeze : {1600, 1800, 2000, 2200, 2400}) {
    now_ += freeze * kMs;  // SIGSTOP: no heartbeat ran
    run_for(3000 * kMs);
  }
  for (const auto& e : drain()) EXPECT_NE(e.kind, EventKind::kStall) << "cpu " << e.cpu;
  EXPECT_EQ(blackouts_, 5);
  EXPECT_EQ(runner_->published().global_pauses.load(), 5u);
}

TEST_F(RunnerTest, AStallOfEveryHeartbeatIsJudgedAndReported) {
  run_for(1000 * kMs);
  verdict_starved_ = true;  // the heartbeats waited runnable: a stall of both CPUs (a cascade)
  now_ += 2000 * kMs;
  next_[0] -= 30 * kMs;  // CPU 0 went silent first
  run_for(1000 * kMs);
  auto ev = drain();
  ASSERT_EQ(ev.size(), 2u);
  EXPECT_EQ(ev[0].kind, EventKind::kStall);
  EXPECT_TRUE(ev[0].after_the_fact);
  EXPECT_EQ(ev[1].kind, EventKind::kRecovered);
  EXPECT_EQ(ev[0].cpu, ev[1].cpu);
  EXPECT_EQ(ev[0].cascade_cpus, 1);
}

TEST_F(RunnerTest, TheRootNamedByTheVerdictCrossesToTheCheck) {
  // As above, but the judge found CPU 1's heartbeat not woken through it (interrupts off there):
  // 30 ms apart, the stamps cannot order the two silences, so the evidence names the root.
  run_for(1000 * kMs);
  verdict_starved_ = true;
  verdict_root_ = 1;
  now_ += 2000 * kMs;
  next_[0] -= 30 * kMs;
  run_for(1000 * kMs);
  auto ev = drain();
  ASSERT_EQ(ev.size(), 2u);
  EXPECT_EQ(ev[0].kind, EventKind::kStall);
  EXPECT_EQ(ev[0].cpu, 1);
  EXPECT_EQ(ev[0].cascade_cpus, 1);
}

TEST_F(RunnerTest, RealTimePathDoesNotAllocate) {
  escalation::FeedPolicySettings fs;
  fs.timeout_ns = 3000 * kMs;
  escalation::FeedPolicy policy(fs);
  runner_->set_feed_policy(&policy);
  run_for(2000 * kMs);
  run_for(3000 * kMs, {1});  // a stall, ongoing checks, feeds, pings
  run_for(1000 * kMs);       // recovery
  now_ += 5000 * kMs;        // and a blackout, judged a freeze
  run_for(1000 * kMs);
  verdict_starved_ = true;  // and one judged a stall
  now_ += 3000 * kMs;
  run_for(1000 * kMs);
  RunnerSettings next = settings_;
  runner_->post_settings(next);
  runner_->post_monitor(1, false, now_);
  run_for(500 * kMs);
  EXPECT_EQ(rt_allocations_, 0);
  EXPECT_FALSE(drain().empty());
}

// 96 CPUs in three groups of 32, heartbeats staggered over a 500 ms interval (one wakeup every
// 5.2 ms): each check covers one group, and a CPU stalled in any group is still reported within
// threshold + a few wakeups of its last stamp, by whichever heartbeat wakes next.
TEST(RunnerGroups, EachCheckCoversOneGroupAndAStallAnywhereIsFoundOnTime) {
  constexpr int kCpus = 96;
  std::unique_ptr<HeartbeatSlot[]> slots(new HeartbeatSlot[kCpus]);
  CheckGate gate;
  EventRing<CheckEvent> ring(256);
  struct Timed final : RtOutputs {
    std::int64_t now = 0;
    void wake_dispatcher(int) noexcept override {}
    bool watchdog_ping() noexcept override { return true; }
    bool request_feed(int) noexcept override { return false; }
    std::int64_t boot_ns() noexcept override { return now; }
    std::int64_t mono_ns() noexcept override { return now + 7000; }  // every check holds 7 us
  } out;
  RunnerSettings rs;
  rs.checker.interval_ns = 1000 * kMs;
  rs.checker.threshold_ns = 2000 * kMs;
  rs.checker.repeat_ns = 10'000 * kMs;
  rs.checker.heartbeat_interval_ns = 500 * kMs;
  CheckRunner runner(slots.get(), kCpus, rs, gate, ring, out);
  std::int64_t now = 1000 * kMs;
  for (int c = 0; c < kCpus; ++c) runner.post_monitor(c, true, now);
  const std::int64_t step = 500 * kMs / kCpus;
  std::int64_t last_stamp_70 = 0, found = 0;
  for (int i = 0; i < 20 * kCpus && found == 0; ++i) {
    now += step;
    out.now = now;
    const int cpu = i % kCpus;
    if (cpu == 70 && i >= 4 * kCpus) continue;  // CPU 70 (group 2) stalls after 2 s
    if (cpu == 70) last_stamp_70 = now;
    slots[cpu].stamp(now, 0, cpu);
    check_on_wakeup(gate, runner, slots[cpu], cpu, now, 0, Checker::late_bound_ns(500 * kMs));
    CheckEvent e;
    while (ring.pop(e))
      if (e.kind == EventKind::kStall && e.cpu == 70) found = e.detected_mono_ns;
  }
  ASSERT_GT(found, 0);
  EXPECT_GT(found - last_stamp_70, 2000 * kMs);
  EXPECT_LE(found - last_stamp_70, 2000 * kMs + 3 * step);
  const PublishedState& p = runner.published();
  EXPECT_EQ(p.cpu[70].state.load(), static_cast<int>(CpuState::kStalled));
  EXPECT_TRUE(p.all_started.load());
  // Every check held its CPU 7 us (the fake clock): counted and the longest kept.
  EXPECT_EQ(p.check_hold_max_ns.load(), 7000);
  EXPECT_EQ(p.check_hold_ns_total.load(), p.checks.load() * 7000);
  // About one group check per group per second (the backstop), plus the new heartbeats' first.
  const double seconds = static_cast<double>(now - 1000 * kMs) / 1e9;
  EXPECT_LT(static_cast<double>(p.checks.load()), 3 * seconds + kCpus + 10);
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
}  // namespace stallwatch::daemon
