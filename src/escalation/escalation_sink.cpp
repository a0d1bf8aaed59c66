// SPDX-License-Identifier: GPL-2.0-or-later
#include "stallwatch/escalation/escalation_sink.h"

#include <fcntl.h>
#include <syslog.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "stallwatch/core/clock.h"
#include "stallwatch/core/message_ids.h"
#include "stallwatch/core/systemd_notify.h"
#include "stallwatch/core/unique_fd.h"

namespace stallwatch::escalation {

EscalationSinkSettings EscalationSinkSettings::from(const Config& config) {
  EscalationSinkSettings s;
  s.action = config.escalation.action;
  s.dry_run = config.escalation.dry_run;
  s.allow_panic = config.escalation.allow_panic;
  return s;
}

EscalationSinkSeams default_escalation_sink_seams(const Sysroot& root) {
  EscalationSinkSeams s;
  s.notify = [](const std::string& state) { return notify_service_manager(state); };
  std::string sysrq_path = root.path("/proc/sysrq-trigger");
  s.sysrq = [sysrq_path](char key) -> Status {
    UniqueFd fd(::open(sysrq_path.c_str(), O_WRONLY | O_CLOEXEC));
    if (!fd.valid()) return make_error("{}: {}", sysrq_path, std::strerror(errno));
    if (::write(fd.get(), &key, 1) != 1)
      return make_error("write '{}' to {}: {}", key, sysrq_path, std::strerror(errno));
    return Ok{};
  };
  s.realtime_ns = real_now_ns;
  return s;
}

EscalationSink::EscalationSink(EscalationSinkSettings settings, const ResetReasonStore& store,
                               JournalWriter& journal, EscalationSinkSeams seams,
                               std::string boot_id, WatchdogDevice* device, FeedPolicy* policy)
    : settings_(settings),
      store_(store),
      journal_(journal),
      seams_(std::move(seams)),
      boot_id_(std::move(boot_id)),
      device_(device),
      policy_(policy) {
  if (!seams_.persist)
    seams_.persist = [store = store_](const ResetReason& r) { return store.record(r); };
}

namespace {

std::string culprit_text(const ResetReason& r) {
  return r.culprit_pid > 0 ? fmt::format(" [{}:{}]", r.culprit_comm, r.culprit_pid) : "";
}

std::vector<std::string> base_fields(const ResetReason& r, const char* message_id, int priority,
                                     const std::string& event_name, const std::string& message) {
  std::vector<std::string> f;
  f.push_back("MESSAGE=" + message);
  f.push_back(fmt::format("MESSAGE_ID={}", message_id));
  f.push_back(fmt::format("PRIORITY={}", priority));
  f.push_back("STALLWATCH_EVENT=" + event_name);
  f.push_back(fmt::format("STALLWATCH_CPU={}", r.cpu));
  f.push_back("STALLWATCH_ACTION=" + r.action);
  f.push_back(fmt::format("STALLWATCH_STALL_MS={}", r.stall_ns / 1'000'000));
  f.push_back("STALLWATCH_CLASS=" + r.stall_class);
  if (r.episode > 0) f.push_back(fmt::format("STALLWATCH_EPISODE={}", r.episode));
  if (r.culprit_pid > 0) {
    f.push_back(fmt::format("STALLWATCH_TID={}", r.culprit_pid));  // a thread id
    f.push_back("STALLWATCH_COMM=" + r.culprit_comm);
  }
  return f;
}

}  // namespace

std::string EscalationSink::what_would_happen() const {
  std::string dev =
      device_ != nullptr ? device_->settings().device : std::string("watchdog.device");
  switch (settings_.action) {
    case EscalationAction::kNone: return "nothing (escalation.action = none)";
    case EscalationAction::kWatchdogDevice: {
      if (device_ == nullptr || !device_->armed())
        return fmt::format("stop feeding {}, but it is not armed: nothing would reset the machine",
                           dev);
      int timeout = device_->state().timeout_s;
      if (settings_.reset_timeout_s > 0 && settings_.reset_timeout_s < timeout)
        return fmt::format("shorten the timeout of {} to {}s and stop feeding it: the hardware "
                           "resets the machine within {}s",
                           dev, settings_.reset_timeout_s, settings_.reset_timeout_s);
      return fmt::format("stop feeding {}: the hardware resets the machine within {}s", dev,
                         timeout);
    }
    case EscalationAction::kSystemd:
      return "send WATCHDOG=trigger to systemd: the unit's watchdog handling and FailureAction= "
             "apply";
    case EscalationAction::kPanic:
      if (!settings_.allow_panic) return "nothing: panic requires escalation.allow_panic = true";
      return "write 'c' to /proc/sysrq-trigger: the kernel crashes (kdump saves a vmcore if "
             "configured)";
  }
  return "nothing";
}

ResetReason EscalationSink::reason_for(const StallEvent& event, const StallReport* report) const {
  ResetReason r;
  r.time_realtime_ns = seams_.realtime_ns ? seams_.realtime_ns() : 0;
  r.boot_id = boot_id_;
  r.cpu = event.cpu;
  r.stall_ns = event.stall_ns;
  r.episode = event.episode;
  r.action = std::string(to_string(settings_.action));
  if (report != nullptr) {
    r.stall_class = report->stall_class;
    r.culprit_comm = report->comm;
    r.culprit_pid = report->tid > 0 ? report->tid : report->pid;
  }
  return r;
}

bool EscalationSink::acted() const {
  std::lock_guard lock(mu_);
  return acted_;
}

bool EscalationSink::take(const StallEvent& event, const StallReport* report) {
  if (event.kind != EventKind::kEscalation || event.drill) return false;
  if (settings_.action == EscalationAction::kNone || settings_.dry_run) return false;
  ResetReason r = reason_for(event, report);
  {
    std::lock_guard lock(mu_);
    if (acted_) return false;
    acted_ = true;
    if (auto it = seen_.find(event.cpu);
        report == nullptr && it != seen_.end() && it->second.episode == event.episode) {
      r.stall_class = it->second.stall_class;
      r.culprit_comm = it->second.comm;
      r.culprit_pid = it->second.pid;
    }
    taken_ = r;
  }
  Outcome out = act(r);
  {
    std::lock_guard lock(mu_);
    outcome_ = std::move(out);
    outcome_.done = true;
  }
  done_cv_.notify_all();
  return true;
}

void EscalationSink::fire(const StallEvent& event, const StallReport* report) {
  if (report != nullptr && event.cpu >= 0 &&
      (event.kind == EventKind::kStall || event.kind == EventKind::kOngoing)) {
    std::lock_guard lock(mu_);
    seen_[event.cpu] = Seen{event.episode, report->stall_class, report->comm,
                            report->tid > 0 ? report->tid : report->pid};
  }
  if (event.kind != EventKind::kEscalation) return;
  if (settings_.action == EscalationAction::kNone) return;
  ResetReason r = reason_for(event, report);
  // The check decided drill-ness where the feeding is (event.drill); the culprit match here
  // covers a drill the check did not know of (announced late): nothing is done for it either,
  // though with watchdog-device the check may already have stopped the feeding.
  std::optional<DrillMatch> drill;
  if (seams_.drill) drill = seams_.drill(event, report);
  if (event.drill || drill) {
    if (!event.drill && settings_.action == EscalationAction::kWatchdogDevice && !settings_.dry_run)
      spdlog::warn("CPU#{}: a drill matched only after the escalation was due: the check did not "
                   "know it, so the hardware watchdog may no longer be fed",
                   event.cpu);
    fire_drill(r, drill);
    return;
  }
  if (settings_.dry_run) {
    fire_dry_run(r);
    return;
  }
  // Taken by the actor already (the usual case), or taken here now.
  (void)take(event, report);
  Outcome out;
  ResetReason taken;
  {
    std::unique_lock lock(mu_);
    done_cv_.wait_for(lock, settings_.persist_deadline + std::chrono::seconds(1),
                      [&] { return outcome_.done; });
    out = outcome_;
    taken = taken_;
  }
  if (taken.cpu != event.cpu || taken.episode != event.episode || reported_) {
    spdlog::warn("CPU#{} reached escalation.after too, but stallwatchd already escalated "
                 "(CPU#{})",
                 event.cpu, taken.cpu);
    return;
  }
  reported_ = true;
  // The event says what the report knows now (class, culprit), the action what was taken.
  if (r.stall_class.empty()) r.stall_class = taken.stall_class;
  if (r.culprit_pid <= 0) {
    r.culprit_pid = taken.culprit_pid;
    r.culprit_comm = taken.culprit_comm;
  }
  if (!out.done) out.persisted = "the action is still being taken (reset reason being saved)";
  send_escalation(r, out);
}

void EscalationSink::fire_dry_run(const ResetReason& r) {
  std::string message = fmt::format(
      "would escalate: CPU#{} stuck for {}!{} class={}, action={}\ndry_run: would write the "
      "reset reason to {} and {}; nothing was done",
      r.cpu, format_stall_seconds(r.stall_ns), culprit_text(r), r.stall_class, r.action,
      store_.path(), what_would_happen());
  auto f = base_fields(r, message_id::kEscalationDryRun, LOG_WARNING, "escalation", message);
  f.push_back("STALLWATCH_DRY_RUN=1");
  journal_.send(f);
}

void EscalationSink::fire_drill(const ResetReason& r, const std::optional<DrillMatch>& drill) {
  const std::string where = drill
                                ? fmt::format("announced by stallwatchctl drill in {}, hog pid {}",
                                              drill->path, drill->announcement.pid)
                                : std::string("announced by stallwatchctl drill on this CPU");
  std::string message = fmt::format(
      "CPU#{} stuck for {}!{} escalation skipped: drill ({})\nfor a real stall: {}", r.cpu,
      format_stall_seconds(r.stall_ns), culprit_text(r), where, what_would_happen());
  spdlog::info("escalation skipped: drill (CPU#{}, {})", r.cpu, where);
  auto f = base_fields(r, message_id::kEscalationDryRun, LOG_NOTICE, "escalation", message);
  f.push_back("STALLWATCH_DRILL=1");
  journal_.send(f);
}

EscalationSink::Outcome EscalationSink::act(const ResetReason& r) {
  Outcome out;
  out.plan = what_would_happen();
  if (settings_.action == EscalationAction::kPanic && !settings_.allow_panic) {
    out.failure = "panic requires escalation.allow_panic = true; nothing done";
    return out;
  }
  // 1. The reset reason, durable before anything irreversible happens — but bounded: a hung
  //    state disk delays the action by at most persist_deadline, then it happens anyway.
  PersistOutcome saved = persist_with_deadline(seams_.persist, r, settings_.persist_deadline);
  switch (saved.kind) {
    case PersistOutcome::Kind::kSaved:
      out.total = saved.total;
      out.persisted = fmt::format("reset reason saved to {}", store_.path());
      break;
    case PersistOutcome::Kind::kFailed:
      out.persisted = fmt::format("reset reason NOT saved: {}", saved.error);
      spdlog::error("{}", out.persisted);
      break;
    case PersistOutcome::Kind::kTimedOut:
      out.persisted = fmt::format("reset reason NOT saved: {} did not finish within {} ms (state "
                                  "disk hung?); acting anyway",
                                  store_.path(), settings_.persist_deadline.count());
      spdlog::error("{}", out.persisted);
      break;
  }
  // 2. The PRIORITY=1 event, only if journald takes it at once (it may be what is stuck behind
  //    the stalled CPU); else the report worker sends it after the act.
  out.journalled = journal_.try_send(escalation_fields(r, out));
  // 3. Act.
  switch (settings_.action) {
    case EscalationAction::kNone: break;
    case EscalationAction::kWatchdogDevice: {
      if (device_ == nullptr || policy_ == nullptr || !device_->armed()) {
        out.failure = "no hardware watchdog is armed (watchdog.device)";
        break;
      }
      if (settings_.reset_timeout_s > 0 && settings_.reset_timeout_s < device_->state().timeout_s) {
        // WDIOC_SETTIMEOUT also pings: the reset comes reset_timeout_s from now.
        if (auto t = device_->set_timeout(settings_.reset_timeout_s); !t.ok())
          spdlog::error("could not shorten the watchdog timeout: {}", t.error().message);
      }
      policy_->stop();  // never fed again, never the magic 'V'
      break;
    }
    case EscalationAction::kSystemd: {
      int rc = seams_.notify ? seams_.notify("WATCHDOG=trigger") : 0;
      if (rc == 0)
        out.failure = "WATCHDOG=trigger not sent: not running under systemd (NOTIFY_SOCKET unset)";
      else if (rc < 0)
        out.failure = fmt::format("WATCHDOG=trigger not sent: {}", std::strerror(-rc));
      break;
    }
    case EscalationAction::kPanic: {
      Status st = seams_.sysrq ? seams_.sysrq('c') : Status(make_error("no sysrq writer"));
      // Reaching this line means the kernel did not crash.
      if (!st.ok()) out.failure = fmt::format("sysrq crash not triggered: {}", st.error().message);
      break;
    }
  }
  if (!out.failure.empty()) spdlog::critical("escalation failed: {}", out.failure);
  return out;
}

std::vector<std::string> EscalationSink::escalation_fields(const ResetReason& r,
                                                           const Outcome& out) const {
  std::string message =
      fmt::format("CPU#{} stuck for {}!{} escalating: action={}, class={}\n{}; {}", r.cpu,
                  format_stall_seconds(r.stall_ns), culprit_text(r), r.action,
                  r.stall_class.empty() ? "unknown" : r.stall_class,
                  out.plan.empty() ? what_would_happen() : out.plan, out.persisted);
  auto f = base_fields(r, message_id::kEscalation, LOG_ALERT, "escalation", message);
  f.push_back("STALLWATCH_DRY_RUN=0");
  f.push_back("STALLWATCH_RESET_REASON=" + store_.path());
  if (out.total > 0) f.push_back(fmt::format("STALLWATCH_ESCALATIONS_TOTAL={}", out.total));
  if (device_ != nullptr) {
    f.push_back("STALLWATCH_WATCHDOG_DEVICE=" + device_->settings().device);
    f.push_back(fmt::format("STALLWATCH_WATCHDOG_TIMEOUT_S={}", device_->state().timeout_s));
  }
  return f;
}

void EscalationSink::send_escalation(const ResetReason& r, const Outcome& out) {
  if (!out.failure.empty() && out.persisted.empty()) {  // refused before anything (allow_panic)
    journal_.send(base_fields(r, message_id::kEscalation, LOG_CRIT, "escalation-failed",
                              fmt::format("escalation of CPU#{} with action={} failed: {}", r.cpu,
                                          r.action, out.failure)));
    return;
  }
  if (!out.journalled) journal_.send(escalation_fields(r, out));  // else the actor's went out
  if (!out.failure.empty()) {
    auto ff = base_fields(r, message_id::kEscalation, LOG_CRIT, "escalation-failed",
                          fmt::format("escalation of CPU#{} with action={} failed: {}", r.cpu,
                                      r.action, out.failure));
    journal_.send(ff);
  }
}

}  // namespace stallwatch::escalation
