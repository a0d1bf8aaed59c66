// SPDX-License-Identifier: GPL-2.0-or-later
// render_metrics() over status documents captured from a running stallwatchd (healthy, during a
// real RT-hog stall, after it) and one edited 8-CPU document: exact text against reviewed golden
// files, the histogram fold recomputed here from the JSON, no timestamps, the series budget.
#include "stallwatch/metrics/exposition.h"

#include <cmath>
#include <map>
#include <regex>
#include <sstream>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "stallwatch/core/sysroot.h"
#include "stallwatch/ctl/metrics_view.h"

namespace stallwatch::metrics {
namespace {

using nlohmann::json;

const std::string kDir = std::string(STALLWATCH_FIXTURES) + "/metrics/";

std::string read(const std::string& name) {
  auto text = read_file_capped(kDir + name, 1 << 20);
  EXPECT_TRUE(text.ok()) << name;
  return text.ok() ? *text : std::string();
}

json doc(const std::string& name) { return json::parse(read(name + ".json")); }

std::vector<std::string> samples(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);)
    if (!line.empty() && line[0] != '#') out.push_back(line);
  return out;
}

std::string value_of(const std::string& text, const std::string& series) {
  for (const auto& s : samples(text))
    if (s.rfind(series + " ", 0) == 0) return s.substr(series.size() + 1);
  return "<absent>";
}

class Fixture : public ::testing::TestWithParam<const char*> {};

TEST_P(Fixture, RendersExactlyTheReviewedText) {
  const std::string name = GetParam();
  EXPECT_EQ(render_metrics(doc(name)), read(name + ".prom"));
}

TEST_P(Fixture, EverySampleIsNameLabelsValueWithoutTimestamp) {
  static const std::regex kSample(
      R"(^stallwatch_[a-z_]+(\{[a-z_]+="[^"]*"(,[a-z_]+="[^"]*")*\})? [-+0-9.eInf]+$)");
  for (const auto& s : samples(render_metrics(doc(GetParam()))))
    EXPECT_TRUE(std::regex_match(s, kSample)) << s;
}

TEST_P(Fixture, HistogramIsTheCumulativeFoldOfThePerCpuLog2Buckets) {
  const json d = doc(GetParam());
  const std::string text = render_metrics(d);
  std::uint64_t total = 0;
  std::map<int, std::uint64_t> at_or_below;  // le exponent -> count
  for (const auto& c : d["cpus"]) {
    const auto& h = c["late_hist_log2_ns"];
    for (std::size_t k = 0; k < h.size(); ++k) {
      const auto n = h[k].get<std::uint64_t>();
      total += n;
      for (int e : kLatenessLeLog2Ns)
        if (static_cast<int>(k) + 1 <= e) at_or_below[e] += n;  // [2^k, 2^(k+1)) <= 2^e
    }
  }
  ASSERT_GT(total, 0u);
  for (int e : kLatenessLeLog2Ns) {
    std::string le = fmt::format("{:.9f}", static_cast<double>(std::uint64_t{1} << e) / 1e9);
    while (le.back() == '0') le.pop_back();
    EXPECT_EQ(value_of(text, "stallwatch_heartbeat_lateness_seconds_bucket{le=\"" + le + "\"}"),
              std::to_string(at_or_below[e]))
        << "le=" << le;
  }
  EXPECT_EQ(value_of(text, "stallwatch_heartbeat_lateness_seconds_bucket{le=\"+Inf\"}"),
            std::to_string(total));
  EXPECT_EQ(value_of(text, "stallwatch_heartbeat_lateness_seconds_count"), std::to_string(total));
}

TEST_P(Fixture, SeriesCountIsFixedPartPlusFourPerCpuPlusStalledClasses) {
  const json d = doc(GetParam());
  std::size_t cpus = d["cpus"].size(), offline = 0, classes = 0;
  for (const auto& c : d["cpus"]) {
    offline += c["state"] == "offline";
    for (const auto& [cls, n] : c["stalls_by_class"].items()) classes += n.get<std::uint64_t>() > 0;
  }
  const std::size_t fixed =
      21 + d["escalations_total"].size() + (d["watchdog_armed"].is_boolean() ? 1 : 0);
  EXPECT_EQ(samples(render_metrics(d)).size(), fixed + 4 * cpus - offline + classes);
}

INSTANTIATE_TEST_SUITE_P(Captured, Fixture,
                         ::testing::Values("running-2cpu", "stalled-2cpu", "recovered-2cpu",
                                           "host-8cpu"),
                         [](const auto& param_info) {
                           std::string n = param_info.param;
                           for (auto& ch : n)
                             if (ch == '-') ch = '_';
                           return n;
                         });

TEST(Exposition, EightCpuHostStaysWithinTheSeriesBudget) {
  const json d = doc("host-8cpu");
  EXPECT_LE(samples(render_metrics(d)).size(), 10 + 6 * d["cpus"].size());
}

TEST(Exposition, StalledCpuIsOneWithItsClassAndGrowingSeconds) {
  const std::string text = render_metrics(doc("stalled-2cpu"));
  EXPECT_EQ(value_of(text, "stallwatch_stalled{cpu=\"1\"}"), "1");
  EXPECT_EQ(value_of(text, "stallwatch_stalled{cpu=\"0\"}"), "0");
  EXPECT_EQ(value_of(text, "stallwatch_stalls_total{cpu=\"1\",class=\"rt-hog\"}"), "1");
  EXPECT_EQ(value_of(text, "stallwatch_stalls_total{cpu=\"0\",class=\"rt-hog\"}"), "<absent>");
}

// Issue 19: the ladder, one series per host, from a status file captured 2.2 s into a hog
// (action systemd after 6 s); absent when nothing is coming.
TEST(Exposition, TheSoonestEscalationIsAHostGauge) {
  const json d = json::parse(read("../ctl/status/stalled-ladder.json"));
  const std::string text = render_metrics(d);
  EXPECT_EQ(value_of(text, "stallwatch_escalation_due_seconds"), "3.758");
  EXPECT_EQ(value_of(text, "stallwatch_hardware_reset_due_seconds"), "<absent>");
  json w = d;
  w["cpus"][1]["ladder"]["hardware_reset_in_ms"] = 8758;
  EXPECT_EQ(value_of(render_metrics(w), "stallwatch_hardware_reset_due_seconds"), "8.758");
  EXPECT_EQ(value_of(render_metrics(doc("stalled-2cpu")), "stallwatch_escalation_due_seconds"),
            "<absent>");
}

TEST(Exposition, EmptyOrForeignDocumentsStillRenderEveryFamily) {
  for (const json& d :
       {json::object(), json::array(), json(42), json{{"cpus", "x"}, {"version", 3}}}) {
    const std::string text = render_metrics(d);
    EXPECT_EQ(value_of(text, "stallwatch_build_info{version=\"unknown\"}"), "1") << d.dump();
    EXPECT_EQ(value_of(text, "stallwatch_heartbeat_lateness_seconds_bucket{le=\"+Inf\"}"), "0");
    EXPECT_EQ(value_of(text, "stallwatch_last_update_timestamp_seconds"), "0");
    EXPECT_NE(text.find("# TYPE stallwatch_stalls_total counter\n"), std::string::npos);
  }
}

// Found by fuzz_status_render: a float out of an integer's range and a histogram longer than 64
// buckets (undefined behaviour before) read as absent and as a far bucket.
TEST(Exposition, OutOfRangeNumbersAndLongHistogramsAreSafe) {
  json cpu = {{"cpu", 0}, {"age_ms", 2.4e69}, {"late_max_us", -1e300}};
  cpu["late_hist_log2_ns"] = std::vector<std::uint64_t>(70, 0);
  cpu["late_hist_log2_ns"][66] = std::uint64_t{1};
  const std::string text =
      render_metrics(json{{"cpus", json::array({cpu})}, {"updated_unix_ms", 1e300}});
  EXPECT_EQ(value_of(text, R"(stallwatch_heartbeat_age_seconds{cpu="0"})"), "0");
  EXPECT_EQ(value_of(text, R"(stallwatch_heartbeat_lateness_max_seconds{cpu="0"})"), "0");
  EXPECT_EQ(value_of(text, "stallwatch_last_update_timestamp_seconds"), "0");
  EXPECT_EQ(value_of(text, "stallwatch_heartbeat_lateness_seconds_bucket{le=\"+Inf\"}"), "1");
  EXPECT_EQ(value_of(text, "stallwatch_heartbeat_lateness_seconds_bucket{le=\"4.294967296\"}"),
            "0");
  EXPECT_EQ(std::stod(value_of(text, "stallwatch_heartbeat_lateness_seconds_sum")),
            1.5 * std::ldexp(1.0, 66) / 1e9);
}

TEST(Exposition, LabelValuesAreEscaped) {
  const std::string text = render_metrics(json{{"version", "1.0\"x\\y\nz"}});
  EXPECT_EQ(value_of(text, R"(stallwatch_build_info{version="1.0\"x\\y\nz"})"), "1");
}

TEST(Exposition, DecimalSecondsAreExact) {
  const std::string text =
      render_metrics(json{{"updated_unix_ms", 1764519456007}, {"threshold_ms", 2000}});
  EXPECT_EQ(value_of(text, "stallwatch_last_update_timestamp_seconds"), "1764519456.007");
  EXPECT_EQ(value_of(text, "stallwatch_stall_threshold_seconds"), "2");
}

TEST(MetricsView, OnlyARunningDaemonsStateIsShown) {
  const std::string text = read("running-2cpu.json");
  ctl::LivenessVerdict running;
  running.liveness = ctl::Liveness::kRunning;
  auto ok = ctl::metrics_exposition(text, running);
  ASSERT_TRUE(ok);
  EXPECT_EQ(*ok, render_metrics(json::parse(text)));
  ctl::LivenessVerdict stale;
  stale.liveness = ctl::Liveness::kStale;
  stale.message =
      "stallwatchd (pid 7) is not updating /run/stallwatch/status.json: last update 9.0s ago";
  auto no = ctl::metrics_exposition(text, stale);
  ASSERT_FALSE(no);
  EXPECT_EQ(no.error().message, stale.message);
  auto bad = ctl::metrics_exposition("[1]", running);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().message, "status file is not a JSON object");
}

}  // namespace
}  // namespace stallwatch::metrics
