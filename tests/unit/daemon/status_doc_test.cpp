// SPDX-License-Identifier: GPL-2.0-or-later
// The status document and STATUS= line for fixed inputs.
#include "stallwatch/daemon/status_doc.h"

#include <gtest/gtest.h>

namespace stallwatch::daemon {
namespace {

constexpr std::int64_t kMs = 1'000'000;

StatusInputs inputs() {
  StatusInputs in;
  in.version = "0.1.0";
  in.pid = 42;
  in.now_mono_ns = 100'000 * kMs;
  in.now_unix_ms = 1'700'000'000'000;
  in.config = "/etc/stallwatch/stallwatch.toml";
  in.heartbeat_interval_ns = 500 * kMs;
  in.threshold_ns = 2000 * kMs;
  in.stalls_total = 3;
  in.checks = 1234;
  in.last_check_ns = in.now_mono_ns - 40 * kMs;
  StatusCpu c0;
  c0.cpu = 0;
  c0.state = CpuState::kHealthy;
  c0.monitored = true;
  c0.last_ns = in.now_mono_ns - 120 * kMs;
  c0.seq = 77;
  c0.late_max_ns = 90'000;
  c0.late_hist.assign(kLatenessBuckets, 0);
  c0.late_hist[16] = 99;  // [65.5 us, 131 us)
  c0.late_hist[10] = 1;
  StatusCpu c1 = c0;
  c1.cpu = 1;
  c1.state = CpuState::kStalled;
  c1.stalls = 3;
  c1.episode_start_ns = in.now_mono_ns - 4500 * kMs;
  c1.last_ns = c1.episode_start_ns;
  StatusCpu c2;
  c2.cpu = 2;
  c2.monitored = true;  // configured, offline now
  StatusCpu c3;
  c3.cpu = 3;  // not configured
  in.cpus = {c0, c1, c2, c3};
  return in;
}

TEST(StatusDoc, Content) {
  nlohmann::json j = status_document(inputs());
  EXPECT_EQ(j["pid"], 42);
  EXPECT_EQ(j["threshold_ms"], 2000);
  EXPECT_EQ(j["checks_total"], 1234);
  EXPECT_EQ(j["last_check_age_ms"], 40);
  ASSERT_EQ(j["cpus"].size(), 3u);  // CPU 3 is not configured
  EXPECT_EQ(j["cpus"][0]["state"], "healthy");
  EXPECT_EQ(j["cpus"][0]["age_ms"], 120);
  EXPECT_EQ(j["cpus"][0]["seq"], 77);
  EXPECT_EQ(j["cpus"][0]["late_max_us"], 90);
  EXPECT_EQ(j["cpus"][0]["late_p99_us"], 131);
  EXPECT_EQ(j["cpus"][1]["state"], "stalled");
  EXPECT_EQ(j["cpus"][1]["episode_ms"], 4500);
  EXPECT_EQ(j["cpus"][1]["age_ms"], 4500);
  EXPECT_EQ(j["cpus"][2]["state"], "offline");
  EXPECT_EQ(j["cpus"][2]["age_ms"], 0);
}

// Issue 19: the ladder of a stalled CPU (4.5 s into its episode): reported, escalation
// (watchdog-device after 20 s) in 15.5 s, hardware reset (timeout 30 s) in 45.5 s; a suspect CPU
// (1.2 s old, threshold 2 s) is reported in 0.8 s; nothing for a healthy one; a drilled CPU has
// no escalation; dry-run or none: only the report.
TEST(StatusDoc, TheLadderSaysHowLongUntilEachAction) {
  StatusInputs in = inputs();
  in.escalation_action = "watchdog-device";
  in.escalation_after_ns = 20'000 * kMs;
  in.watchdog_timeout_ns = 30'000 * kMs;
  in.cpus[0].last_ns = in.now_mono_ns - 1200 * kMs;
  nlohmann::json j = status_document(in);
  EXPECT_EQ(j["escalation"]["action"], "watchdog-device");
  EXPECT_EQ(j["escalation"]["after_ms"], 20'000);
  const auto& stalled = j["cpus"][1]["ladder"];
  EXPECT_EQ(stalled["report_in_ms"], 0);
  EXPECT_EQ(stalled["escalation_in_ms"], 15'500);
  EXPECT_EQ(stalled["hardware_reset_in_ms"], 45'500);
  const auto& suspect = j["cpus"][0]["ladder"];
  EXPECT_EQ(suspect["report_in_ms"], 800);
  EXPECT_EQ(suspect["escalation_in_ms"], 18'800);
  in.cpus[0].last_ns = in.now_mono_ns - 100 * kMs;
  EXPECT_FALSE(status_document(in)["cpus"][0].contains("ladder"));

  in.drills.push_back(StatusDrill{1, 4242, in.now_mono_ns + 5000 * kMs});
  j = status_document(in);
  EXPECT_FALSE(j["cpus"][1]["ladder"].contains("escalation_in_ms")) << "a drill never escalates";
  EXPECT_FALSE(j["cpus"][1]["ladder"].contains("hardware_reset_in_ms"));
  in.drills.clear();
  in.escalation_action = "systemd";
  j = status_document(in);
  EXPECT_EQ(j["cpus"][1]["ladder"]["escalation_in_ms"], 15'500);
  EXPECT_FALSE(j["cpus"][1]["ladder"].contains("hardware_reset_in_ms"));
  in.escalation_dry_run = true;
  EXPECT_FALSE(status_document(in)["cpus"][1]["ladder"].contains("escalation_in_ms"));
}

TEST(StatusDoc, Line) {
  EXPECT_EQ(status_line(inputs()),
            "monitoring 2 CPUs, threshold 2s; stalls so far: 3; stalled now: 1");
  StatusInputs in = inputs();
  in.degraded = true;
  in.cpus[1].state = CpuState::kHealthy;
  EXPECT_EQ(status_line(in),
            "DEGRADED (SCHED_OTHER heartbeats) monitoring 2 CPUs, threshold 2s; stalls so far: 3; "
            "stalled now: none");
}

}  // namespace
}  // namespace stallwatch::daemon
