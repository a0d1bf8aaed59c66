// SPDX-License-Identifier: GPL-2.0-or-later
// An escalation cannot be stopped by a slow disk or missing evidence (issue 10 item 2): the reset
// reason is written on a helper thread and waited for with a deadline; the action follows
// whatever the write does.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <stdexcept>

#include "fakes.h"
#include "stallwatch/escalation/escalation_sink.h"

namespace stallwatch::escalation {
namespace {

using testing::BlockingPersist;
using testing::CapturingJournal;
using testing::field;
using ::testing::HasSubstr;
using testing::TempDir;

constexpr const char* kBoot = "d41d8df6-62be-4b2c-b41d-831125d825bf";

StallEvent escalation_event() {
  StallEvent e;
  e.kind = EventKind::kEscalation;
  e.cpu = 1;
  e.stall_ns = 3'000'000'000;
  e.threshold_ns = 2'000'000'000;
  e.episode = 1;
  return e;
}

struct World {
  TempDir tmp;
  ResetReasonStore store{tmp.path() + "/state"};
  CapturingJournal journal;
  std::vector<std::string> effects;
  EscalationSinkSeams seams(PersistFn persist) {
    EscalationSinkSeams s;
    s.notify = [this](const std::string& state) {
      effects.push_back("notify " + state);
      return 1;
    };
    s.sysrq = [this](char key) -> Status {
      effects.push_back(std::string("sysrq ") + key);
      return Ok{};
    };
    s.realtime_ns = [] { return std::int64_t{1'795'290'000'000'000'000}; };
    s.persist = std::move(persist);
    return s;
  }
  World() {
    journal.on_send = [this](const std::vector<std::string>& f) {
      effects.push_back("journal " + field(f, "PRIORITY"));
    };
  }
};

EscalationSinkSettings settings(EscalationAction action, std::chrono::milliseconds deadline) {
  EscalationSinkSettings s;
  s.action = action;
  s.allow_panic = true;
  s.persist_deadline = deadline;
  return s;
}

TEST(EscalationSinkDeadline, DefaultDeadlineIsOneSecond) {
  EXPECT_EQ(EscalationSinkSettings{}.persist_deadline, std::chrono::milliseconds(1000));
  EXPECT_EQ(EscalationSinkSettings::from(Config{}).persist_deadline,
            std::chrono::milliseconds(1000));
}

TEST(EscalationSinkDeadline, HungStateDiskDelaysSystemdOnlyUntilTheDeadline) {
  World w;
  BlockingPersist disk;
  EscalationSink e(settings(EscalationAction::kSystemd, std::chrono::milliseconds(20)), w.store,
                   w.journal, w.seams(disk.fn()), kBoot, nullptr, nullptr);
  e.fire(escalation_event(), nullptr);  // returns although the write is still blocked
  ASSERT_TRUE(disk.wait_entered());
  EXPECT_EQ(w.effects, (std::vector<std::string>{"notify WATCHDOG=trigger", "journal 1"}));
  EXPECT_TRUE(e.acted());
  EXPECT_EQ(field(w.journal.entries[0], "MESSAGE"),
            "CPU#1 stuck for 3.0s! escalating: action=systemd, class=unknown\nsend "
            "WATCHDOG=trigger to systemd: the unit's watchdog handling and FailureAction= apply; "
            "reset reason NOT saved: " +
                w.store.path() +
                " did not finish within 20 ms (state "
                "disk hung?); acting anyway");
  disk.release();
  EXPECT_TRUE(disk.wait_finished());
}

TEST(EscalationSinkDeadline, HungStateDiskDelaysPanicOnlyUntilTheDeadline) {
  World w;
  BlockingPersist disk;
  EscalationSink e(settings(EscalationAction::kPanic, std::chrono::milliseconds(20)), w.store,
                   w.journal, w.seams(disk.fn()), kBoot, nullptr, nullptr);
  e.fire(escalation_event(), nullptr);
  ASSERT_TRUE(disk.wait_entered());
  EXPECT_EQ(w.effects, (std::vector<std::string>{"sysrq c", "journal 1"}));
  disk.release();
  EXPECT_TRUE(disk.wait_finished());
}

TEST(EscalationSinkDeadline, AFastWriteIsWaitedForAndCounted) {
  World w;
  BlockingPersist disk;
  disk.set_result(std::uint64_t{7});
  disk.release();  // the write completes at once
  EscalationSink e(settings(EscalationAction::kSystemd, BlockingPersist::kBound), w.store,
                   w.journal, w.seams(disk.fn()), kBoot, nullptr, nullptr);
  e.fire(escalation_event(), nullptr);
  EXPECT_EQ(w.effects, (std::vector<std::string>{"notify WATCHDOG=trigger", "journal 1"}));
  EXPECT_EQ(field(w.journal.entries[0], "STALLWATCH_ESCALATIONS_TOTAL"), "7");
  EXPECT_THAT(field(w.journal.entries[0], "MESSAGE"),
              HasSubstr("; reset reason saved to " + w.store.path()));
}

TEST(EscalationSinkDeadline, FailedWriteAndNoEvidenceStillAct) {
  World w;
  EscalationSink e(
      settings(EscalationAction::kSystemd, BlockingPersist::kBound), w.store, w.journal,
      w.seams([](const ResetReason&) -> Result<std::uint64_t> {
        return make_error("/var/lib/stallwatch/reset-reason.json: Read-only file system");
      }),
      kBoot, nullptr, nullptr);
  e.fire(escalation_event(), /*report: evidence failed*/ nullptr);
  EXPECT_EQ(w.effects, (std::vector<std::string>{"notify WATCHDOG=trigger", "journal 1"}));
  EXPECT_THAT(field(w.journal.entries[0], "MESSAGE"),
              HasSubstr("reset reason NOT saved: /var/lib/stallwatch/reset-reason.json: Read-only "
                        "file system"));
}

TEST(EscalationSinkDeadline, ThrowingWriterStillActs) {
  World w;
  EscalationSink e(settings(EscalationAction::kSystemd, BlockingPersist::kBound), w.store,
                   w.journal, w.seams([](const ResetReason&) -> Result<std::uint64_t> {
                     throw std::runtime_error("encoder blew up");
                   }),
                   kBoot, nullptr, nullptr);
  e.fire(escalation_event(), nullptr);
  EXPECT_EQ(w.effects, (std::vector<std::string>{"notify WATCHDOG=trigger", "journal 1"}));
  EXPECT_THAT(field(w.journal.entries[0], "MESSAGE"),
              HasSubstr("reset reason NOT saved: encoder blew up"));
}

TEST(EscalationSinkDeadline, DefaultPersistWritesTheStoreOnTheHelperThread) {
  World w;
  EscalationSinkSeams seams = w.seams(nullptr);
  EscalationSink e(settings(EscalationAction::kSystemd, BlockingPersist::kBound), w.store,
                   w.journal, seams, kBoot, nullptr, nullptr);
  e.fire(escalation_event(), nullptr);
  auto saved = w.store.load();
  ASSERT_TRUE(saved.ok());
  EXPECT_EQ(saved->escalations_total, 1u);
  EXPECT_FALSE(saved->consumed);
  EXPECT_EQ(w.effects, (std::vector<std::string>{"notify WATCHDOG=trigger", "journal 1"}));
}

}  // namespace
}  // namespace stallwatch::escalation
