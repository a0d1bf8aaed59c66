// SPDX-License-Identifier: GPL-2.0-or-later
// EscalationSink: the EventSink that carries out escalation.action for kEscalation events.
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
// Taking the action and reporting it are apart (issue 19): take() persists the reason (bounded)
// and acts, with no journald write on the way; the daemon's escalation actor (sw-escalate) calls
// it as soon as the check finds the escalation due, whatever the report worker is doing. fire()
// on the report worker, when the escalation event gets there after its evidence, takes the
// action only if nobody has (no actor wired, in tests), then sends the event with the outcome.
// Threads: take() from the actor, fire() from the report worker, concurrently (a mutex guards
// the once-per-lifetime state; neither holds it across the persist or the act). Talks to the
// watchdog through WatchdogDevice (mutexed) and FeedPolicy::stop() (atomic), which the check
// uses concurrently.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>

#include "stallwatch/core/config.h"
#include "stallwatch/core/drill_announcement.h"
#include "stallwatch/core/journal_writer.h"
#include "stallwatch/core/result.h"
#include "stallwatch/core/sink.h"
#include "stallwatch/core/sysroot.h"
#include "stallwatch/escalation/bounded_persist.h"
#include "stallwatch/escalation/feed_policy.h"
#include "stallwatch/escalation/reset_reason.h"
#include "stallwatch/escalation/watchdog_device.h"

namespace stallwatch::escalation {

struct EscalationSinkSettings {
  EscalationAction action = EscalationAction::kNone;
  bool dry_run = false;
  bool allow_panic = false;
  // watchdog-device: shorten the device timeout to this before it stops being fed
  // (0 = keep the configured timeout). Applied only if shorter than the current timeout.
  int reset_timeout_s = 0;
  // How long the action waits for the reset reason to reach the disk.
  std::chrono::milliseconds persist_deadline = kPersistDeadline;

  static EscalationSinkSettings from(const Config& config);
};

// The side effects, injectable for tests. Defaults: notify_service_manager(state) (the
// sd_notify protocol, core/systemd_notify.h), writing the byte to
// <sysroot>/proc/sysrq-trigger, clock_gettime(CLOCK_REALTIME); persist: the store's record()
// (on a copy of the store, as it runs on a helper thread that may outlive the EscalationSink).
// drill: is this escalation's stall an announced `stallwatchctl drill`? (EscalationControl wires
// find_drill() on <runtime_dir>/drills; empty = never a drill.)
struct EscalationSinkSeams {
  std::function<int(const std::string& state)> notify;
  PersistFn persist;
  std::function<std::optional<DrillMatch>(const StallEvent&, const StallReport*)> drill;
  std::function<Status(char key)> sysrq;
  std::function<std::int64_t()> realtime_ns;
};
EscalationSinkSeams default_escalation_sink_seams(const Sysroot& root);

class EscalationSink final : public EventSink {
 public:
  // device and policy may be null (no hardware watchdog owned). All references must outlive
  // the sink.
  EscalationSink(EscalationSinkSettings settings, const ResetReasonStore& store,
                 JournalWriter& journal, EscalationSinkSeams seams, std::string boot_id,
                 WatchdogDevice* device, FeedPolicy* policy);

  void fire(const StallEvent& event, const StallReport* report) override;

  // Persist the reason (bounded) and act, once per lifetime; no journald write. False when the
  // action was taken (or is being taken) already, or is none/dry-run. The class and culprit
  // come from the latest report of that CPU's episode if the report worker has one yet.
  bool take(const StallEvent& event, const StallReport* report = nullptr);
  bool acted() const;

 private:
  struct Outcome {
    bool done = false;
    std::uint64_t total = 0;
    std::string plan;  // what_would_happen(), before acting
    std::string persisted;
    std::string failure;      // the action could not be taken
    bool journalled = false;  // its event went to journald before the act (try_send)
  };
  struct Seen {
    std::uint64_t episode = 0;
    std::string stall_class, comm;
    int pid = 0;
  };
  ResetReason reason_for(const StallEvent& event, const StallReport* report) const;
  void fire_dry_run(const ResetReason& reason);
  void fire_drill(const ResetReason& reason, const std::optional<DrillMatch>& drill);
  Outcome act(const ResetReason& reason);
  void send_escalation(const ResetReason& reason, const Outcome& outcome);
  std::vector<std::string> escalation_fields(const ResetReason& reason,
                                             const Outcome& outcome) const;
  std::string what_would_happen() const;

  EscalationSinkSettings settings_;
  const ResetReasonStore& store_;
  JournalWriter& journal_;
  EscalationSinkSeams seams_;
  std::string boot_id_;
  WatchdogDevice* device_;
  FeedPolicy* policy_;
  mutable std::mutex mu_;
  std::condition_variable done_cv_;
  bool acted_ = false;        // taken, or being taken (mu_)
  ResetReason taken_;         // what was taken (mu_)
  Outcome outcome_;           // done once the act returned (mu_)
  bool reported_ = false;     // its event was sent (report worker only)
  std::map<int, Seen> seen_;  // the latest report per CPU (mu_)
};

}  // namespace stallwatch::escalation
