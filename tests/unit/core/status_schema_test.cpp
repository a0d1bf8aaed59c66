// SPDX-License-Identifier: GPL-2.0-or-later
// The status schema: the tolerant getter and its float->int guard, the histogram quantiles, and
// a round trip from the writer (status_document) through the key constants.
#include "stallwatch/core/status_schema.h"

#include <cmath>
#include <cstdint>
#include <limits>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "stallwatch/core/checker.h"
#include "stallwatch/daemon/status_doc.h"

namespace stallwatch {
namespace {

using nlohmann::json;

TEST(StatusGetOr, ValuesOfTheRightTypeAreRead) {
  const json j = {{"i", -7}, {"u", 42u}, {"f", 2.9}, {"b", true}, {"s", "x"}, {"v", {1, 2, 3}}};
  EXPECT_EQ(get_or<int>(j, "i", 0), -7);
  EXPECT_EQ(get_or<std::uint64_t>(j, "u", 0), 42u);
  EXPECT_EQ(get_or<std::int64_t>(j, "f", 0), 2);  // a float that fits is truncated
  EXPECT_DOUBLE_EQ(get_or<double>(j, "f", 0), 2.9);
  EXPECT_TRUE(get_or<bool>(j, "b", false));
  EXPECT_EQ(get_or<std::string>(j, "s", ""), "x");
  EXPECT_EQ(get_or<std::vector<std::uint64_t>>(j, "v", {}), (std::vector<std::uint64_t>{1, 2, 3}));
}

// The guard: converting a float out of the target's range is undefined behaviour (found by the
// fuzzer in stallwatchctl); such a value is the fallback, as is anything of the wrong type.
TEST(StatusGetOr, FloatsThatDoNotFitAndWrongTypesGiveTheFallback) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();
  const json j = {{"huge", 2.4e69},
                  {"nan", nan},
                  {"inf", inf},
                  {"neg", -1.5},
                  {"edge", 9.2233720368547758e18},
                  {"str", "12"},
                  {"bool", true},
                  {"null", nullptr},
                  {"obj", {{"a", 1}}},
                  {"arr", {1.0, 1e300}},
                  {"mixed", {1, "2"}}};
  EXPECT_EQ(get_or<std::int64_t>(j, "huge", -1), -1);
  EXPECT_EQ(get_or<int>(j, "huge", -1), -1);
  EXPECT_EQ(get_or<std::uint64_t>(j, "huge", 7), 7u);
  EXPECT_EQ(get_or<std::int64_t>(j, "edge", -1), -1);  // 2^63 does not fit an int64
  // A JSON parser turns NaN and infinity into null; a json value built in memory keeps them.
  EXPECT_EQ(get_or<std::int64_t>(j, "nan", -1), -1);
  EXPECT_EQ(get_or<int>(j, "inf", -1), -1);
  EXPECT_EQ(get_or<std::uint64_t>(j, "neg", 3), 3u);
  EXPECT_EQ(get_or<int>(j, "neg", 3), -1);
  EXPECT_EQ(get_or<int>(j, "str", -1), -1);
  EXPECT_EQ(get_or<int>(j, "bool", -1), -1);
  EXPECT_EQ(get_or<bool>(j, "str", false), false);
  EXPECT_EQ(get_or<std::string>(j, "bool", "fb"), "fb");
  EXPECT_EQ(get_or<int>(j, "null", -1), -1);
  EXPECT_EQ(get_or<int>(j, "obj", -1), -1);
  EXPECT_EQ(get_or<int>(j, "missing", -1), -1);
  EXPECT_EQ(get_or<std::vector<std::uint64_t>>(j, "arr", {9}), (std::vector<std::uint64_t>{9}));
  EXPECT_EQ(get_or<std::vector<std::uint64_t>>(j, "mixed", {}), (std::vector<std::uint64_t>{}));
  EXPECT_EQ(get_or<int>(json::array({1, 2}), "huge", -1), -1);  // not an object
  EXPECT_EQ(get_or<int>(json(nullptr), "huge", -1), -1);
  // The same from text, as the readers get it.
  const json parsed = json::parse(R"({"pid": 2.4e69, "cpu": -1e300, "seq": 1e19})");
  EXPECT_EQ(get_or<int>(parsed, status_key::kPid, 0), 0);
  EXPECT_EQ(get_or<int>(parsed, status_key::kCpu, -1), -1);
  EXPECT_EQ(get_or<std::uint64_t>(parsed, status_key::kSeq, 0),
            10'000'000'000'000'000'000u);  // fits
}

TEST(StatusQuantile, NearestRankBucket) {
  std::vector<std::uint64_t> h(40, 0);
  EXPECT_EQ(hist_quantile_bucket(h, 0.99), -1);
  EXPECT_EQ(hist_rank_bucket(h, 1), -1);
  h[10] = 99;
  h[20] = 1;
  EXPECT_EQ(hist_quantile_bucket(h, 0.99), 10);  // the 99th of 100
  EXPECT_EQ(hist_quantile_bucket(h, 1.0), 20);
  EXPECT_EQ(hist_quantile_bucket(h, 0.0), 10);  // at least the first sample
  EXPECT_EQ(hist_rank_bucket(h, 100), 20);
  EXPECT_EQ(hist_rank_bucket(h, 1000), 20);  // clamped to the total
  h[20] = 2;                                 // 2 of 101 above: the 100th is in bucket 20
  EXPECT_EQ(hist_quantile_bucket(h, 0.99), 20);
}

// status.json's late_p99_us: the (floor(0.99 n) + 1)-th sample, the bucket's largest lateness
// truncated to µs; one rank above nearest rank when 0.99 n is whole.
TEST(StatusQuantile, StatusP99IsWhatTheDaemonHasAlwaysWritten) {
  std::vector<std::uint64_t> h(40, 0);
  EXPECT_EQ(status_late_p99_us(h), 0);
  h[16] = 99;  // [65.5 us, 131 us)
  h[10] = 1;
  EXPECT_EQ(status_late_p99_us(h), 131);  // 2^17 - 1 ns
  h.assign(40, 0);
  h[10] = 99;
  h[20] = 1;
  EXPECT_EQ(status_late_p99_us(h), 2097);  // the 100th of 100: bucket 20, 2^21 - 1 ns
  h[10] = 199;                             // the 199th of 200... and 0.99 * 200 = 198: 199th
  EXPECT_EQ(status_late_p99_us(h), 2);     // bucket 10, 2047 ns
  h.assign(40, 0);
  h[0] = 1;
  EXPECT_EQ(status_late_p99_us(h), 0);  // 1 ns
}

// The writer's keys are the schema's: every key status_document() writes, at every level, is a
// status_key constant, and reading the document back through the constants gives the inputs.
TEST(StatusSchema, WriterToReaderRoundTripThroughTheKeyConstants) {
  namespace key = status_key;
  constexpr std::int64_t kMs = 1'000'000;
  daemon::StatusInputs in;
  in.version = "0.1.0";
  in.pid = 42;
  in.now_mono_ns = 100'000 * kMs;
  in.now_unix_ms = 1'700'000'000'000;
  in.degraded = true;
  in.config = "/etc/stallwatch/stallwatch.toml";
  in.heartbeat_interval_ns = 500 * kMs;
  in.threshold_ns = 2000 * kMs;
  in.stalls_total = 3;
  in.events_dropped = 4;
  in.checks = 1234;
  in.check_hold_ns_total = 5'000'000;
  in.check_hold_max_ns = 12'345;
  in.last_check_ns = in.now_mono_ns - 40 * kMs;
  in.global_pauses = 5;
  in.watchdog_pings_dropped = 6;
  in.feeds_missed = 7;
  in.escalation_action = "watchdog-device";
  in.escalation_after_ns = 20'000 * kMs;
  in.watchdog_timeout_ns = 30'000 * kMs;
  daemon::StatusCpu c0;
  c0.cpu = 0;
  c0.state = CpuState::kStalled;
  c0.monitored = true;
  c0.episode_start_ns = in.now_mono_ns - 4500 * kMs;
  c0.last_ns = c0.episode_start_ns;
  c0.seq = 77;
  c0.late_max_ns = 90'000;
  c0.stalls = 2;
  c0.late_hist.assign(40, 0);
  c0.late_hist[16] = 99;
  c0.late_hist[10] = 1;
  daemon::StatusCpu c1;
  c1.cpu = 1;
  c1.monitored = true;  // offline
  in.cpus = {c0, c1};
  in.drills = {{1, 999, in.now_mono_ns + 5000 * kMs}};  // CPU 0 is not drilled: it escalates

  // Through text, as the readers get it.
  const json j = json::parse(daemon::status_document(in).dump());

  const std::set<std::string> top = {key::kVersion,
                                     key::kPid,
                                     key::kUpdatedMonoNs,
                                     key::kUpdatedUnixMs,
                                     key::kDegraded,
                                     key::kConfig,
                                     key::kHeartbeatIntervalMs,
                                     key::kThresholdMs,
                                     key::kStallsTotal,
                                     key::kEventsDropped,
                                     key::kChecksTotal,
                                     key::kCheckHoldNsTotal,
                                     key::kCheckHoldMaxUs,
                                     key::kLastCheckAgeMs,
                                     key::kGlobalPausesTotal,
                                     key::kWatchdogPingsDropped,
                                     key::kWatchdogFeedsMissed,
                                     key::kEscalation,
                                     key::kCpus,
                                     key::kDrills};
  const std::set<std::string> escalation = {key::kEscalationAction, key::kEscalationAfterMs,
                                            key::kEscalationDryRun,
                                            key::kEscalationWatchdogTimeoutMs};
  const std::set<std::string> cpu = {key::kCpu,    key::kState,     key::kAgeMs,
                                     key::kSeq,    key::kLateMaxUs, key::kLateP99Us,
                                     key::kStalls, key::kEpisodeMs, key::kLateHistLog2Ns,
                                     key::kLadder};
  const std::set<std::string> ladder = {key::kReportInMs, key::kEscalationInMs,
                                        key::kHardwareResetInMs};
  const std::set<std::string> drill = {key::kCpu, key::kPid, key::kUntilMonoNs};
  auto keys_of = [](const json& o) {
    std::set<std::string> k;
    for (const auto& [name, v] : o.items()) k.insert(name);
    return k;
  };
  EXPECT_EQ(keys_of(j), top);
  EXPECT_EQ(keys_of(j[key::kEscalation]), escalation);
  ASSERT_EQ(j[key::kCpus].size(), 2u);
  EXPECT_EQ(keys_of(j[key::kCpus][0]), cpu);
  EXPECT_EQ(keys_of(j[key::kCpus][0][key::kLadder]), ladder);
  ASSERT_EQ(j[key::kDrills].size(), 1u);
  EXPECT_EQ(keys_of(j[key::kDrills][0]), drill);

  EXPECT_EQ(get_or<std::string>(j, key::kVersion, ""), "0.1.0");
  EXPECT_EQ(get_or<int>(j, key::kPid, 0), 42);
  EXPECT_EQ(get_or<std::int64_t>(j, key::kUpdatedMonoNs, 0), in.now_mono_ns);
  EXPECT_EQ(get_or<std::int64_t>(j, key::kUpdatedUnixMs, 0), in.now_unix_ms);
  EXPECT_TRUE(get_or<bool>(j, key::kDegraded, false));
  EXPECT_EQ(get_or<std::string>(j, key::kConfig, ""), in.config);
  EXPECT_EQ(get_or<std::int64_t>(j, key::kHeartbeatIntervalMs, 0), 500);
  EXPECT_EQ(get_or<std::int64_t>(j, key::kThresholdMs, 0), 2000);
  EXPECT_EQ(get_or<std::uint64_t>(j, key::kStallsTotal, 0), 3u);
  EXPECT_EQ(get_or<std::uint64_t>(j, key::kEventsDropped, 0), 4u);
  EXPECT_EQ(get_or<std::uint64_t>(j, key::kChecksTotal, 0), 1234u);
  EXPECT_EQ(get_or<std::uint64_t>(j, key::kCheckHoldNsTotal, 0), 5'000'000u);
  EXPECT_EQ(get_or<std::int64_t>(j, key::kCheckHoldMaxUs, 0), 12);
  EXPECT_EQ(get_or<std::int64_t>(j, key::kLastCheckAgeMs, 0), 40);
  EXPECT_EQ(get_or<std::uint64_t>(j, key::kGlobalPausesTotal, 0), 5u);
  EXPECT_EQ(get_or<std::uint64_t>(j, key::kWatchdogPingsDropped, 0), 6u);
  EXPECT_EQ(get_or<std::uint64_t>(j, key::kWatchdogFeedsMissed, 0), 7u);
  const json& esc = j[key::kEscalation];
  EXPECT_EQ(get_or<std::string>(esc, key::kEscalationAction, ""), "watchdog-device");
  EXPECT_EQ(get_or<std::int64_t>(esc, key::kEscalationAfterMs, 0), 20'000);
  EXPECT_FALSE(get_or<bool>(esc, key::kEscalationDryRun, true));
  EXPECT_EQ(get_or<std::int64_t>(esc, key::kEscalationWatchdogTimeoutMs, 0), 30'000);
  const json& cpu0 = j[key::kCpus][0];
  EXPECT_EQ(get_or<int>(cpu0, key::kCpu, -1), 0);
  EXPECT_EQ(get_or<std::string>(cpu0, key::kState, ""), kStatusStateStalled);
  EXPECT_EQ(get_or<std::int64_t>(cpu0, key::kAgeMs, 0), 4500);
  EXPECT_EQ(get_or<std::uint64_t>(cpu0, key::kSeq, 0), 77u);
  EXPECT_EQ(get_or<std::int64_t>(cpu0, key::kLateMaxUs, 0), 90);
  EXPECT_EQ(get_or<std::int64_t>(cpu0, key::kLateP99Us, 0), status_late_p99_us(c0.late_hist));
  EXPECT_EQ(get_or<std::uint64_t>(cpu0, key::kStalls, 0), 2u);
  EXPECT_EQ(get_or<std::int64_t>(cpu0, key::kEpisodeMs, 0), 4500);
  EXPECT_EQ(get_or<std::vector<std::uint64_t>>(cpu0, key::kLateHistLog2Ns, {}), c0.late_hist);
  const json& lad = cpu0[key::kLadder];
  EXPECT_EQ(get_or<std::int64_t>(lad, key::kReportInMs, -1), 0);
  EXPECT_EQ(get_or<std::int64_t>(lad, key::kEscalationInMs, -1), 15'500);
  EXPECT_EQ(get_or<std::int64_t>(lad, key::kHardwareResetInMs, -1), 45'500);
  EXPECT_EQ(get_or<std::string>(j[key::kCpus][1], key::kState, ""), kStatusStateOffline);
  const json& d0 = j[key::kDrills][0];
  EXPECT_EQ(get_or<int>(d0, key::kCpu, -1), 1);
  EXPECT_EQ(get_or<int>(d0, key::kPid, 0), 999);
  EXPECT_EQ(get_or<std::int64_t>(d0, key::kUntilMonoNs, 0), in.now_mono_ns + 5000 * kMs);
}

// The state values readers act on are the writer's names for those states.
TEST(StatusSchema, StateValuesAreTheCheckersNames) {
  EXPECT_STREQ(to_string(CpuState::kStalled), kStatusStateStalled);
  EXPECT_STREQ(to_string(CpuState::kDisplaced), kStatusStateDisplaced);
}

}  // namespace
}  // namespace stallwatch
