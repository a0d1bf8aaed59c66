// SPDX-License-Identifier: GPL-2.0-or-later
#include "stallwatch/evidence/counters.h"

#include <gtest/gtest.h>

#include "fixture_util.h"

namespace stallwatch::evidence {
namespace {

using testing::fixture_path;

CounterSample sample(const std::string& rel, std::int64_t t) {
  std::vector<std::string> errors;
  CounterSample s = read_counter_sample(Sysroot(fixture_path(rel)), t, &errors);
  EXPECT_TRUE(errors.empty()) << errors.front();
  return s;
}

TEST(SelectBaseline, PrefersASampleInsideTheStall) {
  std::string kind;
  // stall began at 10 s; samples every second; now 12.1 s
  std::vector<std::int64_t> t = {8'000'000'000, 9'000'000'000, 10'000'000'000, 11'000'000'000,
                                 12'000'000'000};
  EXPECT_EQ(select_baseline(t, 10'000'000'000, 12'100'000'000, &kind), 3);
  EXPECT_EQ(kind, "inside-stall");
}

TEST(SelectBaseline, FallsBackToTheLastSampleBeforeTheStall) {
  std::string kind;
  std::vector<std::int64_t> t = {8'000'000'000, 9'900'000'000, 10'300'000'000};
  // 10.3 s is not 500 ms into the stall: use 9.9 s (includes 100 ms of healthy time)
  EXPECT_EQ(select_baseline(t, 10'000'000'000, 12'000'000'000, &kind), 1);
  EXPECT_EQ(kind, "before-stall");
}

TEST(SelectBaseline, DaemonJustStartedOrNothing) {
  std::string kind;
  std::vector<std::int64_t> t = {10'200'000'000};
  EXPECT_EQ(select_baseline(t, 10'000'000'000, 10'400'000'000, &kind), 0);
  EXPECT_EQ(kind, "after-stall-start");
  EXPECT_EQ(select_baseline({}, 1, 2, &kind), -1);
  EXPECT_EQ(select_baseline({5}, 1, 5, &kind), -1);  // only a sample taken "now"
}

TEST(CounterDelta, RealRtHogCaptureInsideTheStall) {
  // early: 0.7 s after the hog started on CPU 1; late: 1.3 s after that.
  CounterSample early = sample("host/scenarios/rt-hog/early", 757'909'147'710);
  CounterSample late = sample("host/scenarios/rt-hog/late", 759'209'916'944);
  CounterEvidence c = compute_counter_delta(early, late, 1, 100);
  ASSERT_TRUE(c.have_stat);
  EXPECT_EQ(c.window_ns, 1'300'769'234);
  EXPECT_EQ(c.cpu_ms.user, 1240);  // 33129 - 33005 ticks at USER_HZ 100
  EXPECT_EQ(c.cpu_ms.system, 20);
  EXPECT_EQ(c.cpu_ms.idle, 0);
  EXPECT_EQ(c.cpu_ms.steal, 40);
  ASSERT_TRUE(c.have_loc);
  EXPECT_EQ(c.local_timer_row, "LOC");
  EXPECT_EQ(c.loc_delta, 151335u - 151010u);
  ASSERT_FALSE(c.top_irqs.empty());
  EXPECT_EQ(c.top_irqs.front().name, "LOC");
  for (std::size_t i = 1; i < c.top_irqs.size(); ++i)
    EXPECT_GE(c.top_irqs[i - 1].delta, c.top_irqs[i].delta);
  EXPECT_LE(c.top_irqs.size(), 8u);
  ASSERT_TRUE(c.have_softirqs);
  std::uint64_t sum = 0;
  for (const auto& s : c.top_irqs) sum += s.delta;
  EXPECT_LE(sum, c.irq_total_delta);
}

TEST(CounterDelta, MissingCpuAndMissingFiles) {
  CounterSample early = sample("host/scenarios/rt-hog/early", 1);
  CounterSample late = sample("host/scenarios/rt-hog/late", 2);
  CounterEvidence c = compute_counter_delta(early, late, 7, 100);
  EXPECT_FALSE(c.have_stat);
  EXPECT_FALSE(c.have_interrupts);
  EXPECT_FALSE(c.have_softirqs);
  std::vector<std::string> errors;
  CounterSample none = read_counter_sample(Sysroot("/nonexistent-root"), 3, &errors);
  EXPECT_EQ(errors.size(), 3u);
  EXPECT_FALSE(none.have_stat || none.have_interrupts || none.have_softirqs);
}

TEST(CounterDelta, ThirtyTwoBitInterruptCountersWrap) {
  auto a = parse_interrupts("     CPU0 CPU1\nLOC: 4294967290 5 Local timer interrupts\n");
  auto b = parse_interrupts("     CPU0 CPU1\nLOC: 10 6 Local timer interrupts\n");
  ASSERT_TRUE(a.ok() && b.ok());
  CounterSample s1, s2;
  s1.interrupts = *a;
  s1.have_interrupts = true;
  s2.interrupts = *b;
  s2.have_interrupts = true;
  s2.mono_ns = 1'000'000'000;
  CounterEvidence c = compute_counter_delta(s1, s2, 0, 100);
  EXPECT_EQ(c.loc_delta, 16u);
}

TEST(CounterHistory, BoundedBySamplesAndBytes) {
  CounterHistory h(3, 1 << 20);
  for (int i = 0; i < 5; ++i) {
    auto s = std::make_shared<CounterSample>();
    s->mono_ns = i * 1'000'000'000LL;
    h.push(s);
  }
  EXPECT_EQ(h.size(), 3u);
  EXPECT_EQ(h.latest()->mono_ns, 4'000'000'000);
  std::string kind;
  auto base = h.baseline_for(2'100'000'000, 4'500'000'000, &kind);
  ASSERT_NE(base, nullptr);
  EXPECT_EQ(base->mono_ns, 3'000'000'000);
  EXPECT_EQ(kind, "inside-stall");
  CounterHistory tiny(64, 1);  // byte cap below one sample: keeps the newest only
  tiny.push(std::make_shared<CounterSample>());
  tiny.push(std::make_shared<CounterSample>());
  EXPECT_EQ(tiny.size(), 1u);
}

}  // namespace
}  // namespace stallwatch::evidence
