// SPDX-License-Identifier: GPL-2.0-or-later
#include "stallwatch/escalation/escalation_control.h"

#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "stallwatch/core/clock.h"
#include "stallwatch/core/fs_util.h"
#include "stallwatch/core/message_ids.h"

namespace stallwatch::escalation {

EscalationControl::EscalationControl(const Config& config, const Sysroot& root,
                                     EscalationControlSeams seams)
    : config_(config), root_(root), seams_(std::move(seams)), store_(config.daemon.state_dir) {
  if (!seams_.ops) seams_.ops = make_system_watchdog_ops();
  if (!seams_.journal) seams_.journal = make_journal_writer();
  EscalationSinkSeams defaults = default_escalation_sink_seams(root_);
  if (!seams_.sink.notify) seams_.sink.notify = defaults.notify;
  if (!seams_.sink.sysrq) seams_.sink.sysrq = defaults.sysrq;
  if (!seams_.sink.realtime_ns) seams_.sink.realtime_ns = defaults.realtime_ns;
  if (!seams_.mono_ns) seams_.mono_ns = mono_now_ns;
  if (!seams_.sink.drill) {
    DrillLookup lookup{config_.daemon.runtime_dir, ::geteuid(), {}};
    seams_.sink.drill = [lookup](const StallEvent& e,
                                 const StallReport* rep) -> std::optional<DrillMatch> {
      const std::int64_t now = mono_now_ns();
      std::string ignored;
      auto m = find_drill(lookup, e.cpu, rep != nullptr ? rep->pid : 0,
                          rep != nullptr ? rep->tid : 0, now, &ignored);
      if (!ignored.empty()) spdlog::warn("{}", ignored);
      return m;
    };
  }
  if (!config_.watchdog.device.empty())
    device_ = std::make_unique<WatchdogDevice>(root_, *seams_.ops, WatchdogSettings::from(config_));
}

EscalationControl::~EscalationControl() = default;

namespace {

void watchdog_notice(JournalWriter& journal, int priority, const std::string& device,
                     const std::string& message) {
  journal.send({"MESSAGE=" + message, fmt::format("MESSAGE_ID={}", message_id::kWatchdogNotice),
                fmt::format("PRIORITY={}", priority), "STALLWATCH_EVENT=watchdog",
                "STALLWATCH_WATCHDOG_DEVICE=" + device});
}

}  // namespace

Status EscalationControl::start(std::int64_t now_mono_ns) {
  started_ = true;
  // The reset reason, reports and drill announcements live there: a directory another user can
  // write would let them forge or hide what stallwatchd reads back.
  const uid_t euid = ::geteuid();
  if (auto st = check_private_dir("daemon.state_dir", config_.daemon.state_dir, euid); !st.ok())
    return st;
  if (auto st = check_private_dir("daemon.runtime_dir", config_.daemon.runtime_dir, euid); !st.ok())
    return st;
  if (auto id = read_boot_id(root_); id.ok()) {
    boot_id_ = *id;
  } else {
    spdlog::warn("cannot read the boot id ({}); the previous-boot report is skipped",
                 id.error().message);
  }

  Status armed = Ok{};
  if (device_) {
    const std::string& dev = device_->settings().device;
    armed = device_->probe();
    if (armed.ok()) armed = device_->arm();
    const WatchdogState& st = device_->state();
    for (const auto& w : st.warnings) spdlog::warn("{}", w);
    if (armed.ok()) {
      // How long the driver's keepalive takes decides who feeds: the check itself, or a thread.
      std::int64_t worst = 0;
      for (int i = 0; i < 3 && worst >= 0; ++i) {
        const std::int64_t t0 = seams_.mono_ns();
        const FeedResult r = device_->feed();
        worst = r == FeedResult::kFed ? std::max(worst, seams_.mono_ns() - t0) : -1;
      }
      keepalive_ns_ = worst;
      direct_feed_ = worst >= 0 && worst <= kDirectFeedMaxNs;
      spdlog::info("{}: keepalive took {} us at most: fed {}", dev, worst / 1000,
                   direct_feed_ ? "by the check itself (the driver does not sleep in it)"
                                : "by the feeder thread (the driver may sleep in it)");
      policy_ = std::make_unique<FeedPolicy>(FeedPolicySettings::from(config_, st.timeout_s));
      policy_->fed_at(now_mono_ns);
      spdlog::info(
          "owning hardware watchdog {} ({}): timeout {}s, fed every {}ms at most, "
          "bootstatus {}, nowayout {}, feeding by {}",
          dev, st.identity.empty() ? "unknown" : st.identity, st.timeout_s,
          (policy_->settings().feed_period_ns() + config_.checker.interval.count()) / 1'000'000,
          st.bootstatus ? describe_watchdog_flags(*st.bootstatus) : "unknown",
          st.nowayout ? "yes" : "no", st.feed_by_write ? "write()" : "WDIOC_KEEPALIVE");
      if (st.nowayout)
        watchdog_notice(*seams_.journal, LOG_WARNING, dev,
                        fmt::format("{} has nowayout set: it cannot be disarmed; stopping "
                                    "stallwatchd resets the machine within {}s unless it is "
                                    "restarted in time",
                                    dev, st.timeout_s));
    }
  }
  report_previous_boot();
  return armed;
}

PreviousBootReport EscalationControl::report_previous_boot() {
  if (boot_id_.empty()) return {};
  ResetReasonFile file;
  if (auto loaded = store_.load(); loaded.ok()) {
    file = std::move(loaded).value();
  } else {
    spdlog::warn("ignoring unreadable reset reason: {}", loaded.error().message);
  }
  std::optional<std::uint32_t> bootstatus;
  std::string dev;
  if (device_) {
    bootstatus = device_->state().bootstatus;
    dev = device_->settings().device;
  }
  PreviousBootReport rep = decide_previous_boot_report(file, boot_id_, bootstatus, dev);
  if (rep.report) {
    std::vector<std::string> f;
    f.push_back("MESSAGE=" + rep.message);
    f.push_back(fmt::format("MESSAGE_ID={}", message_id::kPreviousBoot));
    f.push_back(fmt::format("PRIORITY={}", rep.priority));
    f.push_back("STALLWATCH_EVENT=previous-boot");
    f.push_back("STALLWATCH_PREVIOUS_BOOT_CAUSE=" + rep.cause);
    if (rep.reason) {
      const ResetReason& r = *rep.reason;
      f.push_back(fmt::format("STALLWATCH_CPU={}", r.cpu));
      f.push_back("STALLWATCH_ACTION=" + r.action);
      f.push_back(fmt::format("STALLWATCH_STALL_MS={}", r.stall_ns / 1'000'000));
      f.push_back("STALLWATCH_CLASS=" + r.stall_class);
      if (r.culprit_pid > 0) {
        f.push_back(fmt::format("STALLWATCH_TID={}", r.culprit_pid));  // a thread id
        f.push_back("STALLWATCH_COMM=" + r.culprit_comm);
      }
      f.push_back("STALLWATCH_ESCALATION_BOOT_ID=" + r.boot_id);
      f.push_back("STALLWATCH_ESCALATION_TIME=" + format_utc(r.time_realtime_ns));
      f.push_back(fmt::format("STALLWATCH_ESCALATIONS_TOTAL={}", file.escalations_total));
    }
    if (bootstatus) {
      f.push_back(fmt::format("STALLWATCH_WATCHDOG_BOOTSTATUS={:#x}", *bootstatus));
      f.push_back("STALLWATCH_WATCHDOG_DEVICE=" + dev);
    }
    seams_.journal->send(f);
  }
  if (rep.mark_consumed) {
    file.consumed = true;
    file.reported_boot_id = boot_id_;
    if (auto st = store_.save(file); !st.ok())
      spdlog::error("cannot mark the reset reason consumed: {}", st.error().message);
  }
  return rep;
}

void EscalationControl::on_tick(std::int64_t now_mono_ns, bool checker_healthy) {
  if (!policy_ || !device_) return;
  if (policy_->on_tick(now_mono_ns, checker_healthy) != FeedDecision::kFeed) return;
  FeedResult r = device_->feed();
  if (r == FeedResult::kFed) return;
  policy_->feed_missed();
  if (r == FeedResult::kFailed && feed_failures_++ % 100 == 0)
    spdlog::error("feeding {} failed ({} failures so far)", device_->settings().device,
                  feed_failures_);
}

bool EscalationControl::feed_device() {
  if (!device_) return false;
  return device_->feed() == FeedResult::kFed;
}

void EscalationControl::on_escalation_due(std::int64_t now_mono_ns) {
  if (policy_) policy_->escalation_due(now_mono_ns);
}

bool EscalationControl::is_drill(const StallEvent& event, const StallReport& report) const {
  try {
    return seams_.sink.drill && seams_.sink.drill(event, &report).has_value();
  } catch (...) {
    return false;
  }
}

std::unique_ptr<EventSink> EscalationControl::make_sink() {
  EscalationSinkSettings settings = EscalationSinkSettings::from(config_);
  settings.reset_timeout_s = reset_timeout_s_;
  auto sink = std::make_unique<EscalationSink>(settings, store_, *seams_.journal, seams_.sink,
                                               boot_id_, device_.get(), policy_.get());
  sink_ = sink.get();
  return sink;
}

bool EscalationControl::acts() const {
  return config_.escalation.action != EscalationAction::kNone && !config_.escalation.dry_run;
}

bool EscalationControl::take_now(const StallEvent& event) {
  return sink_ != nullptr && sink_->take(event);
}

void EscalationControl::shutdown() {
  if (shut_down_) return;
  shut_down_ = true;
  if (!device_ || !device_->armed()) return;
  const std::string& dev = device_->settings().device;
  if (policy_ && policy_->stopped()) {
    // An escalation is under way: leave the reset due, never write the magic 'V'.
    DisarmOutcome out = device_->abandon();
    spdlog::critical("stopping after an escalation: {}", out.detail);
    if (out.stopped) watchdog_notice(*seams_.journal, LOG_CRIT, dev, out.detail);
    return;
  }
  DisarmOutcome out = device_->disarm();
  if (out.stopped) {
    spdlog::info("{}", out.detail);
  } else {
    spdlog::error("{}", out.detail);
    watchdog_notice(*seams_.journal, LOG_ERR, dev, out.detail);
  }
}

}  // namespace stallwatch::escalation
