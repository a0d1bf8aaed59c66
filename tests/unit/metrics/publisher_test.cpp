// SPDX-License-Identifier: GPL-2.0-or-later
// MetricsPublisher: the status fields it adds, and the textfile cadence (metrics.interval) with
// the "auto" and off settings, driven with explicit times.
#include "stallwatch/metrics/publisher.h"

#include <unistd.h>

#include <fstream>
#include <sstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "stallwatch/metrics/exposition.h"
#include "temp_dir.h"

namespace stallwatch::metrics {
namespace {

using namespace std::chrono_literals;
using test_support::TempDir;

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

TEST(MetricsPublisher, AddsCounterFieldsToTheStatusDocument) {
  MetricsPublisher p(2, "systemd");
  auto sink = p.make_sink();
  StallEvent e;
  e.kind = EventKind::kStall;
  e.cpu = 1;
  StallReport r;
  r.stall_class = "irq-storm";
  sink->fire(e, &r);
  e.kind = EventKind::kEscalation;
  sink->fire(e, &r);
  nlohmann::json doc = {
      {"cpus", {{{"cpu", 0}, {"episode_ms", 0}}, {{"cpu", 1}, {"episode_ms", 3250}}}},
      {"global_pauses_total", 4}};
  p.add_fields(doc, std::nullopt);
  EXPECT_EQ(doc["cpus"][0].dump(),
            R"({"cpu":0,"episode_ms":0,"stall_ms_total":0,"stalls_by_class":{}})");
  EXPECT_EQ(
      doc["cpus"][1].dump(),
      R"({"cpu":1,"episode_ms":3250,"stall_ms_total":3250,"stalls_by_class":{"irq-storm":1}})");
  doc.erase("cpus");
  EXPECT_EQ(doc.dump(), R"({"config_reload_failures_total":0,"escalations_total":{"systemd":1},)"
                        R"("global_pauses_total":4,"watchdog_armed":null})");
  MetricsPublisher none(2, "none");
  nlohmann::json doc2;
  none.add_fields(doc2, false);
  EXPECT_EQ(doc2["escalations_total"].dump(), "{}");
  EXPECT_EQ(doc2["watchdog_armed"].dump(), "false");
}

TEST(MetricsPublisher, StatusRefreshDividesTheInterval) {
  MetricsConfig cfg;  // 60s
  constexpr std::int64_t k10s = 10'000'000'000;
  EXPECT_EQ(MetricsPublisher::refresh_ns(cfg, k10s), k10s);
  cfg.interval = 15s;
  EXPECT_EQ(MetricsPublisher::refresh_ns(cfg, k10s), 7'500'000'000);
  cfg.interval = 1s;
  EXPECT_EQ(MetricsPublisher::refresh_ns(cfg, k10s), 1'000'000'000);
  cfg.interval = 60s;
  EXPECT_EQ(MetricsPublisher::refresh_ns(cfg, k10s), k10s);
  cfg.interval = 10s;
  EXPECT_EQ(MetricsPublisher::refresh_ns(cfg, k10s), k10s);
  cfg.textfile = "";
  cfg.interval = 1s;
  EXPECT_EQ(MetricsPublisher::refresh_ns(cfg, k10s), k10s);
}

TEST(MetricsPublisher, AutoWithoutNodeExporterDirectoryKeepsTheLongRefresh) {
  constexpr std::int64_t k30s = 30'000'000'000;
  TempDir dir;
  MetricsPublisher missing(1, "none", dir.path() + "/no-such-dir/stallwatch.prom");
  MetricsConfig cfg;  // textfile "auto"
  cfg.interval = 15s;
  missing.configure(cfg);
  EXPECT_EQ(missing.refresh_ns(k30s), k30s);
  MetricsPublisher present(1, "none", dir.path() + "/stallwatch.prom");
  present.configure(cfg);
  EXPECT_EQ(present.refresh_ns(k30s), 15'000'000'000);
  cfg.textfile = "";
  present.configure(cfg);
  EXPECT_EQ(present.refresh_ns(k30s), k30s);
}

TEST(MetricsPublisher, WritesTheRenderedStatusEveryInterval) {
  TempDir dir;
  MetricsPublisher p(1, "none");
  MetricsConfig cfg;
  cfg.textfile = dir.path() + "/stallwatch.prom";
  cfg.interval = 15s;
  nlohmann::json doc = {{"version", "1"}, {"updated_unix_ms", 1000}};
  p.publish(doc, 100'000'000'000, cfg);  // first call: written at once
  EXPECT_EQ(slurp(cfg.textfile), render_metrics(doc));
  doc["updated_unix_ms"] = 2000;
  p.publish(doc, 114'000'000'000, cfg);  // 14 s later: not yet
  EXPECT_NE(slurp(cfg.textfile), render_metrics(doc));
  p.publish(doc, 115'000'000'000, cfg);  // 15 s: rewritten
  EXPECT_EQ(slurp(cfg.textfile), render_metrics(doc));
  EXPECT_EQ(p.current_path(), cfg.textfile);
}

// A change is written at once, at most every kChangeGapNs; one held back makes refresh_ns() ask
// for a pass when the gap has passed. A count of the publisher's own (a stall's class, counted
// after its evidence) is a change too.
TEST(MetricsPublisher, ChangesAreWrittenAtOnceAtMostOnceASecond) {
  TempDir dir;
  MetricsPublisher p(2, "none");
  MetricsConfig cfg;  // 60s
  cfg.textfile = dir.path() + "/stallwatch.prom";
  p.configure(cfg);
  constexpr std::int64_t k60s = 60'000'000'000;
  nlohmann::json doc = {{"version", "1"}, {"global_pauses_total", 0}};
  p.publish(doc, 100'000'000'000);  // the first write
  doc["global_pauses_total"] = 1;
  p.publish(doc, 130'000'000'000);  // 30 s later, nothing changed: not yet
  EXPECT_NE(slurp(cfg.textfile), render_metrics(doc));
  EXPECT_EQ(p.refresh_ns(k60s), k60s);
  p.publish(doc, 130'000'000'000, true);  // a CPU stalled
  EXPECT_EQ(slurp(cfg.textfile), render_metrics(doc));
  doc["global_pauses_total"] = 2;
  p.publish(doc, 130'500'000'000, true);  // another, 0.5 s later: held back
  EXPECT_NE(slurp(cfg.textfile), render_metrics(doc));
  EXPECT_EQ(p.refresh_ns(k60s), MetricsPublisher::kChangeGapNs);
  p.publish(doc, 131'000'000'000);  // the gap has passed: the held-back change goes out
  EXPECT_EQ(slurp(cfg.textfile), render_metrics(doc));
  EXPECT_EQ(p.refresh_ns(k60s), k60s);
  // The report worker counts the stall's class: a change without the status writer's flag.
  StallEvent e;
  e.kind = EventKind::kStall;
  e.cpu = 1;
  p.make_sink()->fire(e, nullptr);
  nlohmann::json doc2 = {{"version", "1"}, {"cpus", {{{"cpu", 1}}}}};
  p.add_fields(doc2, std::nullopt);
  p.publish(doc2, 132'500'000'000);
  EXPECT_EQ(slurp(cfg.textfile), render_metrics(doc2));
  EXPECT_NE(render_metrics(doc2).find("unknown"), std::string::npos) << render_metrics(doc2);
  p.publish(doc, 140'000'000'000);  // nothing changed since: the interval rules again
  EXPECT_EQ(slurp(cfg.textfile), render_metrics(doc2));
}

TEST(MetricsPublisher, AutoWritesOnlyWhereTheCollectorDirectoryExists) {
  TempDir dir;
  const std::string auto_path = dir.path() + "/node-exporter/stallwatch.prom";
  MetricsPublisher p(1, "none", auto_path);
  MetricsConfig cfg;  // textfile = "auto"
  nlohmann::json doc = {{"version", "1"}};
  p.publish(doc, 1'000'000'000, cfg);
  EXPECT_EQ(p.current_path(), "");
  EXPECT_NE(::access(auto_path.c_str(), F_OK), 0);
  ASSERT_EQ(::mkdir((dir.path() + "/node-exporter").c_str(), 0755), 0);  // node_exporter installed
  p.publish(doc, 61'000'000'000, cfg);  // metrics.interval (60s) later
  EXPECT_EQ(p.current_path(), auto_path);
  EXPECT_EQ(slurp(auto_path), render_metrics(doc));
}

TEST(MetricsPublisher, EmptyTextfileIsOff) {
  TempDir dir;
  const std::string auto_path = dir.path() + "/stallwatch.prom";
  MetricsPublisher p(1, "none", auto_path);
  MetricsConfig cfg;
  cfg.textfile = "";
  p.publish(nlohmann::json::object(), 1'000'000'000, cfg);
  EXPECT_EQ(p.current_path(), "");
  EXPECT_NE(::access(auto_path.c_str(), F_OK), 0);
}

}  // namespace
}  // namespace stallwatch::metrics
