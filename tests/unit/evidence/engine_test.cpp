// SPDX-License-Identifier: GPL-2.0-or-later
#include "stallwatch/evidence/engine.h"

#include <atomic>
#include <chrono>
#include <cstdlib>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "fixture_util.h"

namespace stallwatch::evidence {
namespace {

using evidence::testing::fixture_path;

// Real times from tests/fixtures/evidence/host/scenarios/rt-hog/meta.json.
constexpr std::int64_t kHogStartNs = 757'208'049'415;
constexpr std::int64_t kEarlyNs = 757'909'147'710;
constexpr std::int64_t kLateNs = 759'209'916'944;

std::atomic<std::int64_t> g_fake_now{kLateNs};
std::int64_t fake_now() { return g_fake_now.fetch_add(100'000); }  // 0.1 ms per reading

using evidence::testing::TempDir;

evidence::EngineTuning fake_tuning() {
  evidence::EngineTuning t;
  t.exclude_pid = 0;
  t.clk_tck = 100;
  t.now = &fake_now;
  t.schedstat_gap = std::chrono::nanoseconds(0);
  return t;
}

StallEvent hog_event(EventKind kind = EventKind::kStall) {
  StallEvent ev;
  ev.kind = kind;
  ev.cpu = 1;
  ev.stall_start_mono_ns = kHogStartNs;
  ev.detected_mono_ns = kLateNs;
  ev.stall_ns = kLateNs - kHogStartNs;
  ev.threshold_ns = 2'000'000'000;
  ev.episode = 3;
  return ev;
}

class EngineTest : public ::testing::Test {
 protected:
  void SetUp() override { g_fake_now = kLateNs; }

  std::unique_ptr<EvidenceEngine> make(EvidenceConfig cfg = {},
                                       evidence::EngineTuning t = fake_tuning()) {
    auto e = std::make_unique<EvidenceEngine>(Sysroot(fixture_path("host/scenarios/rt-hog/late")),
                                              cfg, 50, dir_.path(), t);
    std::vector<std::string> errors;
    e->add_counter_sample(std::make_shared<evidence::CounterSample>(evidence::read_counter_sample(
        Sysroot(fixture_path("host/scenarios/rt-hog/pre")), kHogStartNs - 200'000'000, &errors)));
    e->add_counter_sample(std::make_shared<evidence::CounterSample>(evidence::read_counter_sample(
        Sysroot(fixture_path("host/scenarios/rt-hog/early")), kEarlyNs, &errors)));
    EXPECT_TRUE(errors.empty());
    return e;
  }

  TempDir dir_;
};

TEST_F(EngineTest, RealRtHogCaptureIsAnRtHogWithItsPidCommAndPriority) {
  auto engine = make();
  StallReport r = engine->collect(hog_event(), kLateNs);
  EXPECT_EQ(r.stall_class, "rt-hog");
  EXPECT_EQ(r.class_reason,
            "rt hog) R (1[23521] (pid 23521) is runnable on CPU 1 with SCHED_FIFO priority 60 >= "
            "heartbeat priority 50 and holds the CPU (the only runnable task on the CPU)");
  EXPECT_EQ(r.pid, 23521);
  EXPECT_EQ(r.tid, 23521);
  EXPECT_EQ(r.comm, "rt hog) R (1");
  EXPECT_EQ(r.policy, "SCHED_FIFO");
  EXPECT_EQ(r.rt_priority, 60);
  EXPECT_EQ(r.nice, 0);
  EXPECT_EQ(r.cgroup, "/");
  EXPECT_TRUE(r.failed_steps.empty()) << r.failed_steps.front();
  EXPECT_EQ(r.notes,
            (std::vector<std::string>{"sysrq unavailable", "kernel verdicts unavailable"}));
  const auto& ev = engine->last_evidence();
  EXPECT_EQ(ev.counters.window_kind, "inside-stall");
  EXPECT_EQ(ev.counters.cpu_ms.user, 1240);
  EXPECT_EQ(ev.system.clocksource, "tsc");
  EXPECT_EQ(ev.system.sched_rt_runtime_us, 950000);
  EXPECT_EQ(ev.backtrace.status, "unavailable");
  EXPECT_NE(r.summary.find("cpu1 over 1.30s (inside-stall): user 95%"), std::string::npos)
      << r.summary;

  engine->store(r);
  ASSERT_FALSE(r.report_path.empty());
  EXPECT_EQ(r.report_path.rfind(dir_.path() + "/reports/stall-", 0), 0u);
  auto doc = nlohmann::json::parse(*read_file_capped(r.report_path, 1 << 20));
  EXPECT_EQ(doc["format"], "stallwatch-report/1");
  EXPECT_EQ(doc["episode"], 3);
  ASSERT_EQ(doc["updates"].size(), 1u);
  EXPECT_EQ(doc["updates"][0]["class"], "rt-hog");
  EXPECT_EQ(doc["updates"][0]["culprit"]["comm"], "rt hog) R (1");
  EXPECT_EQ(doc["updates"][0]["evidence"]["tasks"][0]["tid"], 23521);
}

TEST_F(EngineTest, OngoingIsRateLimitedAndAppendsToTheEpisodeFile) {
  auto engine = make();
  StallReport first = engine->collect(hog_event(), kLateNs);
  engine->store(first);
  StallReport again = engine->collect(hog_event(EventKind::kOngoing), kLateNs + 10'000'000'000);
  EXPECT_EQ(again.stall_class, "rt-hog");
  EXPECT_EQ(again.pid, 23521);
  EXPECT_EQ(again.event.kind, EventKind::kOngoing);
  EXPECT_EQ(again.notes.back(), "evidence not re-collected (evidence.ongoing_min_interval)");
  engine->store(again);
  EXPECT_EQ(again.report_path, first.report_path);
  auto doc = nlohmann::json::parse(*read_file_capped(again.report_path, 1 << 20));
  ASSERT_EQ(doc["updates"].size(), 2u);
  EXPECT_EQ(doc["updates"][1]["event"]["kind"], "ongoing");
  // After the interval it collects again.
  StallReport later = engine->collect(hog_event(EventKind::kOngoing), kLateNs + 31'000'000'000);
  EXPECT_TRUE(later.notes.empty() ||
              later.notes.back().find("not re-collected") == std::string::npos);
}

TEST_F(EngineTest, EpisodeFileKeepsTheFirstAndTheLatestUpdates) {
  EvidenceConfig cfg;
  cfg.ongoing_min_interval = std::chrono::seconds(0);
  auto t = fake_tuning();
  t.max_updates_per_episode = 3;
  auto engine = make(cfg, t);
  StallReport r = engine->collect(hog_event(), kLateNs);
  engine->store(r);
  for (int i = 1; i <= 4; ++i) {
    StallEvent ev = hog_event(EventKind::kOngoing);
    ev.stall_ns += i;
    r = engine->collect(ev, kLateNs + i);
    engine->store(r);
  }
  auto doc = nlohmann::json::parse(*read_file_capped(r.report_path, 1 << 20));
  ASSERT_EQ(doc["updates"].size(), 3u);
  EXPECT_EQ(doc["updates"][0]["event"]["kind"], "stall");
  EXPECT_EQ(doc["updates"][2]["event"]["stall_ns"], hog_event().stall_ns + 4);
}

TEST_F(EngineTest, ReportCountIsBounded) {
  EvidenceConfig cfg;
  cfg.max_reports = 2;
  auto engine = make(cfg);
  for (int ep = 1; ep <= 4; ++ep) {
    StallEvent ev = hog_event();
    ev.episode = static_cast<std::uint64_t>(ep);
    StallReport r = engine->collect(ev, kLateNs);
    engine->store(r);
    ASSERT_FALSE(r.report_path.empty());
  }
  auto files = Sysroot().list_dir(dir_.path() + "/reports");
  ASSERT_TRUE(files.ok());
  EXPECT_EQ(files->size(), 2u);
}

TEST_F(EngineTest, UnwritableStateDirLeavesReportPathEmpty) {
  TempDir other;
  std::string file = other.path() + "/f";
  ASSERT_TRUE(std::system(("touch " + file).c_str()) == 0);
  EvidenceEngine engine(Sysroot(fixture_path("host/scenarios/rt-hog/late")), EvidenceConfig{}, 50,
                        file, fake_tuning());
  StallReport r = engine.collect(hog_event(), kLateNs);
  EXPECT_EQ(r.stall_class, "rt-hog");
  EXPECT_EQ(r.failed_steps, (std::vector<std::string>{"counters: no baseline sample yet"}));
  engine.store(r);
  EXPECT_EQ(r.report_path, "");
}

TEST_F(EngineTest, GlobalPauseDisabledAndOtherKinds) {
  auto engine = make();
  StallEvent pause;
  pause.kind = EventKind::kGlobalPause;
  pause.stall_ns = 3'000'000'000;
  pause.note = "checker tick 3.0s late";
  StallReport p = engine->collect(pause, kLateNs);
  EXPECT_EQ(p.stall_class, "global-pause");
  EXPECT_EQ(p.class_reason, "the checker itself was frozen for 3.00 s: checker tick 3.0s late");
  EXPECT_EQ(p.pid, 0);

  StallReport stall = engine->collect(hog_event(), kLateNs);
  StallReport rec = engine->collect(hog_event(EventKind::kRecovered), kLateNs + 1);
  EXPECT_EQ(rec.stall_class, "rt-hog");
  EXPECT_EQ(rec.event.kind, EventKind::kRecovered);
  EXPECT_EQ(rec.notes.back(), "evidence not re-collected for this event kind");

  EvidenceConfig off;
  off.enabled = false;
  auto disabled = make(off);
  StallReport d = disabled->collect(hog_event(), kLateNs);
  EXPECT_EQ(d.stall_class, "unknown");
  EXPECT_EQ(d.notes, (std::vector<std::string>{"evidence collection disabled"}));
}

TEST_F(EngineTest, SysrqDisabledIsNotedAsSuch) {
  EvidenceConfig cfg;
  cfg.sysrq_backtrace = false;
  auto engine = make(cfg);
  StallReport r = engine->collect(hog_event(), kLateNs);
  EXPECT_EQ(engine->last_evidence().backtrace.status, "disabled");
  EXPECT_EQ(r.notes, (std::vector<std::string>{"kernel verdicts unavailable"}));
}

TEST(EngineThreads, StartAndStopArePromptOnTheRealSystem) {
  TempDir dir;
  EvidenceEngine engine(Sysroot(), EvidenceConfig{}, 99, dir.path());
  auto t0 = std::chrono::steady_clock::now();
  engine.start();
  engine.stop();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(500));
  engine.stop();  // idempotent
}

}  // namespace
}  // namespace stallwatch::evidence
