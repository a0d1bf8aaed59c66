// SPDX-License-Identifier: GPL-2.0-or-later
// stallwatchctl reports: real report files, reports with fields missing or added, listing order,
// lookup by id, readable rendering.
#include "stallwatch/ctl/reports_view.h"

#include <fcntl.h>
#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>

#include <gtest/gtest.h>

#include "stallwatch/core/sanitize.h"
#include "stallwatch/core/sysroot.h"
#include "temp_dir.h"

namespace stallwatch::ctl {
namespace {

namespace fs = std::filesystem;
const std::string kDir = std::string(STALLWATCH_FIXTURES) + "/ctl/reports";

std::string fixture(const std::string& name) {
  auto text = read_file_capped(kDir + "/" + name, 1 << 22);
  EXPECT_TRUE(text.ok()) << name;
  return text.ok() ? *text : std::string();
}

TEST(ReportParse, EvidenceEngineLayout) {
  auto e = parse_report(fixture("engine-layout.json"), "engine-layout", "p", 1);
  ASSERT_FALSE(e.parse_error);
  EXPECT_EQ(e.cpu, 1);
  EXPECT_FALSE(e.kind.empty());
  EXPECT_GE(e.stall_ms, 1000);
  EXPECT_GE(e.episode, 1);
  EXPECT_FALSE(e.stall_class.empty());
  EXPECT_EQ(e.comm, "sw-test-hog");
  EXPECT_GT(e.pid, 0);
  EXPECT_EQ(e.policy, "SCHED_FIFO");
  EXPECT_EQ(e.rt_priority, 60);
}

TEST(ReportParse, CapturedEnvelopeFromARealStall) {
  // Written by stallwatchd during a real 3.5 s SCHED_FIFO hog on CPU 1 (tests/integration).
  auto e = parse_report(fixture("captured-stall.json"), "captured", "p", 1);
  ASSERT_FALSE(e.parse_error);
  EXPECT_EQ(e.cpu, 1);
  EXPECT_EQ(e.episode, 1);
  ASSERT_EQ(e.updates.size(), 3u);
  EXPECT_EQ(e.updates[0].kind, "stall");
  EXPECT_EQ(e.updates[0].stall_ms, 1001);
  EXPECT_EQ(e.kind, "ongoing");  // the latest update
  EXPECT_EQ(e.stall_ms, 3101);   // the longest
  EXPECT_EQ(e.written, "2026-11-21T20:30:47Z");
  EXPECT_EQ(e.stall_class, "rt-hog");
  EXPECT_EQ(e.comm, "sw-test-hog");
  EXPECT_EQ(e.pid, 20423);
  EXPECT_EQ(e.policy, "SCHED_FIFO");
  EXPECT_EQ(e.rt_priority, 60);
  std::string out = format_report(e);
  EXPECT_NE(out.find("culprit:  sw-test-hog[20423] SCHED_FIFO/60"), std::string::npos) << out;
  EXPECT_NE(out.find("class:    rt-hog - sw-test-hog[20423]"), std::string::npos) << out;
  EXPECT_NE(out.find("updates:\n  2026-11-21T20:30:44Z  stall         1.0s\n"), std::string::npos)
      << out;
  std::string list = format_report_list({e});
  EXPECT_NE(list.find("2026-11-21 20:30:47      1  ongoing           3.1s  rt-hog"),
            std::string::npos)
      << list;
}

TEST(ReportParse, FlatLayoutWithFieldsMissingAndAdded) {
  auto e = parse_report(fixture("minimal-flat.json"), "minimal-flat", "p", 1);
  ASSERT_FALSE(e.parse_error);
  EXPECT_EQ(e.cpu, 3);
  EXPECT_EQ(e.kind, "stall");
  EXPECT_EQ(e.stall_ms, 2500);                // stall_ms, no stall_ns
  EXPECT_EQ(e.stall_class, "rt-starvation");  // "stall_class", not "class"
  EXPECT_EQ(e.comm, "spin");
  EXPECT_EQ(e.pid, 77);
  EXPECT_EQ(e.rt_priority, -1);  // absent
  EXPECT_TRUE(e.written.empty());
  std::string shown = format_report(e);
  EXPECT_NE(shown.find("culprit:  spin[77] SCHED_FIFO"), std::string::npos) << shown;
  EXPECT_NE(shown.find("stalled:  2.5s"), std::string::npos) << shown;
}

TEST(ReportParse, WrongTypesFallBackToDefaults) {
  auto e = parse_report(R"({"event": {"cpu": "one", "stall_ns": null}, "culprit": 5,
                            "class": ["x"]})",
                        "id", "p", 1);
  ASSERT_FALSE(e.parse_error);
  EXPECT_EQ(e.cpu, -1);
  EXPECT_EQ(e.stall_ms, -1);
  EXPECT_EQ(e.pid, 0);
  EXPECT_TRUE(e.stall_class.empty());
  EXPECT_FALSE(format_report(e).empty());
}

TEST(ReportParse, HugeOrFractionalNumbersFallBackOrTruncate) {
  // Found by fuzz_report_render under UBSan: 2.4e69 read as an integer is undefined behaviour.
  auto e = parse_report(R"({"event": {"cpu": 1.0, "stall_ns": 2.4e69, "episode": -1e300},
                            "culprit": {"pid": 1e19, "tid": 4242.7}})",
                        "id", "p", 1);
  ASSERT_FALSE(e.parse_error);
  EXPECT_EQ(e.cpu, 1);
  EXPECT_EQ(e.stall_ms, -1);
  EXPECT_EQ(e.episode, 0);
  EXPECT_EQ(e.pid, 0);
  EXPECT_FALSE(format_report(e).empty());
}

TEST(ReportParse, GarbageIsMarkedNotFatal) {
  auto e = parse_report("{\"event\": {\"cpu\": 1", "torn", "p", 1);
  EXPECT_TRUE(e.parse_error);
  EXPECT_NE(format_report_list({e}).find("(unreadable)"), std::string::npos);
}

class ReportDir : public ::testing::Test {
 protected:
  void copy(const std::string& from, const std::string& to, std::int64_t mtime_s) {
    fs::copy_file(kDir + "/" + from, dir_ + "/" + to);
    timespec times[2] = {{mtime_s, 0}, {mtime_s, 0}};
    ASSERT_EQ(::utimensat(AT_FDCWD, (dir_ + "/" + to).c_str(), times, 0), 0);
  }
  test_support::TempDir tmp_{"stallwatch-ctl-test"};
  const std::string dir_ = tmp_.path();
};

TEST_F(ReportDir, NewestFirstAndOnlyJsonFiles) {
  copy("engine-layout.json", "stall-a-ep000001-cpu1.json", 1000);
  copy("minimal-flat.json", "stall-a-ep000002-cpu3.json", 3000);
  copy("torn.json", "stall-a-ep000003-cpu1.json", 2000);
  copy("minimal-flat.json", "notes.txt", 4000);
  fs::create_directory(dir_ + "/sub.json");
  auto list = list_reports(dir_);
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 3u);
  EXPECT_EQ((*list)[0].id, "stall-a-ep000002-cpu3");
  EXPECT_EQ((*list)[1].id, "stall-a-ep000003-cpu1");
  EXPECT_TRUE((*list)[1].parse_error);
  EXPECT_EQ((*list)[2].id, "stall-a-ep000001-cpu1");
  std::string table = format_report_list(*list);
  EXPECT_LT(table.find("ep000002"), table.find("ep000001")) << table;
}

TEST_F(ReportDir, MissingDirectoryIsAnEmptyList) {
  auto list = list_reports(dir_ + "/reports");
  ASSERT_TRUE(list.ok());
  EXPECT_TRUE(list->empty());
  EXPECT_EQ(format_report_list(*list), "no stall reports\n");
  EXPECT_EQ(format_report_list_json(*list), "[]\n");
}

TEST(ReportFind, ExactThenUniqueSubstring) {
  std::vector<ReportEntry> v(3);
  v[0].id = "stall-x-ep000001-cpu1";
  v[1].id = "stall-x-ep000011-cpu2";
  v[2].id = "stall-x-ep000002-cpu1";
  auto r = find_report(v, "stall-x-ep000001-cpu1.json");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, &v[0]);
  r = find_report(v, "cpu2");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, &v[1]);
  r = find_report(v, "cpu1");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message,
            "\"cpu1\" matches 2 reports:\n  stall-x-ep000001-cpu1\n  stall-x-ep000002-cpu1");
  r = find_report(v, "cpu9");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message, "no report matches \"cpu9\" (3 reports)");
}

TEST(ReportFormat, ReadableFormShowsVerdictCulpritAndSummary) {
  auto e = parse_report(fixture("engine-layout.json"), "engine-layout", "/x/engine-layout.json", 1);
  std::string out = format_report(e);
  EXPECT_EQ(out.rfind("report engine-layout\n", 0), 0u) << out;
  EXPECT_NE(out.find("on CPU 1"), std::string::npos) << out;
  EXPECT_NE(out.find("class:    "), std::string::npos) << out;
  EXPECT_NE(out.find("culprit:  sw-test-hog["), std::string::npos) << out;
  EXPECT_NE(out.find("SCHED_FIFO/60"), std::string::npos) << out;
  EXPECT_NE(out.find("summary:\n"), std::string::npos) << out;
}

// An old or edited report with control characters in every string: each view prints them
// escaped, one line per line, never a raw control byte.
TEST(ReportFormat, HostileStringsAreEscapedInEveryView) {
  auto text = read_file_capped(
      std::string(STALLWATCH_FIXTURES) + "/ctl/reports-hostile/old-unsanitized.json", 1 << 20);
  ASSERT_TRUE(text.ok());
  auto e = parse_report(*text, "id\x1b[2J", "/r/id.json", 1);
  ASSERT_FALSE(e.parse_error);
  for (const std::string& out :
       {format_report_list({e}), format_report(e), format_report_list_json({e})}) {
    for (char ch : out) {
      auto c = static_cast<unsigned char>(ch);
      EXPECT_TRUE(c == '\n' || (c >= 0x20 && c != 0x7f)) << "raw byte " << int(c) << " in\n" << out;
    }
    EXPECT_TRUE(is_clean_text(out, Newlines::kKeep)) << out;
  }
  std::string one = format_report(e);
  EXPECT_NE(one.find(R"(culprit:  \x1b[31mEVIL\x0aX=1[4242] SCHED_FIFO\xc2\x9b/60)"),
            std::string::npos)
      << one;
  EXPECT_NE(one.find(R"(cmdline:  python3\x0a-c\x1b[H)"), std::string::npos) << one;
  EXPECT_EQ(one.find("\nX=1"), std::string::npos) << "a forged line: " << one;
  EXPECT_EQ(one.find("\nforged: yes"), std::string::npos) << one;
}

}  // namespace
}  // namespace stallwatch::ctl
