// SPDX-License-Identifier: GPL-2.0-or-later
#include "stallwatch/escalation/escalation_sink.h"

#include <filesystem>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "fakes.h"
#include "stallwatch/core/message_ids.h"

namespace stallwatch::escalation {
namespace {

using testing::CapturingJournal;
using testing::FakeWatchdog;
using testing::FakeWatchdogOps;
using testing::field;
using testing::fixture;
using testing::has_field;
using ::testing::HasSubstr;
using ::testing::StartsWith;
using testing::TempDir;

constexpr const char* kBoot = "d41d8df6-62be-4b2c-b41d-831125d825bf";

StallEvent escalation_event(int cpu = 1) {
  StallEvent e;
  e.kind = EventKind::kEscalation;
  e.cpu = cpu;
  e.stall_ns = 61'300'000'000;
  e.threshold_ns = 2'000'000'000;
  e.episode = 3;
  return e;
}

StallReport spin_report() {
  StallReport r;
  r.stall_class = "kernel-nonpreemptible";
  r.pid = 412;
  r.tid = 412;
  r.comm = "spin";
  return r;
}

// Records every side effect in order.
struct World {
  TempDir tmp;
  ResetReasonStore store{tmp.path() + "/state"};
  CapturingJournal journal;
  std::vector<std::string> effects;
  int notify_rc = 1;
  EscalationSinkSeams seams() {
    EscalationSinkSeams s;
    s.notify = [this](const std::string& state) {
      effects.push_back("notify " + state + persisted());
      return notify_rc;
    };
    s.sysrq = [this](char key) -> Status {
      effects.push_back(std::string("sysrq ") + key + persisted());
      return Ok{};
    };
    s.realtime_ns = [] { return std::int64_t{1'795'290'000'000'000'000}; };
    return s;
  }
  // " [persisted]" when the reset reason is on disk and unconsumed.
  std::string persisted() const {
    auto f = store.load();
    return f.ok() && f->last && !f->consumed ? " [persisted]" : "";
  }
  World() {
    journal.on_send = [this](const std::vector<std::string>& f) {
      effects.push_back("journal " + field(f, "PRIORITY") + persisted());
    };
  }
};

EscalationSinkSettings esc(EscalationAction action, bool dry_run = false,
                           bool allow_panic = false) {
  EscalationSinkSettings s;
  s.action = action;
  s.dry_run = dry_run;
  s.allow_panic = allow_panic;
  return s;
}

struct ArmedDevice {
  Sysroot root{fixture("qemu-6.1-watchdogs")};
  FakeWatchdog dev;
  FakeWatchdogOps ops{dev};
  WatchdogDevice wd;
  FeedPolicy policy;
  ArmedDevice()
      : wd(root, ops,
           [] {
             WatchdogSettings s;
             s.device = "/dev/watchdog0";
             s.timeout_s = 30;
             return s;
           }()),
        policy([] {
          FeedPolicySettings s;
          s.stop_on_escalation = true;
          s.escalation_grace_ns = 3'000'000'000;
          return s;
        }()) {
    Status st = wd.arm();
    if (!st.ok()) ADD_FAILURE() << st.error().message;
    dev.calls.clear();
  }
};

TEST(EscalationSink, DryRunOnlySaysWhatItWouldDo) {
  World w;
  ArmedDevice d;
  EscalationSink e(esc(EscalationAction::kWatchdogDevice, /*dry_run=*/true), w.store, w.journal,
                   w.seams(), kBoot, &d.wd, &d.policy);
  StallReport rep = spin_report();
  e.fire(escalation_event(), &rep);

  ASSERT_EQ(w.journal.entries.size(), 1u);
  const auto& f = w.journal.entries[0];
  EXPECT_EQ(field(f, "PRIORITY"), "4");
  EXPECT_EQ(field(f, "MESSAGE_ID"), message_id::kEscalationDryRun);
  EXPECT_EQ(field(f, "STALLWATCH_EVENT"), "escalation");
  EXPECT_EQ(field(f, "STALLWATCH_DRY_RUN"), "1");
  EXPECT_EQ(field(f, "STALLWATCH_CPU"), "1");
  EXPECT_EQ(field(f, "STALLWATCH_ACTION"), "watchdog-device");
  EXPECT_EQ(field(f, "MESSAGE"),
            "would escalate: CPU#1 stuck for 61s! [spin:412] class=kernel-nonpreemptible, "
            "action=watchdog-device\ndry_run: would write the reset reason to " +
                w.store.path() +
                " and stop feeding /dev/watchdog0: the hardware resets the machine within 30s; "
                "nothing was done");
  // And nothing else: no file, feeding continues, no ioctl, no notify, no sysrq.
  EXPECT_FALSE(std::filesystem::exists(w.store.path()));
  EXPECT_FALSE(d.policy.stopped());
  EXPECT_TRUE(d.dev.calls.empty());
  EXPECT_EQ(w.effects, std::vector<std::string>{"journal 4"});
  EXPECT_FALSE(e.acted());
  // Every episode's escalation is reported in dry run.
  e.fire(escalation_event(0), nullptr);
  EXPECT_EQ(w.journal.entries.size(), 2u);
}

TEST(EscalationSink, DryRunSystemdAndPanicDoNothing) {
  for (auto action : {EscalationAction::kSystemd, EscalationAction::kPanic}) {
    World w;
    EscalationSink e(esc(action, true, true), w.store, w.journal, w.seams(), kBoot, nullptr,
                     nullptr);
    e.fire(escalation_event(), nullptr);
    EXPECT_EQ(w.effects, std::vector<std::string>{"journal 4"});
    EXPECT_THAT(field(w.journal.entries[0], "MESSAGE"), StartsWith("would escalate: CPU#1"));
  }
}

TEST(EscalationSink, IgnoresOtherEvents) {
  World w;
  EscalationSink e(esc(EscalationAction::kSystemd), w.store, w.journal, w.seams(), kBoot, nullptr,
                   nullptr);
  for (auto kind :
       {EventKind::kStall, EventKind::kOngoing, EventKind::kRecovered, EventKind::kGlobalPause}) {
    StallEvent ev = escalation_event();
    ev.kind = kind;
    e.fire(ev, nullptr);
  }
  EXPECT_TRUE(w.effects.empty());
}

// Issue 19: the action is taken first (after the bounded persist), the journald event follows:
// journald may be what is stuck behind the stalled CPU.
TEST(EscalationSink, WatchdogDevicePersistsThenStopsFeedingThenLogs) {
  World w;
  ArmedDevice d;
  EscalationSink e(esc(EscalationAction::kWatchdogDevice), w.store, w.journal, w.seams(), kBoot,
                   &d.wd, &d.policy);
  // The feeding has stopped by the time the journal event goes out.
  w.journal.on_send = [&](const std::vector<std::string>& f) {
    w.effects.push_back("journal " + field(f, "PRIORITY") + w.persisted() +
                        (d.policy.stopped() ? " [stopped]" : ""));
  };
  StallReport rep = spin_report();
  e.fire(escalation_event(), &rep);

  EXPECT_EQ(w.effects, std::vector<std::string>{"journal 1 [persisted] [stopped]"});
  EXPECT_TRUE(d.policy.stopped());
  EXPECT_EQ(d.policy.on_tick(100'000'000'000, true), FeedDecision::kStopped);
  EXPECT_TRUE(d.dev.calls.empty()) << "never the magic 'V', no ioctl without reset_timeout_s";
  EXPECT_TRUE(e.acted());

  const auto& f = w.journal.entries[0];
  EXPECT_EQ(field(f, "MESSAGE_ID"), message_id::kEscalation);
  EXPECT_EQ(field(f, "STALLWATCH_EVENT"), "escalation");
  EXPECT_EQ(field(f, "STALLWATCH_CPU"), "1");
  EXPECT_EQ(field(f, "STALLWATCH_ACTION"), "watchdog-device");
  EXPECT_EQ(field(f, "STALLWATCH_STALL_MS"), "61300");
  EXPECT_EQ(field(f, "STALLWATCH_CLASS"), "kernel-nonpreemptible");
  EXPECT_EQ(field(f, "STALLWATCH_TID"), "412");
  EXPECT_EQ(field(f, "STALLWATCH_COMM"), "spin");
  EXPECT_EQ(field(f, "STALLWATCH_EPISODE"), "3");
  EXPECT_EQ(field(f, "STALLWATCH_DRY_RUN"), "0");
  EXPECT_EQ(field(f, "STALLWATCH_ESCALATIONS_TOTAL"), "1");
  EXPECT_EQ(field(f, "STALLWATCH_WATCHDOG_DEVICE"), "/dev/watchdog0");
  EXPECT_EQ(field(f, "STALLWATCH_WATCHDOG_TIMEOUT_S"), "30");
  EXPECT_EQ(field(f, "MESSAGE"),
            "CPU#1 stuck for 61s! [spin:412] escalating: action=watchdog-device, "
            "class=kernel-nonpreemptible\nstop feeding /dev/watchdog0: the hardware resets the "
            "machine within 30s; reset reason saved to " +
                w.store.path());

  auto saved = w.store.load();
  ASSERT_TRUE(saved.ok());
  EXPECT_EQ(saved->escalations_total, 1u);
  EXPECT_FALSE(saved->consumed);
  EXPECT_EQ(describe_reset_reason(*saved->last),
            "CPU#1 stuck for 61s [spin:412] class=kernel-nonpreemptible, action=watchdog-device");
  EXPECT_EQ(saved->last->boot_id, kBoot);
  EXPECT_EQ(saved->last->time_realtime_ns, 1'795'290'000'000'000'000);
}

TEST(EscalationSink, WatchdogDeviceCanShortenTheTimeoutFirst) {
  World w;
  ArmedDevice d;
  EscalationSinkSettings s = esc(EscalationAction::kWatchdogDevice);
  s.reset_timeout_s = 5;
  EscalationSink e(s, w.store, w.journal, w.seams(), kBoot, &d.wd, &d.policy);
  e.fire(escalation_event(), nullptr);
  EXPECT_EQ(d.dev.calls, (std::vector<std::string>{"SETTIMEOUT 5", "GETTIMEOUT"}));
  EXPECT_EQ(d.dev.timeout, 5);
  EXPECT_TRUE(d.policy.stopped());
  EXPECT_THAT(field(w.journal.entries[0], "MESSAGE"),
              HasSubstr("shorten the timeout of /dev/watchdog0 to 5s and stop feeding it"));
}

TEST(EscalationSink, WatchdogDeviceWithoutArmedDeviceFailsLoudly) {
  World w;
  EscalationSink e(esc(EscalationAction::kWatchdogDevice), w.store, w.journal, w.seams(), kBoot,
                   nullptr, nullptr);
  e.fire(escalation_event(), nullptr);
  ASSERT_EQ(w.journal.entries.size(), 2u);
  EXPECT_EQ(field(w.journal.entries[1], "PRIORITY"), "2");
  EXPECT_EQ(field(w.journal.entries[1], "STALLWATCH_EVENT"), "escalation-failed");
  EXPECT_THAT(field(w.journal.entries[1], "MESSAGE"), HasSubstr("no hardware watchdog is armed"));
}

TEST(EscalationSink, SystemdTriggersAfterPersisting) {
  World w;
  EscalationSink e(esc(EscalationAction::kSystemd), w.store, w.journal, w.seams(), kBoot, nullptr,
                   nullptr);
  StallReport rep = spin_report();
  e.fire(escalation_event(), &rep);
  EXPECT_EQ(w.effects, (std::vector<std::string>{"notify WATCHDOG=trigger [persisted]",
                                                 "journal 1 [persisted]"}));
  EXPECT_EQ(field(w.journal.entries[0], "STALLWATCH_ACTION"), "systemd");
  EXPECT_FALSE(has_field(w.journal.entries[0], "STALLWATCH_WATCHDOG_DEVICE"));
}

TEST(EscalationSink, SystemdWithoutNotifySocketIsAFailureEvent) {
  World w;
  w.notify_rc = 0;
  EscalationSink e(esc(EscalationAction::kSystemd), w.store, w.journal, w.seams(), kBoot, nullptr,
                   nullptr);
  e.fire(escalation_event(), nullptr);
  ASSERT_EQ(w.journal.entries.size(), 2u);
  EXPECT_THAT(field(w.journal.entries[1], "MESSAGE"),
              HasSubstr("WATCHDOG=trigger not sent: not running under systemd (NOTIFY_SOCKET "
                        "unset)"));
}

TEST(EscalationSink, PanicWritesCToSysrqAfterPersisting) {
  World w;
  EscalationSink e(esc(EscalationAction::kPanic, false, /*allow_panic=*/true), w.store, w.journal,
                   w.seams(), kBoot, nullptr, nullptr);
  e.fire(escalation_event(), nullptr);
  EXPECT_EQ(w.effects, (std::vector<std::string>{"sysrq c [persisted]", "journal 1 [persisted]"}));
}

TEST(EscalationSink, PanicThroughTheDefaultSeamWritesTheSysrootFile) {
  World w;
  w.tmp.write("root/proc/sysrq-trigger", "");
  Sysroot root(w.tmp.path() + "/root");
  EscalationSinkSeams seams = default_escalation_sink_seams(root);
  seams.realtime_ns = [] { return std::int64_t{1}; };
  EscalationSink e(esc(EscalationAction::kPanic, false, true), w.store, w.journal, seams, kBoot,
                   nullptr, nullptr);
  e.fire(escalation_event(), nullptr);
  EXPECT_EQ(w.tmp.read("root/proc/sysrq-trigger"), "c");
}

TEST(EscalationSink, PanicWithoutAllowPanicDoesNothingButComplain) {
  World w;
  EscalationSink e(esc(EscalationAction::kPanic, false, /*allow_panic=*/false), w.store, w.journal,
                   w.seams(), kBoot, nullptr, nullptr);
  e.fire(escalation_event(), nullptr);
  EXPECT_EQ(w.effects, std::vector<std::string>{"journal 2"});
  EXPECT_FALSE(std::filesystem::exists(w.store.path()));
  EXPECT_THAT(field(w.journal.entries[0], "MESSAGE"), HasSubstr("requires escalation.allow_panic"));
}

TEST(EscalationSink, ActsOnlyOnce) {
  World w;
  EscalationSink e(esc(EscalationAction::kSystemd), w.store, w.journal, w.seams(), kBoot, nullptr,
                   nullptr);
  e.fire(escalation_event(1), nullptr);
  e.fire(escalation_event(0), nullptr);
  EXPECT_EQ(w.effects.size(), 2u);  // one journal event, one notify
  EXPECT_EQ(w.store.load()->escalations_total, 1u);
}

TEST(EscalationSink, UnknownCulpritIsRecordedAsUnknown) {
  World w;
  EscalationSink e(esc(EscalationAction::kSystemd), w.store, w.journal, w.seams(), kBoot, nullptr,
                   nullptr);
  e.fire(escalation_event(), nullptr);
  EXPECT_EQ(describe_reset_reason(*w.store.load()->last),
            "CPU#1 stuck for 61s [unknown] class=unknown, action=systemd");
  EXPECT_THAT(field(w.journal.entries[0], "MESSAGE"),
              StartsWith("CPU#1 stuck for 61s! escalating"));
  EXPECT_FALSE(has_field(w.journal.entries[0], "STALLWATCH_TID"));
}

TEST(EscalationSink, StillActsWhenTheReasonCannotBeSaved) {
  World w;
  w.tmp.write("file", "x");
  ResetReasonStore bad(w.tmp.path() + "/file/state");
  EscalationSink e(esc(EscalationAction::kSystemd), bad, w.journal, w.seams(), kBoot, nullptr,
                   nullptr);
  e.fire(escalation_event(), nullptr);
  ASSERT_EQ(w.effects.size(), 2u);
  EXPECT_THAT(w.effects[0], StartsWith("notify WATCHDOG=trigger"));
  EXPECT_THAT(field(w.journal.entries[0], "MESSAGE"),
              HasSubstr("reset reason NOT saved: cannot create"));
  EXPECT_FALSE(has_field(w.journal.entries[0], "STALLWATCH_ESCALATIONS_TOTAL"));
}

TEST(EscalationSink, ActionNoneIsSilent) {
  World w;
  EscalationSink e(esc(EscalationAction::kNone), w.store, w.journal, w.seams(), kBoot, nullptr,
                   nullptr);
  e.fire(escalation_event(), nullptr);
  EXPECT_TRUE(w.effects.empty());
}

TEST(EscalationSinkSettingsFrom, CopiesTheConfig) {
  Config c;
  c.escalation.action = EscalationAction::kPanic;
  c.escalation.dry_run = true;
  c.escalation.allow_panic = true;
  EscalationSinkSettings s = EscalationSinkSettings::from(c);
  EXPECT_EQ(s.action, EscalationAction::kPanic);
  EXPECT_TRUE(s.dry_run);
  EXPECT_TRUE(s.allow_panic);
  EXPECT_EQ(s.reset_timeout_s, 0);
  EXPECT_EQ(to_string(EscalationAction::kWatchdogDevice), "watchdog-device");
}

}  // namespace
}  // namespace stallwatch::escalation
