// SPDX-License-Identifier: GPL-2.0-or-later
// A drill proves detection, never escalation (issue 10 item 3): the announcement format, the
// trust rules of find_drill() and the escalation sink skipping a drill.
#include "stallwatch/core/drill_announcement.h"

#include <sys/stat.h>
#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <stdexcept>

#include "fakes.h"
#include "stallwatch/escalation/escalation_control.h"
#include "stallwatch/escalation/escalation_sink.h"

namespace stallwatch::escalation {
namespace {

using testing::CapturingJournal;
using testing::field;
using testing::has_field;
using ::testing::HasSubstr;
using testing::TempDir;

constexpr std::int64_t kS = 1'000'000'000;

DrillAnnouncement drill(int pid = 4242, int cpu = 1) {
  DrillAnnouncement a;
  a.cpu = cpu;
  a.pid = pid;
  a.start_mono_ns = 100 * kS;
  a.end_mono_ns = 105 * kS;
  return a;
}

TEST(DrillAnnouncement, RoundTrips) {
  auto a = parse_drill_announcement(encode_drill_announcement(drill()));
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->cpu, 1);
  EXPECT_EQ(a->pid, 4242);
  EXPECT_EQ(a->start_mono_ns, 100 * kS);
  EXPECT_EQ(a->end_mono_ns, 105 * kS);
}

TEST(DrillAnnouncement, RejectsMalformed) {
  EXPECT_EQ(parse_drill_announcement("[1]").error().message, "not a JSON object");
  EXPECT_EQ(parse_drill_announcement("{\"format\":\"x\"}").error().message,
            "format is not \"stallwatch-drill/1\"");
  EXPECT_EQ(
      parse_drill_announcement("{\"format\":\"stallwatch-drill/1\",\"cpu\":1}").error().message,
      "pid: missing or not an integer");
  EXPECT_EQ(parse_drill_announcement("{\"format\":\"stallwatch-drill/1\",\"cpu\":1,\"pid\":0,"
                                     "\"start_mono_ns\":1,\"end_mono_ns\":2}")
                .error()
                .message,
            "cpu, pid or times out of range");
}

TEST(DrillAnnouncement, MatchesTheCulpritOrElseCpuAndWindow) {
  DrillAnnouncement a = drill();
  EXPECT_TRUE(drill_matches(a, 1, 4242, 4242, 103 * kS));
  EXPECT_TRUE(drill_matches(a, 1, 4000, 4242, 500 * kS));   // the culprit decides, not the time
  EXPECT_FALSE(drill_matches(a, 1, 777, 777, 103 * kS));    // another task holds the CPU
  EXPECT_FALSE(drill_matches(a, 0, 4242, 4242, 103 * kS));  // another CPU
  // No culprit found: the CPU and the window (end + 2 s grace) decide.
  EXPECT_TRUE(drill_matches(a, 1, 0, 0, 100 * kS));
  EXPECT_TRUE(drill_matches(a, 1, 0, 0, 107 * kS));
  EXPECT_FALSE(drill_matches(a, 1, 0, 0, 107 * kS + 1));
  EXPECT_FALSE(drill_matches(a, 1, 0, 0, 99 * kS));
  EXPECT_FALSE(drill_matches(a, 2, 0, 0, 103 * kS));
}

class FindDrill : public ::testing::Test {
 protected:
  FindDrill() {
    lookup_.runtime_dir = tmp_.path();
    lookup_.owner = ::geteuid();
    lookup_.alive = [this](int pid) { return pid == alive_pid_; };
    tmp_.write("drills/4242.json", encode_drill_announcement(drill()));
    ::chmod(dir().c_str(), 0755);
    ::chmod(file().c_str(), 0644);
  }
  std::string dir() const { return tmp_.path() + "/drills"; }
  std::string file() const { return dir() + "/4242.json"; }
  std::optional<DrillMatch> find(int pid = 4242) {
    ignored_.clear();
    return find_drill(lookup_, 1, pid, pid, 103 * kS, &ignored_);
  }
  TempDir tmp_;
  DrillLookup lookup_;
  int alive_pid_ = 4242;
  std::string ignored_;
};

TEST_F(FindDrill, TrustedLiveMatchingAnnouncementIsFound) {
  auto m = find();
  ASSERT_TRUE(m);
  EXPECT_EQ(m->path, file());
  EXPECT_EQ(m->announcement.pid, 4242);
  EXPECT_EQ(ignored_, "");
  EXPECT_FALSE(find(777)) << "the culprit is another task";
}

// What the dispatcher posts to the check: every trusted live announcement, whatever the stall;
// each one's window ends 2 s after the hog's own deadline.
TEST_F(FindDrill, ListGivesEveryTrustedLiveAnnouncementAndItsWindow) {
  tmp_.write("drills/5151.json", encode_drill_announcement(drill(5151)));
  ::chmod((dir() + "/5151.json").c_str(), 0644);
  auto all = list_drills(lookup_, &ignored_);
  ASSERT_EQ(all.size(), 1u) << "5151 is not alive";
  EXPECT_EQ(all[0].announcement.pid, 4242);
  EXPECT_EQ(drill_until_ns(all[0].announcement),
            all[0].announcement.end_mono_ns + kDrillWindowGraceNs);
  alive_pid_ = 0;
  lookup_.alive = [](int) { return true; };
  EXPECT_EQ(list_drills(lookup_).size(), 2u);
  ASSERT_EQ(::chmod(file().c_str(), 0666), 0);
  ignored_.clear();
  all = list_drills(lookup_, &ignored_);
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].announcement.pid, 5151);
  EXPECT_THAT(ignored_, HasSubstr("4242.json: not a regular file owned by uid"));
}

TEST_F(FindDrill, NoDirectoryNoDrill) {
  lookup_.runtime_dir = tmp_.path() + "/nope";
  EXPECT_FALSE(find());
  EXPECT_EQ(ignored_, "");
}

TEST_F(FindDrill, DeadPidIsALeftover) {
  alive_pid_ = 1;
  EXPECT_FALSE(find());
}

TEST_F(FindDrill, GroupOrOtherWritableFileIsIgnored) {
  ASSERT_EQ(::chmod(file().c_str(), 0666), 0);
  EXPECT_FALSE(find());
  EXPECT_EQ(ignored_, file() + ": not a regular file owned by uid " + std::to_string(::geteuid()) +
                          " and closed to group/others; ignored");
}

TEST_F(FindDrill, FileOfAnotherOwnerIsIgnored) {
  lookup_.owner = ::geteuid() + 1;  // as if the file were not the daemon's user's
  EXPECT_FALSE(find());
  EXPECT_EQ(ignored_, dir() + ": not owned by uid " + std::to_string(::geteuid() + 1) +
                          " or writable by group/others; drill announcements there are ignored");
}

TEST_F(FindDrill, WorldWritableDirectoryIsIgnored) {
  ASSERT_EQ(::chmod(dir().c_str(), 01777), 0);
  EXPECT_FALSE(find());
  EXPECT_THAT(ignored_, HasSubstr("drill announcements there are ignored"));
}

TEST_F(FindDrill, SymlinkedAnnouncementIsIgnored) {
  tmp_.write("elsewhere.json", encode_drill_announcement(drill(5555)));
  ASSERT_EQ(::symlink((tmp_.path() + "/elsewhere.json").c_str(), (dir() + "/5555.json").c_str()),
            0);
  alive_pid_ = 5555;
  EXPECT_FALSE(find(5555));
  EXPECT_THAT(ignored_, HasSubstr("5555.json: not a regular file"));
}

TEST_F(FindDrill, FileNameMustBeThePid) {
  tmp_.write("drills/1.json", encode_drill_announcement(drill(7777)));
  ::chmod((dir() + "/1.json").c_str(), 0644);
  alive_pid_ = 7777;
  EXPECT_FALSE(find(7777));
  EXPECT_EQ(ignored_, dir() + "/1.json: names pid 7777; ignored");
}

// The escalation sink with a drill.
struct SinkWorld {
  TempDir tmp;
  ResetReasonStore store{tmp.path() + "/state"};
  CapturingJournal journal;
  std::vector<std::string> notified;
  std::optional<DrillMatch> drill_answer;
  EscalationSinkSeams seams() {
    EscalationSinkSeams s;
    s.notify = [this](const std::string& st) {
      notified.push_back(st);
      return 1;
    };
    s.realtime_ns = [] { return std::int64_t{1'795'290'000'000'000'000}; };
    s.drill = [this](const StallEvent&, const StallReport*) { return drill_answer; };
    return s;
  }
};

StallEvent escalation_event() {
  StallEvent e;
  e.kind = EventKind::kEscalation;
  e.cpu = 1;
  e.stall_ns = 2'500'000'000;
  e.episode = 1;
  return e;
}

TEST(EscalationSinkDrill, DrillIsReportedAndNotEscalated) {
  SinkWorld w;
  w.drill_answer = DrillMatch{drill(), "/run/stallwatch/drills/4242.json"};
  EscalationSinkSettings s;
  s.action = EscalationAction::kSystemd;
  EscalationSink e(s, w.store, w.journal, w.seams(), "boot", nullptr, nullptr);
  StallReport rep;
  rep.pid = rep.tid = 4242;
  rep.comm = "sw-drill-hog";
  rep.stall_class = "rt-hog";
  e.fire(escalation_event(), &rep);
  EXPECT_TRUE(w.notified.empty()) << "no WATCHDOG=trigger";
  EXPECT_FALSE(e.acted());
  auto loaded = w.store.load();
  ASSERT_TRUE(loaded.ok());
  EXPECT_FALSE(loaded->last.has_value()) << "no reset reason";
  ASSERT_EQ(w.journal.entries.size(), 1u);
  const auto& f = w.journal.entries[0];
  EXPECT_EQ(field(f, "STALLWATCH_DRILL"), "1");
  EXPECT_EQ(field(f, "STALLWATCH_EVENT"), "escalation");
  EXPECT_EQ(field(f, "PRIORITY"), "5");
  EXPECT_FALSE(has_field(f, "STALLWATCH_RESET_REASON"));
  EXPECT_EQ(field(f, "MESSAGE"),
            "CPU#1 stuck for 2.5s! [sw-drill-hog:4242] escalation skipped: drill (announced by "
            "stallwatchctl drill in /run/stallwatch/drills/4242.json, hog pid 4242)\nfor a real "
            "stall: send WATCHDOG=trigger to systemd: the unit's watchdog handling and "
            "FailureAction= apply");

  // A real stall afterwards still escalates.
  w.drill_answer.reset();
  e.fire(escalation_event(), nullptr);
  EXPECT_EQ(w.notified, std::vector<std::string>{"WATCHDOG=trigger"});
  EXPECT_TRUE(e.acted());
}

TEST(EscalationIsDrill, UsesTheDrillSeamAndNeverThrows) {
  TempDir tmp;
  Config c;
  c.daemon.state_dir = tmp.path() + "/state";
  Sysroot root(tmp.path());
  EscalationControlSeams seams;
  seams.journal = std::make_unique<CapturingJournal>();
  int calls = 0;
  seams.sink.drill = [&](const StallEvent& e, const StallReport* r) -> std::optional<DrillMatch> {
    ++calls;
    if (r->pid == 666) throw std::runtime_error("boom");
    if (e.cpu == 1 && r->pid == 4242) return DrillMatch{drill(), "p"};
    return std::nullopt;
  };
  EscalationControl esc(c, root, std::move(seams));
  StallReport rep;
  rep.pid = 4242;
  EXPECT_TRUE(esc.is_drill(escalation_event(), rep));
  rep.pid = 1;
  EXPECT_FALSE(esc.is_drill(escalation_event(), rep));
  rep.pid = 666;
  EXPECT_FALSE(esc.is_drill(escalation_event(), rep));
  EXPECT_EQ(calls, 3);
}

}  // namespace
}  // namespace stallwatch::escalation
