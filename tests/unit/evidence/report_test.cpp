// SPDX-License-Identifier: GPL-2.0-or-later
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <memory>

#include <gtest/gtest.h>
#include <spdlog/sinks/ringbuffer_sink.h>
#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include "fixture_util.h"
#include "stallwatch/core/sanitize.h"
#include "stallwatch/core/sysroot.h"
#include "stallwatch/evidence/report_json.h"
#include "stallwatch/evidence/report_store.h"

namespace stallwatch::evidence {
namespace {

using testing::TempDir;

std::vector<std::string> list(const std::string& dir) {
  auto r = Sysroot().list_dir(dir);  // absolute path, empty prefix
  std::vector<std::string> v = r.ok() ? *r : std::vector<std::string>{};
  std::sort(v.begin(), v.end());
  return v;
}

TEST(ReportStore, WritesAtomicallyIntoANewDirectory) {
  TempDir tmp;
  ReportStore store(tmp.path() + "/state/reports", 10, 1 << 20);
  auto p = store.write("stall-x-1.json", "{\"a\":1}\n", 0);
  ASSERT_TRUE(p.ok()) << p.error().message;
  EXPECT_EQ(*p, tmp.path() + "/state/reports/stall-x-1.json");
  EXPECT_EQ(*read_file_capped(*p, 100), "{\"a\":1}\n");
  EXPECT_EQ(list(tmp.path() + "/state/reports"), (std::vector<std::string>{"stall-x-1.json"}));
  // Rewriting replaces the content.
  ASSERT_TRUE(store.write("stall-x-1.json", "{\"a\":2}\n", 0).ok());
  EXPECT_EQ(*read_file_capped(*p, 100), "{\"a\":2}\n");
}

TEST(ReportStore, RemovesTheOldestBeyondTheCount) {
  TempDir tmp;
  ReportStore store(tmp.path(), 3, 1 << 20);
  for (int i = 1; i <= 5; ++i)
    ASSERT_TRUE(store.write("stall-r-" + std::to_string(i) + ".json", "{}", 0).ok());
  EXPECT_EQ(list(tmp.path()),
            (std::vector<std::string>{"stall-r-3.json", "stall-r-4.json", "stall-r-5.json"}));
}

TEST(ReportStore, RemovesTheOldestBeyondTheBytesButKeepsTheNewest) {
  TempDir tmp;
  ReportStore store(tmp.path(), 100, 25);
  std::string ten(10, 'x');
  ASSERT_TRUE(store.write("stall-b-1.json", ten, 0).ok());
  ASSERT_TRUE(store.write("stall-b-2.json", ten, 0).ok());
  EXPECT_EQ(list(tmp.path()).size(), 2u);
  ASSERT_TRUE(store.write("stall-b-3.json", ten, 0).ok());  // 30 > 25: drop the oldest
  EXPECT_EQ(list(tmp.path()), (std::vector<std::string>{"stall-b-2.json", "stall-b-3.json"}));
  ASSERT_TRUE(store.write("stall-b-4.json", std::string(100, 'y'), 0).ok());
  EXPECT_EQ(list(tmp.path()), (std::vector<std::string>{"stall-b-4.json"}));
}

TEST(ReportStore, LeavesOtherFilesAloneAndCleansStaleTempFiles) {
  TempDir tmp;
  std::ofstream(tmp.path() + "/notes.txt") << "mine";
  std::ofstream(tmp.path() + "/.stall-old.json.tmp") << "half";
  ReportStore store(tmp.path(), 1, 1 << 20);
  ASSERT_TRUE(store.write("stall-n-1.json", "{}", 0).ok());
  ASSERT_TRUE(store.write("stall-n-2.json", "{}", 0).ok());
  EXPECT_EQ(list(tmp.path()), (std::vector<std::string>{"notes.txt", "stall-n-2.json"}));
}

TEST(ReportStore, FailuresAreLoggedOncePerIntervalAndNeverThrow) {
  TempDir tmp;
  std::ofstream(tmp.path() + "/file") << "not a directory";
  auto sink = std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(16);
  auto old = spdlog::default_logger();
  spdlog::set_default_logger(std::make_shared<spdlog::logger>("test", sink));
  ReportStore store(tmp.path() + "/file/reports", 10, 1 << 20);
  for (int i = 0; i < 3; ++i) {
    auto r = store.write("stall-f.json", "{}", i * 1'000'000'000LL);
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().message.find("Not a directory"), std::string::npos) << r.error().message;
  }
  EXPECT_EQ(sink->last_formatted().size(), 1u);
  ASSERT_FALSE(store.write("stall-f.json", "{}", kReportErrorLogIntervalNs + 5).ok());
  auto logged = sink->last_raw();
  spdlog::set_default_logger(old);
  ASSERT_EQ(logged.size(), 2u);
  EXPECT_NE(std::string(logged[1].payload.begin(), logged[1].payload.end())
                .find("(2 more failures since the last message)"),
            std::string::npos);
  EXPECT_EQ(store.failures(), 4u);
}

Evidence sample_evidence() {
  Evidence ev;
  ev.event.kind = EventKind::kStall;
  ev.event.cpu = 1;
  ev.event.stall_ns = 5'200'000'000;
  ev.event.episode = 7;
  ev.heartbeat_priority = 99;
  TaskEvidence t;
  t.pid = t.tid = 90;
  t.comm = "insmod";
  t.state = 'R';
  t.syscall = "running";
  t.cmdline = "insmod spin.ko spin_ms=8000";
  t.cgroup = "/system.slice/x.service";
  t.running = true;
  ev.tasks.push_back(t);
  ev.running_reason = "the only runnable task on the CPU";
  ev.running_certain = true;
  ev.backtrace.status = "complete";
  ev.backtrace.have_section = true;
  ev.backtrace.kernel_rip = true;
  ev.backtrace.rip = "delay_tsc+0x33/0xa0";
  ev.backtrace.pid = 90;
  ev.backtrace.comm = "insmod";
  ev.backtrace.frames = {"spin_loop+0x1d/0xffb [spin]", "do_one_initcall+0x59/0x220"};
  ev.counters.have_window = true;
  ev.counters.window_kind = "inside-stall";
  ev.counters.window_ns = 1'500'000'000;
  ev.counters.have_stat = true;
  ev.counters.cpu_ms.system = 1500;
  ev.counters.have_interrupts = true;
  ev.counters.have_loc = true;
  ev.counters.local_timer_row = "LOC";
  ev.counters.loc_delta = 375;
  ev.counters.top_irqs = {{"LOC", "Local timer interrupts", 375}};
  ev.notes = {"sysrq unavailable"};
  ev.failed_steps = {"system: sched_rt_runtime_us unreadable"};
  return ev;
}

TEST(ReportJson, FillReportAndSummary) {
  Evidence ev = sample_evidence();
  Classification cls = classify(ev);
  ASSERT_EQ(cls.stall_class, "kernel-nonpreemptible");
  StallReport r;
  fill_report(ev, cls, &r);
  EXPECT_EQ(r.pid, 90);
  EXPECT_EQ(r.comm, "insmod");
  EXPECT_EQ(r.policy, "SCHED_OTHER");
  EXPECT_EQ(r.stack.front(), "delay_tsc+0x33/0xa0");  // the NMI's live stack, RIP first
  EXPECT_EQ(r.stack.size(), 3u);
  EXPECT_EQ(
      r.summary,
      "reason: NMI backtrace of CPU 1: kernel RIP delay_tsc+0x33/0xa0 in insmod[90]\n"
      "culprit: insmod pid 90 tid 90 SCHED_OTHER rt_priority 0 nice 0 cgroup "
      "/system.slice/x.service\n"
      "cmdline: insmod spin.ko spin_ms=8000\n"
      "stack (NMI backtrace cpu 1): delay_tsc+0x33/0xa0 < spin_loop+0x1d/0xffb [spin] < "
      "do_one_initcall+0x59/0x220\n"
      "cpu1 over 1.50s (inside-stall): user 0% system 100% irq 0% softirq 0% steal 0% idle 0%\n"
      "irqs: LOC +375\n"
      "notes: sysrq unavailable\n"
      "failed: system: sched_rt_runtime_us unreadable");
  auto details = nlohmann::json::parse(r.details_json);
  EXPECT_EQ(details["tasks"][0]["comm"], "insmod");
  EXPECT_EQ(details["backtrace"]["rip"], "delay_tsc+0x33/0xa0");
  EXPECT_EQ(details["counters"]["cpu_ms"]["system"], 1500);
}

TEST(ReportJson, ReportDocumentParsesAndSurvivesInvalidUtf8) {
  Evidence ev = sample_evidence();
  ev.tasks[0].comm = "bad\xff\xfe";
  StallReport r;
  fill_report(ev, classify(ev), &r);
  std::string text = report_to_json(r, "2026-11-21T10:00:00Z");
  auto j = nlohmann::json::parse(text);
  EXPECT_EQ(j["class"], "kernel-nonpreemptible");
  EXPECT_EQ(j["event"]["kind"], "stall");
  EXPECT_EQ(j["event"]["cpu"], 1);
  EXPECT_EQ(j["event"]["episode"], 7);
  EXPECT_EQ(j["culprit"]["pid"], 90);
  EXPECT_EQ(j["written"], "2026-11-21T10:00:00Z");
  EXPECT_EQ(j["evidence"]["tasks"][0]["pid"], 90);
  EXPECT_EQ(j["notes"][0], "sysrq unavailable");
  EXPECT_NE(j["culprit"]["comm"].get<std::string>().find("bad"), std::string::npos);
}

TEST(ReportJson, SanitizedNamesKeepTheExactBytesRecoverable) {
  Evidence ev = sample_evidence();
  const std::string raw = "\xff\xfe\x1b]0;pwn\a";
  ev.tasks[0].comm = sanitize_text(raw);  // as parse_task_stat() stores it
  StallReport r;
  fill_report(ev, classify(ev), &r);
  auto j = nlohmann::json::parse(report_to_json(r, "2026-11-21T10:00:00Z"));
  EXPECT_EQ(j["culprit"]["comm"], R"(\xff\xfe\x1b]0;pwn\x07)");
  EXPECT_EQ(j["culprit"]["comm_raw_hex"], "fffe1b5d303b70776e07");
  EXPECT_EQ(unescape_text(j["culprit"]["comm"].get<std::string>()), raw);
  EXPECT_EQ(j["evidence"]["tasks"][0]["comm_raw_hex"], "fffe1b5d303b70776e07");
  EXPECT_FALSE(j["culprit"].contains("cmdline_raw_hex"));
  // The summary (journald MESSAGE, stallwatchctl) holds the escaped form only.
  for (char c : r.summary) EXPECT_TRUE(c == '\n' || static_cast<unsigned char>(c) >= 0x20);
}

TEST(ReportJson, OversizedDetailsAreTrimmed) {
  Evidence ev = sample_evidence();
  ev.backtrace.section.assign(5000, std::string(100, 'r'));
  std::string text = evidence_to_json(ev);
  EXPECT_LE(text.size(), kMaxDetailsBytes);
  EXPECT_EQ(nlohmann::json::parse(text)["truncated"], true);
}

}  // namespace
}  // namespace stallwatch::evidence
