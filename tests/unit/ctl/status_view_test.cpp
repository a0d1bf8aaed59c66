// SPDX-License-Identifier: GPL-2.0-or-later
// stallwatchctl status: parsing real status files, histogram quantiles, liveness, formatting.
#include "stallwatch/ctl/status_view.h"

#include <algorithm>

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "stallwatch/core/sysroot.h"
#include "stallwatch/daemon/status_doc.h"

namespace stallwatch::ctl {
namespace {

const std::string kDir = std::string(STALLWATCH_FIXTURES) + "/ctl";

std::string fixture(const std::string& rel) {
  auto text = read_file_capped(kDir + "/" + rel, 1 << 20);
  EXPECT_TRUE(text.ok()) << rel;
  return text.ok() ? *text : std::string();
}

TEST(StatusParse, CapturedFileFromRunningDaemon) {
  auto s = parse_status(fixture("status/running.json"));
  ASSERT_TRUE(s.ok()) << s.error().message;
  EXPECT_GT(s->pid, 0);
  EXPECT_FALSE(s->version.empty());
  EXPECT_EQ(s->threshold_ms, 1000);
  EXPECT_EQ(s->heartbeat_interval_ms, 100);
  ASSERT_EQ(s->cpus.size(), 2u);
  EXPECT_EQ(s->cpus[0].cpu, 0);
  EXPECT_EQ(s->cpus[1].cpu, 1);
  EXPECT_EQ(s->cpus[0].state, "healthy");
  EXPECT_EQ(s->cpus[0].late_hist_log2_ns.size(), static_cast<std::size_t>(kLateHistBuckets));
  EXPECT_GT(s->cpus[0].seq, 0u);
}

TEST(StatusParse, CapturedFileDuringStall) {
  auto s = parse_status(fixture("status/stalled.json"));
  ASSERT_TRUE(s.ok()) << s.error().message;
  const CpuStatus* c1 = s->find_cpu(1);
  ASSERT_NE(c1, nullptr);
  EXPECT_EQ(c1->state, "stalled");
  EXPECT_GE(c1->age_ms, 1000);
  EXPECT_GE(c1->stalls, 1u);
  EXPECT_GT(c1->episode_ms, 0);
  EXPECT_EQ(s->find_cpu(7), nullptr);
}

// Issue 19: captured from the real daemon 2.2 s into a hog on CPU 1 (threshold 1 s, action
// systemd after 6 s): the ladder says what fires next, and when.
TEST(StatusParse, CapturedFileWithTheEscalationLadder) {
  auto s = parse_status(fixture("status/stalled-ladder.json"));
  ASSERT_TRUE(s.ok()) << s.error().message;
  EXPECT_EQ(s->escalation_action, "systemd");
  const CpuStatus* c1 = s->find_cpu(1);
  ASSERT_NE(c1, nullptr);
  ASSERT_TRUE(c1->have_ladder);
  EXPECT_EQ(c1->report_in_ms, 0);
  EXPECT_EQ(c1->escalation_in_ms, 3758);
  EXPECT_EQ(c1->reset_in_ms, -1);
  EXPECT_FALSE(s->find_cpu(0)->have_ladder);
  LivenessVerdict v;
  v.liveness = Liveness::kRunning;
  const std::string out = format_status(*s, v);
  EXPECT_NE(out.find("CPU 1: stall reported, escalation (systemd) in 3.8s\n"), std::string::npos)
      << out;
  const auto j = nlohmann::json::parse(format_status_json(*s, v));
  EXPECT_EQ(j["cpus"][1]["ladder"]["escalation_in_ms"], 3758);
}

// The reader reads what the writer writes (both through the core status schema's keys).
TEST(StatusParse, ReadsWhatTheDaemonWrites) {
  constexpr std::int64_t kMs = 1'000'000;
  daemon::StatusInputs in;
  in.version = "0.1.0";
  in.pid = 42;
  in.now_mono_ns = 100'000 * kMs;
  in.now_unix_ms = 1'700'000'000'000;
  in.config = "/etc/stallwatch/stallwatch.toml";
  in.heartbeat_interval_ns = 500 * kMs;
  in.threshold_ns = 2000 * kMs;
  in.stalls_total = 3;
  in.events_dropped = 4;
  in.escalation_action = "systemd";
  in.escalation_after_ns = 6000 * kMs;
  daemon::StatusCpu c;
  c.cpu = 1;
  c.state = CpuState::kStalled;
  c.monitored = true;
  c.episode_start_ns = in.now_mono_ns - 2200 * kMs;
  c.last_ns = c.episode_start_ns;
  c.seq = 77;
  c.late_max_ns = 200'000;
  c.stalls = 1;
  c.late_hist.assign(kLateHistBuckets, 0);
  c.late_hist[16] = 99;
  c.late_hist[10] = 1;
  in.cpus = {c};
  in.drills = {{0, 999, in.now_mono_ns}};
  auto s = parse_status(daemon::status_document(in).dump(1));
  ASSERT_TRUE(s.ok()) << s.error().message;
  EXPECT_EQ(s->version, "0.1.0");
  EXPECT_EQ(s->pid, 42);
  EXPECT_EQ(s->updated_mono_ns, in.now_mono_ns);
  EXPECT_EQ(s->updated_unix_ms, in.now_unix_ms);
  EXPECT_EQ(s->config, in.config);
  EXPECT_EQ(s->heartbeat_interval_ms, 500);
  EXPECT_EQ(s->threshold_ms, 2000);
  EXPECT_EQ(s->stalls_total, 3u);
  EXPECT_EQ(s->events_dropped, 4u);
  EXPECT_EQ(s->escalation_action, "systemd");
  EXPECT_EQ(s->drill_pids, (std::vector<int>{999}));
  ASSERT_EQ(s->cpus.size(), 1u);
  const CpuStatus& r = s->cpus[0];
  EXPECT_EQ(r.cpu, 1);
  EXPECT_EQ(r.state, "stalled");
  EXPECT_EQ(r.age_ms, 2200);
  EXPECT_EQ(r.seq, 77u);
  EXPECT_EQ(r.late_max_us, 200);
  EXPECT_EQ(r.late_p99_us, 131);
  EXPECT_EQ(cpu_p99_us(r), 131);
  EXPECT_EQ(r.stalls, 1u);
  EXPECT_EQ(r.episode_ms, 2200);
  EXPECT_EQ(r.late_hist_log2_ns, c.late_hist);
  ASSERT_TRUE(r.have_ladder);
  EXPECT_EQ(r.report_in_ms, 0);
  EXPECT_EQ(r.escalation_in_ms, 3800);
  EXPECT_EQ(r.reset_in_ms, -1);
}

TEST(StatusParse, MissingAndExtraFieldsTakeDefaults) {
  auto s = parse_status(
      R"({"pid": 42, "future_field": {"x": 1}, "cpus": [{"cpu": 3, "stalls": "bad type"},
         {"state": "healthy"}, 17]})");
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->pid, 42);
  EXPECT_EQ(s->threshold_ms, 0);
  ASSERT_EQ(s->cpus.size(), 1u);  // entries without a cpu number are dropped
  EXPECT_EQ(s->cpus[0].cpu, 3);
  EXPECT_EQ(s->cpus[0].stalls, 0u);
  EXPECT_EQ(s->cpus[0].state, "unknown");
  EXPECT_EQ(s->cpus[0].late_p99_us, -1);
}

TEST(StatusParse, RejectsTextThatIsNotAnObject) {
  EXPECT_FALSE(parse_status("").ok());
  EXPECT_FALSE(parse_status("{\"pid\": 1,").ok());  // torn write
  EXPECT_FALSE(parse_status("[1,2]").ok());
}

TEST(HistQuantile, UpperBoundOfTheBucketHoldingTheQuantile) {
  std::vector<std::uint64_t> h(kLateHistBuckets, 0);
  EXPECT_EQ(hist_quantile_us(h, 0.99), 0);
  h[10] = 99;                                 // [1024, 2048) ns
  h[20] = 1;                                  // [1.05, 2.10) ms
  EXPECT_EQ(hist_quantile_us(h, 0.99), 3);    // 2048 ns rounded up to whole µs
  EXPECT_EQ(hist_quantile_us(h, 1.0), 2098);  // 2^21 ns = 2097.152 µs
  h[20] = 2;                                  // 2 of 101 above: p99 falls in bucket 20
  EXPECT_EQ(hist_quantile_us(h, 0.99), 2098);
}

TEST(HistQuantile, FileValuePreferredOverHistogram) {
  CpuStatus c;
  c.late_hist_log2_ns.assign(kLateHistBuckets, 0);
  c.late_hist_log2_ns[12] = 5;
  EXPECT_EQ(cpu_p99_us(c), 9);  // 8192 ns -> 9 µs
  c.late_p99_us = 7;
  EXPECT_EQ(cpu_p99_us(c), 7);
  c.late_max_us = 5;  // the bucket bound is above the real maximum
  EXPECT_EQ(cpu_p99_us(c), 5);
}

StatusSnapshot snapshot_at(std::int64_t mono_ns, std::int64_t unix_ms) {
  StatusSnapshot s;
  s.pid = 4242;
  s.updated_mono_ns = mono_ns;
  s.updated_unix_ms = unix_ms;
  return s;
}

TEST(Liveness, DeadPidMeansNotRunningWhateverTheAge) {
  auto v = assess_liveness(snapshot_at(10'000'000'000, 0), false, 10'200'000'000, 0, "/run/x.json");
  EXPECT_EQ(v.liveness, Liveness::kNotRunning);
  EXPECT_EQ(v.message,
            "stallwatchd is not running: pid 4242 named in /run/x.json is gone (last update 200ms "
            "ago)");
}

TEST(Liveness, FreshFileFromLivePidIsRunning) {
  auto v = assess_liveness(snapshot_at(10'000'000'000, 0), true, 11'500'000'000, 0, "f");
  EXPECT_EQ(v.liveness, Liveness::kRunning);
  EXPECT_EQ(v.age_ms, 1500);
  EXPECT_TRUE(v.message.empty());
}

TEST(Liveness, OldFileFromLivePidIsStale) {
  auto v = assess_liveness(snapshot_at(10'000'000'000, 0), true, 160'000'000'001, 0, "f");
  EXPECT_EQ(v.liveness, Liveness::kRunning);  // exactly 150 s: still fine
  v = assess_liveness(snapshot_at(10'000'000'000, 0), true, 161'000'000'000, 0, "f");
  EXPECT_EQ(v.liveness, Liveness::kStale);
  EXPECT_NE(v.message.find("may be hung"), std::string::npos);
}

TEST(Liveness, FallsBackToWallClockWhenMonotonicIsFromAnotherBoot) {
  // A file left from before a reboot: its monotonic stamp is ahead of now.
  auto v = assess_liveness(snapshot_at(900'000'000'000, 1'700'000'000'000), true, 5'000'000'000,
                           1'700'000'200'000, "f");
  EXPECT_EQ(v.age_ms, 200'000);
  EXPECT_EQ(v.liveness, Liveness::kStale);
}

TEST(StatusFormat, OneLinePerCpuWithLatencyAndEpisode) {
  auto s = parse_status(fixture("status/stalled.json"));
  ASSERT_TRUE(s.ok());
  LivenessVerdict v;
  v.liveness = Liveness::kRunning;
  std::string out = format_status(*s, v);
  EXPECT_NE(out.find("CPU  STATE"), std::string::npos) << out;
  EXPECT_NE(out.find("stalled"), std::string::npos) << out;
  EXPECT_NE(out.find("(ongoing)"), std::string::npos) << out;
  EXPECT_EQ(out.find("WARNING"), std::string::npos);
  std::size_t lines = std::count(out.begin(), out.end(), '\n');
  EXPECT_EQ(lines, 3 + s->cpus.size());  // header, config, column titles, CPUs
  v.liveness = Liveness::kStale;
  v.message = "stale!";
  EXPECT_EQ(format_status(*s, v).rfind("WARNING: stale!\n", 0), 0u);
}

TEST(StatusFormat, JsonHasLivenessAndComputedP99) {
  auto s = parse_status(fixture("status/running.json"));
  ASSERT_TRUE(s.ok());
  LivenessVerdict v;
  v.liveness = Liveness::kNotRunning;
  v.message = "gone";
  auto j = nlohmann::json::parse(format_status_json(*s, v));
  EXPECT_EQ(j["running"], false);
  EXPECT_EQ(j["liveness"], "not-running");
  EXPECT_EQ(j["cpus"].size(), 2u);
  EXPECT_TRUE(j["cpus"][0].contains("late_p99_us"));
}

TEST(StatusFormat, Durations) {
  EXPECT_EQ(format_ms(850), "850ms");
  EXPECT_EQ(format_ms(2400), "2.4s");
  EXPECT_EQ(format_ms(185'000), "3m05s");
  EXPECT_EQ(format_us(45), "45us");
  EXPECT_EQ(format_us(1250), "1.2ms");
}

TEST(PidCheck, ComparesCommToGuardAgainstPidReuse) {
  Sysroot root(kDir + "/proc-root");
  EXPECT_TRUE(pid_is_stallwatchd(root, 1234));
  EXPECT_FALSE(pid_is_stallwatchd(root, 99));    // reused by another program
  EXPECT_FALSE(pid_is_stallwatchd(root, 5555));  // gone
  EXPECT_FALSE(pid_is_stallwatchd(root, 0));
}

}  // namespace
}  // namespace stallwatch::ctl
