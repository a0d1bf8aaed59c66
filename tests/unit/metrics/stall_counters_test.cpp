// SPDX-License-Identifier: GPL-2.0-or-later
// StallCounters and its sink: stalls by class, seconds stalled that never go backwards.
#include "stallwatch/metrics/stall_counters.h"

#include <gtest/gtest.h>

namespace stallwatch::metrics {
namespace {

StallEvent event(EventKind kind, int cpu, std::int64_t stall_ns = 0) {
  StallEvent e;
  e.kind = kind;
  e.cpu = cpu;
  e.stall_ns = stall_ns;
  return e;
}

std::size_t idx(std::string_view c) { return StallCounters::class_index(c); }

TEST(StallCounters, CountsStallsByClassAndCpu) {
  auto counters = std::make_shared<StallCounters>(4);
  CountingSink sink(counters);
  StallReport hog;
  hog.stall_class = "rt-hog";
  StallReport odd;
  odd.stall_class = "not-a-class";
  sink.fire(event(EventKind::kStall, 1), &hog);
  sink.fire(event(EventKind::kStall, 1), &hog);
  sink.fire(event(EventKind::kOngoing, 1), &hog);   // same episode: not a new stall
  sink.fire(event(EventKind::kStall, 3), nullptr);  // evidence disabled: unknown
  sink.fire(event(EventKind::kStall, 2), &odd);     // a class we do not know: unknown
  sink.fire(event(EventKind::kStall, 9), &hog);     // out of range: ignored, no crash
  EXPECT_EQ(counters->stalls(1, idx("rt-hog")), 2u);
  EXPECT_EQ(counters->stalls(1, idx("unknown")), 0u);
  EXPECT_EQ(counters->stalls(3, idx("unknown")), 1u);
  EXPECT_EQ(counters->stalls(2, idx("unknown")), 1u);
  EXPECT_EQ(counters->stalls(0, idx("rt-hog")), 0u);
  EXPECT_EQ(counters->stalls(9, idx("rt-hog")), 0u);
  EXPECT_EQ(kStallClasses[idx("kernel-nonpreemptible")], "kernel-nonpreemptible");
}

TEST(StallCounters, EscalationsAndReloadFailures) {
  StallCounters c(2);
  c.count(event(EventKind::kGlobalPause, -1, 5'000'000'000), nullptr);  // not a stall, no CPU
  c.count(event(EventKind::kEscalation, 1, 60'000'000'000), nullptr);
  c.count(event(EventKind::kEscalation, 0, 60'000'000'000), nullptr);
  c.count_reload_failure();
  for (std::size_t k = 0; k < kStallClasses.size(); ++k)
    EXPECT_EQ(c.stalls(0, k) + c.stalls(1, k), 0u);
  EXPECT_EQ(c.escalations(), 2u);
  EXPECT_EQ(c.reload_failures(), 1u);
}

TEST(StallCounters, StallSecondsIncludeTheOngoingEpisodeAndNeverDecrease) {
  StallCounters c(2);
  EXPECT_EQ(c.stall_ns_total(1, 0), 0);
  // Stalled: the checker's current episode grows.
  EXPECT_EQ(c.stall_ns_total(1, 1'500'000'000), 1'500'000'000);
  EXPECT_EQ(c.stall_ns_total(1, 2'500'000'000), 2'500'000'000);
  // The checker saw the recovery (episode 0) before the report worker counted it: held.
  EXPECT_EQ(c.stall_ns_total(1, 0), 2'500'000'000);
  // The recovered event: the episode ran 2.6 s in all (last stamp to first stamp).
  c.count(event(EventKind::kRecovered, 1, 2'600'000'000), nullptr);
  EXPECT_EQ(c.stall_ns_total(1, 0), 2'600'000'000);
  // A second episode adds to it.
  EXPECT_EQ(c.stall_ns_total(1, 1'000'000'000), 3'600'000'000);
  EXPECT_EQ(c.stall_ns_total(0, 0), 0);
}

}  // namespace
}  // namespace stallwatch::metrics
