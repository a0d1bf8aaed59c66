// SPDX-License-Identifier: GPL-2.0-or-later
// Escalator: the EventSink that carries out escalation.action for kEscalation events.
// dry_run: one PRIORITY=4 "would escalate ..." journald event and nothing else. Otherwise, in
// this order: persist and fsync the reset reason (on a helper thread, waited for at most
// settings.persist_deadline: a hung state disk never holds the action back; a reason that
// could not be saved is said in the event), send a PRIORITY=1 journald event, then act —
// watchdog-device: (optionally shorten the timeout, then) stop feeding for good; systemd:
// sd_notify("WATCHDOG=trigger"); panic (only with allow_panic): 'c' to /proc/sysrq-trigger.
// Acts once per daemon lifetime; later escalations are only logged. A drill's escalation (marked
// by the check, StallEvent::drill, or matched here by seams.drill) is never escalated: one
// "escalation skipped: drill" event with STALLWATCH_DRILL=1 instead, nothing persisted, nothing
// done.
// Runs on the report worker thread. Talks to the watchdog through WatchdogDevice (mutexed)
// and FeedPolicy::stop() (atomic), which the checker thread uses concurrently.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "stallwatch/config.h"
#include "stallwatch/escalation/bounded_persist.h"
#include "stallwatch/drill_announcement.h"
#include "stallwatch/escalation/feed_policy.h"
#include "stallwatch/escalation/journal_writer.h"
#include "stallwatch/escalation/reset_reason.h"
#include "stallwatch/escalation/watchdog_device.h"
#include "stallwatch/result.h"
#include "stallwatch/sink.h"
#include "stallwatch/sysroot.h"

namespace stallwatch::escalation {

struct EscalatorSettings {
  EscalationAction action = EscalationAction::kNone;
  bool dry_run = false;
  bool allow_panic = false;
  // watchdog-device: shorten the device timeout to this before it stops being fed
  // (0 = keep the configured timeout). Applied only if shorter than the current timeout.
  int reset_timeout_s = 0;
  // How long the action waits for the reset reason to reach the disk.
  std::chrono::milliseconds persist_deadline = kPersistDeadline;

  static EscalatorSettings from(const Config& config);
};

// The side effects, injectable for tests. Defaults: sd_notify(0, state), writing the byte to
// <sysroot>/proc/sysrq-trigger, clock_gettime(CLOCK_REALTIME); persist: the store's record()
// (on a copy of the store, as it runs on a helper thread that may outlive the Escalator).
// drill: is this escalation's stall an announced `stallwatchctl drill`? (Escalation wires
// find_drill() on <runtime_dir>/drills; empty = never a drill.)
struct EscalatorSeams {
  std::function<int(const std::string& state)> notify;
  PersistFn persist;
  std::function<std::optional<DrillMatch>(const StallEvent&, const StallReport*)> drill;
  std::function<Status(char key)> sysrq;
  std::function<std::int64_t()> realtime_ns;
};
EscalatorSeams default_escalator_seams(const Sysroot& root);

class Escalator final : public EventSink {
 public:
  // device and policy may be null (no hardware watchdog owned). All references must outlive
  // the sink.
  Escalator(EscalatorSettings settings, const ResetReasonStore& store, JournalWriter& journal,
            EscalatorSeams seams, std::string boot_id, WatchdogDevice* device,
            FeedPolicy* policy);

  void fire(const StallEvent& event, const StallReport* report) override;

  bool acted() const { return acted_; }

 private:
  void fire_dry_run(const ResetReason& reason);
  void fire_drill(const ResetReason& reason, const std::optional<DrillMatch>& drill);
  void act(const ResetReason& reason);
  std::string what_would_happen() const;

  EscalatorSettings settings_;
  const ResetReasonStore& store_;
  JournalWriter& journal_;
  EscalatorSeams seams_;
  std::string boot_id_;
  WatchdogDevice* device_;
  FeedPolicy* policy_;
  bool acted_ = false;
};

}  // namespace stallwatch::escalation
