// stallwatchctl drill: the refusal rules (the hog itself is exercised by the host test).
#include "stallwatch/ctl/drill.h"

#include <gtest/gtest.h>

namespace stallwatch::ctl {
namespace {

Result<DrillPlan> plan(int cpu, double secs, bool force, bool monitored = true, int ncpu = 4) {
  return validate_drill({cpu, secs, force}, 99, 2000, 100, monitored, ncpu);
}

TEST(Drill, RefusesCpu0WithoutForce) {
  auto p = plan(0, 5, false);
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.error().message,
            "refusing to hog CPU 0 (housekeeping work runs there); use --force to insist");
  EXPECT_TRUE(plan(0, 5, true).ok());
}

TEST(Drill, RefusesMoreThan30SecondsWithoutForce) {
  EXPECT_TRUE(plan(1, 30, false).ok());
  auto p = plan(1, 30.5, false);
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.error().message, "refusing a drill longer than 30 s without --force");
  EXPECT_TRUE(plan(1, 60, true).ok());
}

TEST(Drill, RefusesUnknownOrUnmonitoredCpus) {
  EXPECT_EQ(plan(4, 5, true).error().message, "--cpu 4: no such CPU (this machine has CPUs 0-3)");
  EXPECT_FALSE(plan(-1, 5, true).ok());
  EXPECT_NE(plan(2, 5, false, false).error().message.find("not monitored"), std::string::npos);
}

TEST(Drill, RefusesDurationsTheDaemonCannotSee) {
  // threshold 2 s + 2 checker intervals + 0.2 s margin = 2.4 s
  auto p = plan(1, 2.0, false);
  ASSERT_FALSE(p.ok());
  EXPECT_NE(p.error().message.find("too short"), std::string::npos) << p.error().message;
  EXPECT_FALSE(plan(1, 0, true).ok());
  EXPECT_FALSE(plan(1, -3, true).ok());
  EXPECT_TRUE(plan(1, 2.5, false).ok());
}

TEST(Drill, PlanRunsAtTheHeartbeatPriority) {
  auto p = validate_drill({1, 4.0, false}, 50, 1000, 100, true, 2);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->priority, 50);
  EXPECT_EQ(p->cpu, 1);
  EXPECT_EQ(p->duration_ns, 4'000'000'000);
  EXPECT_FALSE(validate_drill({1, 4.0, false}, 0, 1000, 100, true, 2).ok());
}

}  // namespace
}  // namespace stallwatch::ctl
