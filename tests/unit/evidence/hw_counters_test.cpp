// SPDX-License-Identifier: GPL-2.0-or-later
// Hardware deltas over a stall window: thermal-throttle counts and machine-check rows, on the
// QEMU guest's counter files (tests/fixtures/evidence/hw, see the README there).
#include "stallwatch/evidence/hw_counters.h"

#include <gtest/gtest.h>

#include "fixture_util.h"
#include "stallwatch/evidence/classify.h"
#include "stallwatch/evidence/counters.h"
#include "stallwatch/evidence/report_json.h"

namespace stallwatch::evidence {
namespace {

using testing::fixture_path;

CounterSample sample(const std::string& rel, std::int64_t t) {
  std::vector<std::string> errors;
  CounterSample s = read_counter_sample(Sysroot(fixture_path(rel)), t, &errors);
  EXPECT_TRUE(errors.empty()) << errors.front();
  return s;
}

TEST(HwCounters, ThermalCountsPerCpu) {
  auto t = read_thermal_counts(Sysroot(fixture_path("hw/after")));
  ASSERT_EQ(t.size(), 2u);
  EXPECT_EQ(t[0].cpu, 0);
  EXPECT_EQ(t[1].cpu, 1);
  EXPECT_EQ(t[1].core, 47u);
  EXPECT_EQ(t[1].package, 14u);
  // A VM (the host capture) has none.
  EXPECT_TRUE(read_thermal_counts(Sysroot(fixture_path("host/scenarios/rt-hog/late"))).empty());
}

TEST(HwCounters, DeltasOverTheStallWindow) {
  const CounterSample before = sample("hw/before", 1'000'000'000);
  const CounterSample after = sample("hw/after", 4'000'000'000);
  CounterEvidence c1 = compute_counter_delta(before, after, 1, 100);
  EXPECT_TRUE(c1.have_thermal);
  EXPECT_EQ(c1.core_throttle_delta, 40u);
  EXPECT_EQ(c1.package_throttle_delta, 12u);
  EXPECT_TRUE(c1.have_machine_checks);
  EXPECT_EQ(c1.mce_delta, 2u);
  EXPECT_EQ(c1.mcp_delta, 2u);
  CounterEvidence c0 = compute_counter_delta(before, after, 0, 100);
  EXPECT_TRUE(c0.have_thermal);
  EXPECT_EQ(c0.core_throttle_delta, 0u);
  EXPECT_EQ(c0.mce_delta, 0u);
}

TEST(HwCounters, AbsentWhereTheKernelHasNoCounters) {
  // The host's rt-hog capture: no thermal_throttle, no MCE row (a Firecracker VM).
  const CounterSample pre = sample("host/scenarios/rt-hog/pre", 1'000'000'000);
  const CounterSample early = sample("host/scenarios/rt-hog/early", 1'700'000'000);
  CounterEvidence c = compute_counter_delta(pre, early, 1, 100);
  EXPECT_FALSE(c.have_thermal);
  EXPECT_FALSE(c.have_machine_checks);
}

TEST(HwCounters, ReportSaysHowOftenTheCpuWasThrottled) {
  Evidence ev;
  ev.event.cpu = 1;
  ev.counters = compute_counter_delta(sample("hw/before", 1'000'000'000),
                                      sample("hw/after", 4'000'000'000), 1, 100);
  const std::string json = evidence_to_json(ev);
  EXPECT_NE(json.find("\"thermal_throttle\":{\"core_delta\":40,\"package_delta\":12}"),
            std::string::npos)
      << json;
  EXPECT_NE(json.find("\"machine_checks\":{\"mce_delta\":2,\"mcp_delta\":2}"), std::string::npos);
  const std::string text = format_summary(ev, Classification{});
  EXPECT_NE(text.find("\nCPU 1 was thermally throttled 40 times during the stall (package 12)"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("\nCPU 1 took 2 machine check exceptions during the stall"),
            std::string::npos)
      << text;
}

}  // namespace
}  // namespace stallwatch::evidence
