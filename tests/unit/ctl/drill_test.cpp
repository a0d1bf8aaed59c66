// SPDX-License-Identifier: GPL-2.0-or-later
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

TEST(Drill, SaysWhatTheEscalationWouldHaveDone) {
  Config c;
  EXPECT_EQ(describe_drill_escalation(c, 4.0), "escalation: none configured");
  c.escalation.action = EscalationAction::kSystemd;
  c.escalation.after = std::chrono::seconds(2);
  EXPECT_EQ(describe_drill_escalation(c, 4.0),
            "escalation: action = \"systemd\" after 2s: a real stall would send WATCHDOG=trigger "
            "to systemd (the unit's watchdog handling and FailureAction= apply); this drill is "
            "announced to stallwatchd, which reports it with STALLWATCH_DRILL=1 and skips the "
            "escalation");
  c.escalation.action = EscalationAction::kWatchdogDevice;
  c.watchdog.device = "/dev/watchdog0";
  c.watchdog.timeout = std::chrono::seconds(30);
  c.escalation.after = std::chrono::seconds(10);
  EXPECT_EQ(describe_drill_escalation(c, 4.0),
            "escalation: action = \"watchdog-device\" after 10s: a real stall would stop feeding "
            "/dev/watchdog0 (timeout 30s): the hardware resets the machine (this drill is shorter "
            "than 10s: it would not get there); this drill is announced to stallwatchd, which "
            "reports it with STALLWATCH_DRILL=1 and skips the escalation");
  c.escalation.action = EscalationAction::kPanic;
  c.escalation.dry_run = true;
  EXPECT_EQ(describe_drill_escalation(c, 20.0),
            "escalation: action = \"panic\" after 10s, dry_run: a real stall would only be logged "
            "as \"would nothing (panic without escalation.allow_panic)\"");
}

}  // namespace
}  // namespace stallwatch::ctl
