// SPDX-License-Identifier: GPL-2.0-or-later
// The supervisor's decisions: reload planning (what changes, what waits for a restart, what is
// rejected against the watchdog armed now) and CPU hotplug, as plain data.
#include "stallwatch/daemon/supervisor_plan.h"

#include <gtest/gtest.h>

namespace stallwatch::daemon {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

CpuTopology two_cpus() {
  CpuTopology t;
  t.possible = {0, 1};
  t.online = {0, 1};
  return t;
}

Config named(const char* source) {
  Config c;
  c.source = source;
  return c;
}

TEST(ReloadPlan, ThresholdChangeAppliesWithoutRestartingHeartbeats) {
  Config running = named("a.toml");
  Config next = named("b.toml");
  next.checker.threshold = seconds(3);
  ReloadPlan p = plan_reload(running, {0, 1}, next, two_cpus(), 0);
  ASSERT_TRUE(p.accepted) << p.message;
  EXPECT_FALSE(p.heartbeats_changed);
  EXPECT_TRUE(p.restart_only.empty());
  EXPECT_EQ(p.next.checker.threshold, seconds(3));
  EXPECT_EQ(p.message,
            "configuration reloaded from b.toml: threshold 2s -> 3s, check interval 1s -> "
            "1s, heartbeat interval 500ms -> 500ms, CPUs 0-1 -> 0-1");
}

TEST(ReloadPlan, HeartbeatChangesRestartThemAndRestartOnlySectionsAreKept) {
  Config running = named("a.toml");
  Config next = named("b.toml");
  next.heartbeat.interval = milliseconds(250);
  next.evidence.budget = milliseconds(500);
  next.watchdog.timeout = seconds(60);
  next.watchdog.feeder_priority = 50;
  ReloadPlan p = plan_reload(running, {0, 1}, next, two_cpus(), 0);
  ASSERT_TRUE(p.accepted);
  EXPECT_TRUE(p.heartbeats_changed);
  EXPECT_EQ(p.restart_only, (std::vector<std::string>{"[evidence]", "[watchdog]"}));
  EXPECT_EQ(p.next.evidence.budget, running.evidence.budget);
  EXPECT_EQ(p.next.watchdog.timeout, running.watchdog.timeout);
  EXPECT_EQ(p.next.watchdog.feeder_priority, running.watchdog.feeder_priority);
  EXPECT_EQ(p.next.heartbeat.interval, milliseconds(250));
}

TEST(ReloadPlan, FeederPriorityAloneNeedsARestartOfTheWatchdogSection) {
  Config running = named("a.toml");
  Config next = named("b.toml");
  next.watchdog.feeder_priority = 70;
  ReloadPlan p = plan_reload(running, {0, 1}, next, two_cpus(), 0);
  ASSERT_TRUE(p.accepted);
  EXPECT_EQ(p.restart_only, (std::vector<std::string>{"[watchdog]"}));
  EXPECT_EQ(p.next.watchdog.feeder_priority, 99);
}

TEST(ReloadPlan, TimelineChangeNeedsARestart) {
  // The recorder's ftrace instance (buffer size, window) is set up once, at start.
  Config running = named("a.toml");
  Config next = named("b.toml");
  next.timeline.buffer_kib = 1024;
  next.timeline.seconds = seconds(5);
  next.timeline.enabled = !running.timeline.enabled;
  ReloadPlan p = plan_reload(running, {0, 1}, next, two_cpus(), 0);
  ASSERT_TRUE(p.accepted) << p.message;
  EXPECT_EQ(p.restart_only, (std::vector<std::string>{"[timeline]"}));
  EXPECT_EQ(p.next.timeline.enabled, running.timeline.enabled);
  EXPECT_EQ(p.next.timeline.seconds, seconds(2));
  EXPECT_EQ(p.next.timeline.buffer_kib, running.timeline.buffer_kib);
}

TEST(ReloadPlan, CpuSetChangeRestartsHeartbeats) {
  Config next = named("b.toml");
  next.heartbeat.cpus = "1";
  ReloadPlan p = plan_reload(named("a.toml"), {0, 1}, next, two_cpus(), 0);
  ASSERT_TRUE(p.accepted);
  EXPECT_TRUE(p.heartbeats_changed);
  EXPECT_EQ(p.monitored, (CpuList{1}));
}

TEST(ReloadPlan, UnknownCpuIsRejectedAndTheRunningConfigKept) {
  Config next = named("b.toml");
  next.heartbeat.cpus = "7";
  ReloadPlan p = plan_reload(named("a.toml"), {0, 1}, next, two_cpus(), 0);
  EXPECT_FALSE(p.accepted);
  EXPECT_EQ(p.message.rfind("reload of b.toml rejected: ", 0), 0u) << p.message;
  EXPECT_NE(p.message.find("keeping the running configuration"), std::string::npos);
}

TEST(ReloadPlan, RejectedWhenTheArmedWatchdogCouldNoLongerBeFed) {
  Config next = named("b.toml");
  next.heartbeat.interval = seconds(4);
  next.checker.threshold = seconds(10);
  next.checker.repeat_interval = seconds(10);
  ReloadPlan p = plan_reload(named("a.toml"), {0, 1}, next, two_cpus(), 10);
  EXPECT_FALSE(p.accepted);
  EXPECT_EQ(p.message,
            "reload of b.toml rejected: heartbeat.interval (4s) is longer than a third of the "
            "armed hardware watchdog's timeout (10s): the device would not be fed in time; "
            "keeping the running configuration");
  // Exactly a third is fine (boundaries are accepted), and without an armed device anything is.
  next.heartbeat.interval = milliseconds(3333);
  EXPECT_TRUE(plan_reload(named("a.toml"), {0, 1}, next, two_cpus(), 10).accepted);
  next.heartbeat.interval = seconds(4);
  EXPECT_TRUE(plan_reload(named("a.toml"), {0, 1}, next, two_cpus(), 0).accepted);
}

TEST(HotplugPlan, OfflineOrDisplacedStopsAndBackOnlineStarts) {
  std::vector<HotplugCpu> cpus(4);
  cpus[0] = {true, true, true, false, false};    // healthy: nothing
  cpus[1] = {false, true, true, false, false};   // went offline
  cpus[2] = {true, true, true, false, true};     // displaced by the kernel
  cpus[3] = {true, false, false, false, false};  // came back
  HotplugPlan p = plan_hotplug(cpus);
  EXPECT_EQ(p.stop, (std::vector<int>{1, 2}));
  EXPECT_EQ(p.start, (std::vector<int>{3}));
}

TEST(HotplugPlan, AnOfflineCpuIsNeverLeftMonitored) {
  std::vector<HotplugCpu> cpus(2);
  cpus[1] = {false, true, true, false, false};
  EXPECT_EQ(plan_hotplug(cpus).stop, (std::vector<int>{1}));
  cpus[1] = {false, false, true, true, false};  // stopped, exited, still offline: nothing
  EXPECT_TRUE(plan_hotplug(cpus).start.empty());
  EXPECT_TRUE(plan_hotplug(cpus).stop.empty());
}

TEST(HotplugPlan, ThreadStillExitingIsStartedOnceReapable) {
  std::vector<HotplugCpu> cpus(1);
  cpus[0] = {true, false, true, false, false};
  EXPECT_TRUE(plan_hotplug(cpus).start.empty());
  cpus[0].exited = true;
  EXPECT_EQ(plan_hotplug(cpus).start, (std::vector<int>{0}));
}

}  // namespace
}  // namespace stallwatch::daemon
