// SPDX-License-Identifier: GPL-2.0-or-later
#include "stallwatch/escalation/feed_policy.h"

#include <algorithm>

namespace stallwatch::escalation {

std::string_view to_string(FeedDecision d) {
  switch (d) {
    case FeedDecision::kFeed: return "feed";
    case FeedDecision::kNotDue: return "not-due";
    case FeedDecision::kUnhealthy: return "unhealthy";
    case FeedDecision::kStopped: return "stopped";
  }
  return "?";
}

std::int64_t FeedPolicySettings::feed_period_ns() const {
  return std::max<std::int64_t>(0, timeout_ns / 3 - tick_interval_ns);
}

FeedPolicySettings FeedPolicySettings::from(const Config& config, int actual_timeout_s) {
  FeedPolicySettings s;
  s.timeout_ns = static_cast<std::int64_t>(actual_timeout_s) * 1'000'000'000;
  s.tick_interval_ns = config.checker.interval.count();
  // The report worker collects evidence (bounded by evidence.budget) before the escalation sink
  // sees the event and persists the reset reason; give it that long plus a margin.
  constexpr std::int64_t kMarginNs = 2'000'000'000;
  s.escalation_grace_ns =
      (config.evidence.enabled ? config.evidence.budget.count() : 0) + kMarginNs;
  s.stop_on_escalation =
      config.escalation.action == EscalationAction::kWatchdogDevice && !config.escalation.dry_run;
  return s;
}

FeedDecision FeedPolicy::on_tick(std::int64_t now_mono_ns, bool checker_healthy) {
  if (stopped()) return FeedDecision::kStopped;
  if (due_ && now_mono_ns - due_ns_ >= settings_.escalation_grace_ns) {
    stop();
    return FeedDecision::kStopped;
  }
  if (!checker_healthy) return FeedDecision::kUnhealthy;
  if (have_fed_ && now_mono_ns - last_feed_ns_ < settings_.feed_period_ns())
    return FeedDecision::kNotDue;
  fed_at(now_mono_ns);
  return FeedDecision::kFeed;
}

void FeedPolicy::escalation_due(std::int64_t now_mono_ns) {
  if (!settings_.stop_on_escalation || due_) return;
  due_ = true;
  due_ns_ = now_mono_ns;
  if (settings_.escalation_grace_ns <= 0) stop();
}

}  // namespace stallwatch::escalation
