// SPDX-License-Identifier: GPL-2.0-or-later
#include "stallwatch/escalation/escalation_control.h"
#include <sys/stat.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "fakes.h"
#include "stallwatch/core/message_ids.h"

namespace stallwatch::escalation {
namespace {

using testing::CapturingJournal;
using ::testing::ElementsAre;
using testing::FakeWatchdog;
using testing::FakeWatchdogOps;
using testing::field;
using testing::fixture;
using ::testing::HasSubstr;
using testing::TempDir;

constexpr std::int64_t kS = 1'000'000'000;
constexpr std::int64_t kMs = 1'000'000;
constexpr const char* kThisBoot = "d41d8df6-62be-4b2c-b41d-831125d825bf";  // the fixture's

class EscalationTest : public ::testing::Test {
 protected:
  EscalationTest() {
    config_.daemon.state_dir = tmp_.path() + "/state";
    config_.watchdog.device = "/dev/watchdog0";
    config_.watchdog.timeout = std::chrono::seconds(30);
    config_.escalation.action = EscalationAction::kWatchdogDevice;
    config_.escalation.after = std::chrono::seconds(20);
  }

  std::unique_ptr<EscalationControl> make() {
    EscalationControlSeams seams;
    seams.ops = std::make_unique<FakeWatchdogOps>(dev_);
    auto journal = std::make_unique<CapturingJournal>();
    journal_ = journal.get();
    seams.journal = std::move(journal);
    seams.sink.notify = [this](const std::string& s) {
      notified_.push_back(s);
      return 1;
    };
    seams.sink.sysrq = [](char) -> Status { return make_error("not in tests"); };
    seams.sink.realtime_ns = [] { return std::int64_t{1'795'290'000'000'000'000}; };
    if (clock_) seams.mono_ns = clock_;
    return std::make_unique<EscalationControl>(config_, root_, std::move(seams));
  }

  StallEvent escalation_event() {
    StallEvent e;
    e.kind = EventKind::kEscalation;
    e.cpu = 1;
    e.stall_ns = 61 * kS;
    return e;
  }

  TempDir tmp_;
  Sysroot root_{fixture("qemu-6.1-watchdogs")};
  Config config_;
  FakeWatchdog dev_;
  CapturingJournal* journal_ = nullptr;
  std::vector<std::string> notified_;
  std::function<std::int64_t()> clock_;  // empty: the real CLOCK_MONOTONIC
};

TEST_F(EscalationTest, StartArmsAndTicksFeedAtATimeoutThird) {
  auto esc = make();
  ASSERT_TRUE(esc->start(0).ok());
  EXPECT_EQ(esc->boot_id(), kThisBoot);
  ASSERT_NE(esc->device(), nullptr);
  EXPECT_TRUE(esc->device()->armed());
  EXPECT_TRUE(journal_->entries.empty());  // nothing to report about the previous boot
  int pings_after_arm = dev_.pings;
  for (std::int64_t t = 100 * kMs; t <= 60 * kS; t += 100 * kMs) esc->on_tick(t, true);
  // 60 s of ticks with a 30 s timeout: a feed every ~10 s.
  EXPECT_EQ(dev_.pings - pings_after_arm, 6);
  esc->shutdown();
  EXPECT_FALSE(dev_.running);
}

TEST_F(EscalationTest, UnhealthyCheckerStopsTheFeeding) {
  auto esc = make();
  ASSERT_TRUE(esc->start(0).ok());
  int pings = dev_.pings;
  for (std::int64_t t = 100 * kMs; t <= 60 * kS; t += 100 * kMs) esc->on_tick(t, false);
  EXPECT_EQ(dev_.pings, pings);
}

TEST_F(EscalationTest, ShutdownDisarmsCleanly) {
  auto esc = make();
  ASSERT_TRUE(esc->start(0).ok());
  dev_.calls.clear();
  esc->shutdown();
  EXPECT_THAT(dev_.calls, ElementsAre("SETOPTIONS DISABLECARD", "write 'V'", "close"));
  EXPECT_FALSE(dev_.running);
  esc->shutdown();  // idempotent
  EXPECT_EQ(dev_.calls.size(), 3u);
}

TEST_F(EscalationTest, EscalationStopsFeedingAndShutdownLeavesTheResetDue) {
  auto esc = make();
  ASSERT_TRUE(esc->start(0).ok());
  auto sink = esc->make_sink();
  esc->on_tick(10 * kS, true);
  sink->fire(escalation_event(), nullptr);
  int pings = dev_.pings;
  dev_.calls.clear();
  for (std::int64_t t = 10 * kS; t <= 60 * kS; t += 100 * kMs) esc->on_tick(t, true);
  EXPECT_EQ(dev_.pings, pings);
  EXPECT_TRUE(dev_.calls.empty());
  esc->shutdown();  // SIGTERM after the escalation: no disarm, no magic close
  EXPECT_THAT(dev_.calls, ElementsAre("close"));
  EXPECT_TRUE(dev_.running);
  EXPECT_TRUE(dev_.ran_on_after_close);
  EXPECT_EQ(field(journal_->entries.at(0), "PRIORITY"), "1");
}

// The check marked the escalation a drill (it knew the announcement): the sink skips it for
// good, with no announcement file left to match (the drill's files are gone by then), the device
// stays fed through the drill plus the timeout, and stop disarms it cleanly.
TEST_F(EscalationTest, AnEscalationTheCheckMarkedDrillIsNeverActedOn) {
  auto esc = make();
  ASSERT_TRUE(esc->start(0).ok());
  auto sink = esc->make_sink();
  StallEvent e = escalation_event();
  e.drill = true;
  sink->fire(e, nullptr);
  const int pings = dev_.pings;
  for (std::int64_t t = 10 * kS; t <= 10 * kS + 20 * kS + 30 * kS + 3 * kS; t += 100 * kMs)
    esc->on_tick(t, true);
  EXPECT_GT(dev_.pings, pings + 5);
  EXPECT_FALSE(esc->policy()->stopped());
  ASSERT_FALSE(journal_->entries.empty());
  EXPECT_EQ(field(journal_->entries.back(), "STALLWATCH_DRILL"), "1");
  EXPECT_THAT(field(journal_->entries.back(), "MESSAGE"), HasSubstr("escalation skipped: drill"));
  esc->shutdown();
  EXPECT_FALSE(dev_.running) << "disarmed with the magic close";
}

TEST_F(EscalationTest, ResetTimeoutShortensTheDeviceWhenEscalating) {
  auto esc = make();
  ASSERT_TRUE(esc->start(0).ok());
  esc->set_reset_timeout(5);
  auto sink = esc->make_sink();
  dev_.calls.clear();
  sink->fire(escalation_event(), nullptr);
  EXPECT_THAT(dev_.calls, ElementsAre("SETTIMEOUT 5", "GETTIMEOUT"));
  EXPECT_EQ(dev_.timeout, 5);
  EXPECT_TRUE(esc->policy()->stopped());
}

TEST_F(EscalationTest, EscalationDueOnTheCheckerThreadStopsFeedingAfterTheGrace) {
  auto esc = make();
  ASSERT_TRUE(esc->start(0).ok());
  // The report worker is wedged: the sink never runs. The checker still stops feeding.
  esc->on_escalation_due(20 * kS);
  int pings = dev_.pings;
  for (std::int64_t t = 20 * kS; t <= 80 * kS; t += 100 * kMs) esc->on_tick(t, true);
  // Fed at most once more, during the grace (budget 1 s + 2 s).
  EXPECT_LE(dev_.pings - pings, 1);
  EXPECT_TRUE(esc->policy()->stopped());
  dev_.calls.clear();
  esc->shutdown();
  EXPECT_THAT(dev_.calls, ElementsAre("close"));
}

TEST_F(EscalationTest, DryRunKeepsFeedingAndDisarmsAtStop) {
  config_.escalation.dry_run = true;
  auto esc = make();
  ASSERT_TRUE(esc->start(0).ok());
  auto sink = esc->make_sink();
  esc->on_escalation_due(20 * kS);
  sink->fire(escalation_event(), nullptr);
  int pings = dev_.pings;
  for (std::int64_t t = 20 * kS; t <= 80 * kS; t += 100 * kMs) esc->on_tick(t, true);
  // Fed at 20 s (20 s after the arm), then every 9.9 s: 29.9 ... 79.4.
  EXPECT_EQ(dev_.pings - pings, 7);
  ASSERT_EQ(journal_->entries.size(), 1u);
  EXPECT_EQ(field(journal_->entries[0], "MESSAGE_ID"), message_id::kEscalationDryRun);
  esc->shutdown();
  EXPECT_FALSE(dev_.running);
}

TEST_F(EscalationTest, EbusyFailsStartButStillReportsThePreviousBoot) {
  dev_.busy = true;
  ResetReason r;
  r.boot_id = "0c5a2f3e-8b44-4f5e-9a0e-1d2b3c4d5e6f";
  r.cpu = 1;
  r.stall_ns = 61 * kS;
  r.stall_class = "kernel-nonpreemptible";
  r.culprit_comm = "spin";
  r.culprit_pid = 412;
  r.action = "watchdog-device";
  ASSERT_TRUE(ResetReasonStore(config_.daemon.state_dir).record(r).ok());
  auto esc = make();
  Status st = esc->start(0);
  ASSERT_FALSE(st.ok());
  EXPECT_THAT(st.error().message, HasSubstr("RuntimeWatchdogSec"));
  ASSERT_EQ(journal_->entries.size(), 1u);
  EXPECT_EQ(field(journal_->entries[0], "MESSAGE_ID"), message_id::kPreviousBoot);
  esc->on_tick(10 * kS, true);  // harmless
  esc->shutdown();
}

TEST_F(EscalationTest, PreviousBootIsReportedOnceThenConsumed) {
  ResetReason r;
  r.time_realtime_ns = 1'795'290'000'000'000'000;
  r.boot_id = "0c5a2f3e-8b44-4f5e-9a0e-1d2b3c4d5e6f";
  r.cpu = 1;
  r.stall_ns = 61 * kS;
  r.stall_class = "kernel-nonpreemptible";
  r.culprit_comm = "spin";
  r.culprit_pid = 412;
  r.action = "watchdog-device";
  ASSERT_TRUE(ResetReasonStore(config_.daemon.state_dir).record(r).ok());
  dev_.bootstatus = WDIOF_CARDRESET;
  {
    auto esc = make();
    ASSERT_TRUE(esc->start(0).ok());
    ASSERT_EQ(journal_->entries.size(), 1u);
    const auto& f = journal_->entries[0];
    EXPECT_EQ(field(f, "MESSAGE_ID"), message_id::kPreviousBoot);
    EXPECT_EQ(field(f, "PRIORITY"), "4");
    EXPECT_EQ(field(f, "STALLWATCH_EVENT"), "previous-boot");
    EXPECT_EQ(field(f, "STALLWATCH_PREVIOUS_BOOT_CAUSE"), "stallwatch-escalation");
    EXPECT_EQ(field(f, "STALLWATCH_CPU"), "1");
    EXPECT_EQ(field(f, "STALLWATCH_ACTION"), "watchdog-device");
    EXPECT_EQ(field(f, "STALLWATCH_WATCHDOG_BOOTSTATUS"), "0x20");
    EXPECT_EQ(field(f, "STALLWATCH_ESCALATION_BOOT_ID"), r.boot_id);
    std::string message = field(f, "MESSAGE");
    EXPECT_EQ(message.substr(0, message.find('\n')),
              "previous boot ended by stallwatch escalation: CPU#1 stuck for 61s [spin:412] "
              "class=kernel-nonpreemptible, action=watchdog-device");
    auto saved = esc->store().load();
    ASSERT_TRUE(saved.ok());
    EXPECT_TRUE(saved->consumed);
    EXPECT_EQ(saved->reported_boot_id, kThisBoot);
    esc->shutdown();
  }
  {
    auto again = make();  // a daemon restart in the same boot
    ASSERT_TRUE(again->start(0).ok());
    EXPECT_TRUE(journal_->entries.empty());
    again->shutdown();
  }
}

TEST_F(EscalationTest, NowayoutIsSaidAtStartAndAtStop) {
  config_.watchdog.device = "/dev/watchdog1";  // softdog nowayout=1 in the fixture
  config_.watchdog.timeout = std::chrono::seconds(60);
  dev_.nowayout = true;
  auto esc = make();
  ASSERT_TRUE(esc->start(0).ok());
  ASSERT_EQ(journal_->entries.size(), 1u);
  EXPECT_EQ(field(journal_->entries[0], "MESSAGE_ID"), message_id::kWatchdogNotice);
  EXPECT_THAT(field(journal_->entries[0], "MESSAGE"),
              HasSubstr("/dev/watchdog1 has nowayout set: it cannot be disarmed"));
  esc->shutdown();
  ASSERT_EQ(journal_->entries.size(), 2u);
  EXPECT_EQ(field(journal_->entries[1], "PRIORITY"), "3");
  EXPECT_THAT(field(journal_->entries[1], "MESSAGE"), HasSubstr("cannot be disarmed"));
  EXPECT_TRUE(dev_.running);
}

TEST_F(EscalationTest, WithoutADeviceOnlyTheSinkMatters) {
  config_.watchdog.device = "";
  config_.escalation.action = EscalationAction::kSystemd;
  auto esc = make();
  ASSERT_TRUE(esc->start(0).ok());
  EXPECT_EQ(esc->device(), nullptr);
  esc->on_tick(10 * kS, true);
  esc->on_escalation_due(10 * kS);
  auto sink = esc->make_sink();
  sink->fire(escalation_event(), nullptr);
  EXPECT_EQ(notified_, std::vector<std::string>{"WATCHDOG=trigger"});
  EXPECT_TRUE(dev_.calls.empty());
  esc->shutdown();
}

TEST_F(EscalationTest, UntrustedStateOrRuntimeDirectoryFailsStartBeforeArming) {
  tmp_.write("state/keep", "");
  const std::string state = tmp_.path() + "/state";
  ASSERT_EQ(::chmod(state.c_str(), 0777), 0);
  auto esc = make();
  Status st = esc->start(0);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().message,
            "daemon.state_dir: " + state +
                " is writable by group or others (mode 0777); another "
                "user could plant or replace the files stallwatchd trusts there: run `chmod go-w " +
                state + "`");
  EXPECT_TRUE(dev_.calls.empty()) << "nothing armed";

  ASSERT_EQ(::chmod(state.c_str(), 0750), 0);
  tmp_.write("run/keep", "");
  config_.daemon.runtime_dir = tmp_.path() + "/run";
  ASSERT_EQ(::chmod(config_.daemon.runtime_dir.c_str(), 0775), 0);
  auto esc2 = make();
  st = esc2->start(0);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().message.substr(0, 20), "daemon.runtime_dir: ");
  EXPECT_TRUE(dev_.calls.empty());
}

}  // namespace
}  // namespace stallwatch::escalation

namespace stallwatch::escalation {
namespace {

// Issue 19: the escalation is taken by take_now() (the daemon's sw-escalate thread, as soon as
// the check finds it due) while the report worker is blocked (evidence, a journald that stopped
// reading): nothing is journalled on the way. The event the worker sends later reports the
// action once, with the class its report found, and never acts a second time.
TEST_F(EscalationTest, TakenWhileTheReportWorkerIsBlockedAndReportedAfter) {
  config_.watchdog.device = "";
  config_.escalation.action = EscalationAction::kSystemd;
  auto esc = make();
  ASSERT_TRUE(esc->start(0).ok());
  EXPECT_TRUE(esc->acts());
  auto sink = esc->make_sink();
  const std::size_t journalled = journal_->entries.size();
  ASSERT_TRUE(esc->take_now(escalation_event()));
  EXPECT_EQ(notified_, std::vector<std::string>{"WATCHDOG=trigger"});
  EXPECT_EQ(journal_->entries.size(), journalled) << "nothing waits for journald before the act";
  ASSERT_TRUE(esc->store().load().ok());
  EXPECT_FALSE(esc->take_now(escalation_event())) << "once per lifetime";

  StallReport rep;
  rep.stall_class = "rt-hog";
  rep.comm = "spin";
  rep.pid = rep.tid = 412;
  sink->fire(escalation_event(), &rep);
  EXPECT_EQ(notified_, std::vector<std::string>{"WATCHDOG=trigger"});
  ASSERT_EQ(journal_->entries.size(), journalled + 1);
  const auto& f = journal_->entries.back();
  EXPECT_EQ(field(f, "PRIORITY"), "1");
  EXPECT_THAT(field(f, "MESSAGE"), HasSubstr("escalating: action=systemd, class=rt-hog"));
  EXPECT_THAT(field(f, "MESSAGE"), HasSubstr("reset reason saved to"));
  esc->shutdown();
}

TEST_F(EscalationTest, DryRunAndNoneNeedNoActor) {
  config_.escalation.dry_run = true;
  EXPECT_FALSE(make()->acts());
  config_.escalation.dry_run = false;
  config_.escalation.action = EscalationAction::kNone;
  EXPECT_FALSE(make()->acts());
}

}  // namespace
}  // namespace stallwatch::escalation

namespace stallwatch::escalation {
namespace {

// Issue 19, item 3: who feeds is measured at start. A keepalive that returns at once (i6300esb,
// iTCO_wdt, softdog) is fed by the check itself; one that sleeps (ipmi_watchdog waits for the
// BMC) by the feeder thread.
TEST_F(EscalationTest, AFastKeepaliveIsFedByTheCheckASlowOneByTheFeeder) {
  // The clock the keepalive is timed with advances `step` a read: each timed call takes `step`.
  std::int64_t now = 0, step = 8'000;  // 8 us: i6300esb, iTCO_wdt
  clock_ = [&] { return now += step; };
  auto fast = make();
  ASSERT_TRUE(fast->start(0).ok());
  EXPECT_TRUE(fast->direct_feed());
  EXPECT_EQ(fast->keepalive_ns(), 8'000);
  const int pings = dev_.pings;
  EXPECT_TRUE(fast->feed_device());
  EXPECT_EQ(dev_.pings, pings + 1);
  fast->shutdown();

  dev_ = FakeWatchdog{};
  step = 2'000'000;  // 2 ms: ipmi_watchdog waiting for the BMC
  auto slow = make();
  ASSERT_TRUE(slow->start(0).ok());
  EXPECT_FALSE(slow->direct_feed());
  EXPECT_EQ(slow->keepalive_ns(), 2'000'000);
  slow->shutdown();
}

}  // namespace
}  // namespace stallwatch::escalation
