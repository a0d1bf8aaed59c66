// SPDX-License-Identifier: GPL-2.0-or-later
#include "stallwatch/core/escalation_rules.h"

#include <gtest/gtest.h>

namespace stallwatch {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

std::string only(const Config& c) {
  auto p = validate_escalation(c);
  if (p.size() != 1) return fmt::format("{} problems", p.size());
  return p[0].key + ": " + p[0].message;
}

Config with_device() {
  Config c;
  c.watchdog.device = "/dev/watchdog0";
  c.watchdog.timeout = seconds(60);
  c.escalation.action = EscalationAction::kWatchdogDevice;
  c.escalation.after = seconds(30);
  return c;
}

TEST(ValidateEscalation, DefaultsAreFine) {
  EXPECT_TRUE(validate_escalation(Config{}).empty());
  EXPECT_TRUE(validate_escalation(with_device()).empty());
}

TEST(ValidateEscalation, WatchdogDeviceNeedsADevice) {
  Config c;
  c.escalation.action = EscalationAction::kWatchdogDevice;
  EXPECT_EQ(only(c), "escalation.action: \"watchdog-device\" requires watchdog.device (e.g. "
                     "\"/dev/watchdog0\")");
}

TEST(ValidateEscalation, PanicNeedsAllowPanic) {
  Config c;
  c.escalation.action = EscalationAction::kPanic;
  EXPECT_EQ(only(c), "escalation.action: \"panic\" crashes the kernel: it requires "
                     "escalation.allow_panic = true");
  c.escalation.allow_panic = true;
  EXPECT_TRUE(validate_escalation(c).empty());
}

TEST(ValidateEscalation, AfterMustNotPrecedeDetection) {
  Config c;
  c.escalation.action = EscalationAction::kSystemd;
  c.escalation.after = seconds(1);
  EXPECT_EQ(only(c), "escalation.after: must be at least checker.threshold (2s), got 1s: a CPU "
                     "cannot be escalated before its stall is detected");
}

TEST(ValidateEscalation, TimeoutInWholeSeconds) {
  Config c = with_device();
  c.watchdog.timeout = milliseconds(45500);
  EXPECT_EQ(only(c), "watchdog.timeout: must be a whole number of seconds (the watchdog API "
                     "counts seconds), got 45500ms");
}

TEST(ValidateEscalation, FeedIntervalMustMeetATimeoutThird) {
  Config c;
  c.watchdog.device = "/dev/watchdog0";
  c.watchdog.timeout = seconds(1);
  c.checker.interval = milliseconds(500);
  c.checker.threshold = seconds(2);
  EXPECT_EQ(only(c), "watchdog.timeout: must be at least 3 x checker.interval (500ms), got 1s: "
                     "the device is fed from the checker's tick at least every timeout/3");
  c.watchdog.timeout = seconds(2);
  EXPECT_TRUE(validate_escalation(c).empty());
}

TEST(ValidateEscalation, Pretimeout) {
  Config c = with_device();
  c.watchdog.pretimeout = seconds(60);
  EXPECT_EQ(only(c), "watchdog.pretimeout: must be shorter than watchdog.timeout (1m), got 1m");
  c.watchdog.pretimeout = milliseconds(2500);
  EXPECT_EQ(only(c), "watchdog.pretimeout: must be a whole number of seconds, got 2500ms");
}

TEST(ValidateEscalation, GovernorName) {
  Config c = with_device();
  c.watchdog.pretimeout_governor = "Panic!";
  EXPECT_EQ(only(c), "watchdog.pretimeout_governor: \"Panic!\" is not a governor name (e.g. "
                     "\"panic\", \"noop\")");
  c.watchdog.pretimeout_governor = "panic";
  EXPECT_TRUE(validate_escalation(c).empty());
}

TEST(ValidateEscalation, AfterLongerThanTheTimeoutCannotBeHonoured) {
  Config c = with_device();
  c.watchdog.timeout = seconds(30);
  c.escalation.after = seconds(60);
  EXPECT_EQ(only(c), "escalation.after: must not be longer than watchdog.timeout (30s), got 1m: "
                     "a stall that also freezes the checker stops the feeding and resets the "
                     "machine after 30s anyway; lower escalation.after or raise "
                     "watchdog.timeout to at least 1m");
  c.escalation.after = seconds(30);
  EXPECT_TRUE(validate_escalation(c).empty());
  // Only the watchdog-device action promises a reset at escalation.after.
  c.escalation.after = seconds(60);
  c.escalation.action = EscalationAction::kSystemd;
  EXPECT_TRUE(validate_escalation(c).empty());
}

TEST(ValidateEscalation, NoDeviceNoWatchdogChecks) {
  Config c;
  c.watchdog.timeout = milliseconds(1);  // irrelevant without watchdog.device
  EXPECT_TRUE(validate_escalation(c).empty());
}

std::string degraded(EscalationAction action, bool dry_run = false) {
  Config c;
  c.escalation.action = action;
  c.escalation.dry_run = dry_run;
  c.escalation.allow_panic = true;
  Status st = validate_escalation_for_degraded(c);
  return st.ok() ? std::string("<ok>") : st.error().message;
}

TEST(ValidateEscalationDegraded, OnlyNoneOrDryRunAreAllowed) {
  EXPECT_EQ(degraded(EscalationAction::kNone), "<ok>");
  EXPECT_EQ(degraded(EscalationAction::kSystemd, true), "<ok>");
  EXPECT_EQ(degraded(EscalationAction::kPanic, true), "<ok>");
  EXPECT_EQ(degraded(EscalationAction::kWatchdogDevice, true), "<ok>");
  EXPECT_EQ(degraded(EscalationAction::kSystemd),
            "escalation.action = \"systemd\" is refused in degraded mode: SCHED_OTHER heartbeats "
            "can be starved by ordinary load, so a stall may be false and must not reset the "
            "machine; grant CAP_SYS_NICE, or set escalation.action = \"none\" or "
            "escalation.dry_run = true");
  EXPECT_EQ(degraded(EscalationAction::kPanic).substr(0, 58),
            "escalation.action = \"panic\" is refused in degraded mode: S");
  EXPECT_EQ(degraded(EscalationAction::kWatchdogDevice).substr(0, 68),
            "escalation.action = \"watchdog-device\" is refused in degraded mode: S");
}

}  // namespace
}  // namespace stallwatch
