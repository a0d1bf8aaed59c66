// SPDX-License-Identifier: GPL-2.0-or-later
// stallwatchctl reports ID --timeline: the drawings of the fixture reports in
// tests/fixtures/ctl/timeline/ compared byte for byte with the stored ones (regenerated with
// STALLWATCH_REGEN_TIMELINE=1, see the folder's README.md), every line within the width, colour
// only when asked, hostile labels kept off the terminal, which update's timeline is drawn, the
// row bound and the width from the environment.
#include "stallwatch/ctl/timeline_view.h"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <vector>

#include <gtest/gtest.h>

#include "stallwatch/core/sysroot.h"
#include "stallwatch/ctl/reports_view.h"

namespace stallwatch::ctl {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const std::string kDir = std::string(STALLWATCH_FIXTURES) + "/ctl/timeline";
const std::vector<std::string> kFixtures = {"preempt-off-insmod",  "hardirq-open",
                                            "irq-heavy-other-cpu", "unavailable",
                                            "hostile-labels",      "many-cpus"};

std::string read(const std::string& path) {
  auto text = read_file_capped(path, 1 << 22);
  EXPECT_TRUE(text.ok()) << path;
  return text.ok() ? *text : std::string();
}

ReportEntry report(const std::string& name) {
  return parse_report(read(kDir + "/" + name + ".json"), name, kDir + "/" + name + ".json", 1);
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::size_t at = 0;
  while (at < text.size()) {
    auto nl = text.find('\n', at);
    if (nl == std::string::npos) nl = text.size();
    out.push_back(text.substr(at, nl - at));
    at = nl + 1;
  }
  return out;
}

// The text without its SGR sequences (ESC '[' digits and ';' 'm').
std::string strip_sgr(const std::string& s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\x1b' && i + 1 < s.size() && s[i + 1] == '[') {
      std::size_t j = i + 2;
      while (j < s.size() && (std::isdigit(static_cast<unsigned char>(s[j])) || s[j] == ';')) ++j;
      if (j < s.size() && s[j] == 'm') {
        i = j;
        continue;
      }
    }
    out += s[i];
  }
  return out;
}

class TimelineGolden : public ::testing::TestWithParam<std::string> {};

TEST_P(TimelineGolden, MatchesTheStoredDrawing) {
  const std::string& name = GetParam();
  const ReportEntry e = report(name);
  ASSERT_FALSE(e.parse_error) << name;
  const char* regen = std::getenv("STALLWATCH_REGEN_TIMELINE");
  for (int width : {80, 120}) {
    const std::string got = format_report_timeline(e, width, false);
    const std::string path = kDir + "/" + name + "." + std::to_string(width) + ".txt";
    if (regen != nullptr && *regen != '\0') {
      std::ofstream(path, std::ios::binary | std::ios::trunc) << got;
      RecordProperty("regenerated", path);
      continue;
    }
    EXPECT_EQ(got, read(path)) << "drawing of " << name << " at " << width
                               << " columns differs from " << path
                               << "; if the change is meant, regenerate (README.md there)";
  }
}

INSTANTIATE_TEST_SUITE_P(Fixtures, TimelineGolden, ::testing::ValuesIn(kFixtures),
                         [](const ::testing::TestParamInfo<std::string>& p) {
                           std::string n = p.param;
                           std::replace(n.begin(), n.end(), '-', '_');
                           return n;
                         });

TEST(TimelineFixtures, EveryReportHasItsDrawingsAndIsListed) {
  std::set<std::string> listed(kFixtures.begin(), kFixtures.end());
  int seen = 0;
  for (const auto& ent : fs::directory_iterator(kDir)) {
    if (ent.path().extension() != ".json") continue;
    const std::string name = ent.path().stem().string();
    ++seen;
    EXPECT_TRUE(listed.count(name)) << name << ".json is not in kFixtures";
    for (const char* w : {".80.txt", ".120.txt"})
      EXPECT_TRUE(fs::exists(kDir + "/" + name + w)) << name << w;
  }
  EXPECT_EQ(seen, static_cast<int>(kFixtures.size()));
}

TEST(TimelineRender, EveryLineFitsTheWidth) {
  for (const auto& name : kFixtures) {
    const ReportEntry e = report(name);
    for (int width = kTimelineMinColumns; width <= kTimelineMaxColumns; ++width)
      for (bool colour : {false, true}) {
        const std::string out = strip_sgr(format_report_timeline(e, width, colour));
        ASSERT_FALSE(out.empty());
        EXPECT_EQ(out.back(), '\n');
        for (const auto& line : lines_of(out)) {
          EXPECT_LE(line.size(), static_cast<std::size_t>(width))
              << name << " at " << width << ": " << line;
          EXPECT_TRUE(line.empty() || line.back() != ' ') << name << ": trailing blank";
          for (unsigned char c : line)
            ASSERT_TRUE(c >= 0x20 && c < 0x7f)
                << name << " at " << width << ": byte " << int(c) << " in " << line;
        }
      }
  }
}

TEST(TimelineRender, ColourCodesOnlyWhenAsked) {
  for (const auto& name : kFixtures) {
    const ReportEntry e = report(name);
    const std::string plain = format_report_timeline(e, 80, false);
    EXPECT_EQ(plain.find('\x1b'), std::string::npos) << name;
    const std::string coloured = format_report_timeline(e, 80, true);
    EXPECT_EQ(strip_sgr(coloured), plain) << name << ": colour must not move a character";
    // Every escape in the coloured text is one of ours: an SGR sequence.
    EXPECT_EQ(strip_sgr(coloured).find('\x1b'), std::string::npos) << name;
  }
  const std::string coloured = format_report_timeline(report("preempt-off-insmod"), 80, true);
  EXPECT_NE(coloured.find("\x1b[31m^"), std::string::npos) << coloured;    // hard IRQ
  EXPECT_NE(coloured.find("\x1b[1;35mS"), std::string::npos) << coloured;  // the silence
  EXPECT_NE(coloured.find("\x1b[1;36m"), std::string::npos) << coloured;   // the holder
  const std::string heavy = format_report_timeline(report("irq-heavy-other-cpu"), 80, true);
  EXPECT_NE(heavy.find("\x1b[1;31m  25.0k\x1b[0m"), std::string::npos) << heavy;
}

TEST(TimelineRender, HostileLabelsAreShownEscaped) {
  const std::string out = format_report_timeline(report("hostile-labels"), 120, false);
  for (unsigned char c : out) ASSERT_TRUE(c == '\n' || (c >= 0x20 && c < 0x7f)) << int(c);
  EXPECT_NE(out.find("\\x1b[2J\\x1b[31mevil\\x07:66"), std::string::npos) << out;
  EXPECT_NE(out.find("na\\xc3\\xafve\\x0d\\x0aline:67"), std::string::npos) << out;
  EXPECT_NE(out.find("\\xc2\\x9b31m\\x1b]0;title\\x07hold:69"), std::string::npos) << out;
  EXPECT_NE(out.find("\\x1b[1A\\x1b[2Kforged line\\x0d\\x0aholder:69"), std::string::npos) << out;
  // 60 distinct tasks too short for their labels: 50 letters (no S, no D), then '?'.
  EXPECT_NE(out.find("? other tasks"), std::string::npos) << out;
}

TEST(TimelineRender, StatusOtherThanRecordedIsOneLine) {
  EXPECT_EQ(format_report_timeline(report("unavailable"), 120, false),
            "timeline: unavailable: tracefs is not mounted (/sys/kernel/tracing: No such file or "
            "directory)\n");
  EXPECT_EQ(render_timeline(json{{"status", "disabled"}, {"note", ""}}, 80, true),
            "timeline: disabled\n");
  EXPECT_EQ(render_timeline(json{{"note", "x"}}, 80, false), "timeline: (no status): x\n");
  EXPECT_EQ(render_timeline(json(nullptr), 80, false), "timeline: none in this report\n");
}

TEST(TimelineRender, ARecordedWindowThatMakesNoSenseIsOneLine) {
  json tl = {{"status", "recorded"}, {"window_start_mono_ns", 5}, {"detected_mono_ns", 5}};
  EXPECT_EQ(render_timeline(tl, 80, false),
            "timeline: recorded, but its window is not usable (start 5, detected 5)\n");
}

TEST(TimelineRender, StalledCpuFirstThenCpusWithEventsBoundedTo64Rows) {
  const auto lines = lines_of(format_report_timeline(report("many-cpus"), 80, false));
  std::vector<std::string> rows;
  for (const auto& l : lines)
    if (l.rfind(" cpu", 0) == 0 || l.rfind(">cpu", 0) == 0) rows.push_back(l);
  ASSERT_EQ(rows.size(), static_cast<std::size_t>(kTimelineMaxRows));
  EXPECT_EQ(rows[0].substr(0, 7), ">cpu42 ");
  EXPECT_EQ(rows[1].substr(0, 7), " cpu0  ");
  EXPECT_EQ(rows[63].substr(0, 7), " cpu63 ");
  EXPECT_NE(std::find(lines.begin(), lines.end(),
                      "not drawn: 36 more CPUs with events (64 rows at most), 1 CPU without "
                      "events"),
            lines.end());
}

TEST(TimelineRender, TheStalledCpuIsDrawnEvenWithoutAnEntry) {
  json tl = {{"status", "recorded"},
             {"stalled_cpu", 3},
             {"window_start_mono_ns", 0},
             {"silence_mono_ns", 2'000'000'000},
             {"detected_mono_ns", 4'000'000'000},
             {"cpus", json::array()}};
  const std::string out = render_timeline(tl, 80, false);
  EXPECT_NE(out.find(">cpu3 |"), std::string::npos) << out;
  EXPECT_NE(out.find("cpu3: no events recorded"), std::string::npos) << out;
  EXPECT_NE(out.find("CPU 3 stalled: silent after (not recorded); holder none recorded"),
            std::string::npos)
      << out;
}

TEST(TimelineRender, WidthIsClampedAndJunkDoesNotBreakTheLines) {
  const ReportEntry e = report("preempt-off-insmod");
  EXPECT_EQ(format_report_timeline(e, 10, false), format_report_timeline(e, 80, false));
  EXPECT_EQ(format_report_timeline(e, 500, false), format_report_timeline(e, 120, false));
  // Fields of the wrong type, segments out of the window, reversed, of unknown kinds.
  const json junk[] = {
      json::array(),
      json("recorded"),
      {{"status", "recorded"}, {"window_start_mono_ns", 0}, {"detected_mono_ns", 1000}},
      {{"status", "recorded"},
       {"window_start_mono_ns", 1'000},
       {"silence_mono_ns", "x"},
       {"detected_mono_ns", 4'000'000'000},
       {"holder", 7},
       {"silent_after", json::array()},
       {"cpus",
        {{{"cpu", 0},
          {"segments",
           {{{"start", -5}, {"end", 9'000'000'000'000}, {"kind", "task"}, {"label", 5}},
            {{"start", 3'000'000'000}, {"end", 1}, {"kind", "irq"}},
            {{"start", 2}, {"end", 2}, {"kind", "irq"}, {"label", "irq 1 (a)"}},
            {{"start", 2}, {"end", 3}, {"kind", "nmi"}},
            "not an object"}}},
         {{"cpu", "one"}},
         {{"cpu", 0}},
         7}}},
      {{"status", "recorded"},
       {"window_start_mono_ns", std::numeric_limits<std::int64_t>::min()},
       {"detected_mono_ns", std::numeric_limits<std::int64_t>::max()}},
  };
  for (const auto& tl : junk)
    for (int width : {80, 120})
      for (const auto& line : lines_of(render_timeline(tl, width, false)))
        EXPECT_LE(line.size(), static_cast<std::size_t>(width)) << tl.dump() << ": " << line;
}

TEST(TimelinePick, PrimaryWhenRecordedElseTheLatestRecorded) {
  auto tl = [](const char* status, int tag) { return json{{"status", status}, {"read_ns", tag}}; };
  auto entry = [](json updates) {
    json doc = {{"format", "stallwatch-report/1"}, {"updates", std::move(updates)}};
    return parse_report(doc.dump(), "r", "p", 1);
  };
  auto tag = [](const json& t) { return t.value("read_ns", -1); };
  // The first update with a culprit is the primary; its recorded timeline wins.
  auto e = entry({{{"culprit", {{"pid", 5}}}, {"timeline", tl("recorded", 1)}},
                  {{"timeline", tl("recorded", 2)}}});
  EXPECT_EQ(tag(pick_timeline(e)), 1);
  // Primary not recorded: the latest recorded one.
  e = entry({{{"culprit", {{"pid", 5}}}, {"timeline", tl("failed", 1)}},
             {{"timeline", tl("recorded", 2)}},
             {{"timeline", tl("recorded", 3)}},
             {{"timeline", tl("empty", 4)}}});
  EXPECT_EQ(tag(pick_timeline(e)), 3);
  // None recorded: the primary's, to say why.
  e = entry({{{"timeline", tl("empty", 1)}},
             {{"culprit", {{"pid", 5}}}, {"timeline", tl("unavailable", 2)}}});
  EXPECT_EQ(tag(pick_timeline(e)), 2);
  // The primary has none: the latest that has one.
  e = entry({{{"culprit", {{"pid", 5}}}}, {{"timeline", tl("disabled", 2)}}, {{"x", 1}}});
  EXPECT_EQ(tag(pick_timeline(e)), 2);
  // No timeline anywhere (a daemon before the recorder), and a bare update object.
  e = entry({{{"culprit", {{"pid", 5}}}}});
  EXPECT_TRUE(pick_timeline(e).is_null());
  EXPECT_EQ(format_report_timeline(e, 80, false),
            "timeline: none in this report (written without the flight recorder)\n");
  e = parse_report(json{{"timeline", tl("recorded", 9)}}.dump(), "bare", "p", 1);
  EXPECT_EQ(tag(pick_timeline(e)), 9);
  // The fixture's second update has an empty timeline; the first one is drawn.
  EXPECT_EQ(pick_timeline(report("preempt-off-insmod")).value("status", ""), "recorded");
}

TEST(TimelineTerminal, ColumnsFromTheEnvironmentClamped) {
  const char* saved = std::getenv("COLUMNS");
  const std::string keep = saved != nullptr ? saved : "";
  ::setenv("COLUMNS", "100", 1);
  EXPECT_EQ(terminal_columns(), 100);
  ::setenv("COLUMNS", "300", 1);
  EXPECT_EQ(terminal_columns(), 120);
  ::setenv("COLUMNS", "40", 1);
  EXPECT_EQ(terminal_columns(), 80);
  ::setenv("COLUMNS", "12x", 1);  // not a number: the tty's width, clamped, or 80
  const int cols = terminal_columns();
  EXPECT_GE(cols, kTimelineMinColumns);
  EXPECT_LE(cols, kTimelineMaxColumns);
  if (saved != nullptr)
    ::setenv("COLUMNS", keep.c_str(), 1);
  else
    ::unsetenv("COLUMNS");
}

}  // namespace
}  // namespace stallwatch::ctl
