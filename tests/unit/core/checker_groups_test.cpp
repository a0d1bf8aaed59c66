// SPDX-License-Identifier: GPL-2.0-or-later
// The check split into groups of CPUs: one group's check looks at its own CPUs only, each group
// keeps its own deadline, the summary (earliest deadline, counts) is the groups', and checking
// group by group at the groups' deadlines finds exactly what a check of every CPU finds.
#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <random>
#include <tuple>

#include "stallwatch/core/checker.h"

namespace stallwatch {
namespace {

constexpr std::int64_t kMs = 1'000'000;

CheckerSettings settings() {
  CheckerSettings s;
  s.interval_ns = 1000 * kMs;
  s.threshold_ns = 2000 * kMs;
  s.repeat_ns = 10'000 * kMs;
  s.pause_tolerance_ns = 1000 * kMs;
  s.heartbeat_interval_ns = 500 * kMs;
  return s;
}

std::vector<CheckEvent> group_check(Checker& c, int g, std::int64_t now) {
  std::vector<CheckEvent> out;
  out.reserve(c.max_events());
  c.tick_group_into(g, now, now, out);
  return out;
}

TEST(CheckerGroups, CpusAreSplitIntoGroupsOfConsecutiveCpus) {
  std::unique_ptr<HeartbeatSlot[]> slots(new HeartbeatSlot[10]);
  Checker c(slots.get(), 10, settings(), 4);
  EXPECT_EQ(c.group_cpus(), 4);
  EXPECT_EQ(c.group_count(), 3);  // 0-3, 4-7, 8-9
  EXPECT_EQ(c.group_of(3), 0);
  EXPECT_EQ(c.group_of(4), 1);
  EXPECT_EQ(c.group_of(9), 2);
  Checker big(slots.get(), 10, settings());
  EXPECT_EQ(big.group_count(), 1);  // 32 to a group by default: one group up to 32 CPUs
}

TEST(CheckerGroups, AGroupsCheckLooksAtItsOwnCpusOnly) {
  std::unique_ptr<HeartbeatSlot[]> slots(new HeartbeatSlot[10]);
  Checker c(slots.get(), 10, settings(), 4);
  std::int64_t now = 1000 * kMs;
  for (int cpu = 0; cpu < 10; ++cpu) c.set_monitored(cpu, true, now);
  for (int cpu = 0; cpu < 10; ++cpu) slots[cpu].stamp(now, 0, cpu);
  for (int g = 0; g < 3; ++g) EXPECT_TRUE(group_check(c, g, now).empty());
  EXPECT_TRUE(c.all_started());
  // CPU 5 (group 1) goes silent; the others stamp on.
  now += 2500 * kMs;
  for (int cpu = 0; cpu < 10; ++cpu)
    if (cpu != 5) slots[cpu].stamp(now, 0, cpu);
  EXPECT_TRUE(group_check(c, 0, now).empty());
  EXPECT_TRUE(group_check(c, 2, now).empty());
  EXPECT_EQ(c.view(5).state, CpuState::kHealthy);  // not looked at yet
  EXPECT_EQ(c.stalled_cpus_count(), 0u);
  const auto ev = group_check(c, 1, now);
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].kind, EventKind::kStall);
  EXPECT_EQ(ev[0].cpu, 5);
  EXPECT_EQ(c.stalled_cpus_count(), 1u);
  EXPECT_EQ(c.monitored_count(), 10u);
  EXPECT_TRUE(c.take_dirty(1));
  EXPECT_FALSE(c.take_dirty(1));
}

TEST(CheckerGroups, EachGroupKeepsItsOwnDeadlineAndTheSummaryIsTheEarliest) {
  std::unique_ptr<HeartbeatSlot[]> slots(new HeartbeatSlot[8]);
  Checker c(slots.get(), 8, settings(), 4);
  std::int64_t now = 1000 * kMs;
  for (int cpu = 0; cpu < 8; ++cpu) c.set_monitored(cpu, true, now);
  EXPECT_EQ(c.next_deadline_ns(), 0);  // a new CPU's group is due at once
  for (int cpu = 0; cpu < 8; ++cpu) slots[cpu].stamp(now, 0, cpu);
  group_check(c, 0, now);
  // Group 1 not checked yet: still due; group 0 due at its backstop (checker.interval).
  EXPECT_EQ(c.earliest_group(), 1);
  EXPECT_EQ(c.next_deadline_ns(), 0);
  EXPECT_EQ(c.group_deadline_ns(0), now + 1000 * kMs);
  group_check(c, 1, now + 300 * kMs);
  EXPECT_EQ(c.earliest_group(), 0);
  EXPECT_EQ(c.next_deadline_ns(), now + 1000 * kMs);
  // Group 1: its CPUs' stamps at `now` cross half the threshold before its backstop.
  EXPECT_EQ(c.group_deadline_ns(1), now + 1000 * kMs + 1);
  c.request_group(1);
  EXPECT_EQ(c.earliest_group(), 1);
  c.request_all();
  EXPECT_EQ(c.group_deadline_ns(0), 0);
}

TEST(CheckerGroups, StartingCountsAcrossGroups) {
  std::unique_ptr<HeartbeatSlot[]> slots(new HeartbeatSlot[8]);
  Checker c(slots.get(), 8, settings(), 4);
  std::int64_t now = 1000 * kMs;
  for (int cpu = 0; cpu < 8; ++cpu) c.set_monitored(cpu, true, now);
  EXPECT_FALSE(c.all_started());
  for (int cpu = 0; cpu < 8; ++cpu) slots[cpu].stamp(now + kMs, 0, cpu);
  group_check(c, 0, now + kMs);
  EXPECT_FALSE(c.all_started());  // group 1 has not been looked at
  group_check(c, 1, now + kMs);
  EXPECT_TRUE(c.all_started());
  c.set_monitored(6, false, now + 2 * kMs);
  EXPECT_EQ(c.monitored_count(), 7u);
  c.set_monitored(6, true, now + 3 * kMs);
  EXPECT_FALSE(c.all_started());
}

// A random fleet: heartbeats with jitter, CPUs stalling and recovering. One checker checks every
// CPU every 10 ms; the other checks only groups whose deadline has passed, one group at a time,
// as the heartbeats do. They must report the same episodes.
TEST(CheckerGroups, GroupChecksAtTheirDeadlinesFindWhatEveryCpuChecksFind) {
  constexpr int kCpus = 37;
  std::unique_ptr<HeartbeatSlot[]> a_slots(new HeartbeatSlot[kCpus]);
  std::unique_ptr<HeartbeatSlot[]> b_slots(new HeartbeatSlot[kCpus]);
  Checker all(a_slots.get(), kCpus, settings(), kCpus);
  Checker grouped(b_slots.get(), kCpus, settings(), 5);
  std::int64_t now = 1000 * kMs;
  for (int cpu = 0; cpu < kCpus; ++cpu) {
    all.set_monitored(cpu, true, now);
    grouped.set_monitored(cpu, true, now);
  }
  std::mt19937 rng(22);
  std::vector<std::int64_t> next(kCpus), stuck_until(kCpus, 0);
  for (int cpu = 0; cpu < kCpus; ++cpu) next[cpu] = now + cpu * (500 * kMs / kCpus);
  using Key = std::tuple<int, int, std::int64_t>;  // kind, cpu, stall start
  std::vector<Key> a_events, b_events;
  std::vector<CheckEvent> out;
  out.reserve(all.max_events());
  const std::int64_t end = now + 60'000 * kMs;
  for (; now < end; now += 10 * kMs) {
    for (int cpu = 0; cpu < kCpus; ++cpu) {
      if (now < next[cpu]) continue;
      next[cpu] += 500 * kMs;
      if (now < stuck_until[cpu]) continue;
      if (rng() % 200 == 0)  // a stall of 0.5 to 5 s
        stuck_until[cpu] = now + static_cast<std::int64_t>(500 + rng() % 4500) * kMs;
      const std::int64_t t = now + static_cast<std::int64_t>(rng() % 3) * kMs;  // jitter
      a_slots[cpu].stamp(t, 0, cpu);
      b_slots[cpu].stamp(t, 0, cpu);
    }
    const std::int64_t at = now + 5 * kMs;
    out.clear();
    all.tick_into(at, at, at, out);
    for (const auto& e : out)
      a_events.emplace_back(static_cast<int>(e.kind), e.cpu, e.stall_start_mono_ns);
    while (grouped.next_deadline_ns() <= at) {
      out.clear();
      grouped.tick_group_into(grouped.earliest_group(), at, at, out);
      for (const auto& e : out)
        b_events.emplace_back(static_cast<int>(e.kind), e.cpu, e.stall_start_mono_ns);
    }
  }
  std::sort(a_events.begin(), a_events.end());
  std::sort(b_events.begin(), b_events.end());
  EXPECT_GT(a_events.size(), 20u);  // the fleet did stall
  EXPECT_EQ(a_events, b_events);
  EXPECT_EQ(all.stalls_total(), grouped.stalls_total());
}

}  // namespace
}  // namespace stallwatch
