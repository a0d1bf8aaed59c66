// SPDX-License-Identifier: GPL-2.0-or-later
// FeedPolicy: decides, per check, whether the hardware watchdog is fed. Pure (times are
// arguments, no I/O): feed at most every feed_period (<= timeout/3 including the tick's own
// granularity), only while the checker is healthy and no escalation is due. Once an
// escalation with action watchdog-device fires, feeding stops for good (until the daemon
// restarts), so the hardware resets the machine.
// Threads: on_tick() and escalation_due() from the check (on whichever heartbeat runs it, one at a
// time under the CheckGate claim); stop() from any thread (the
// escalation sink on the report worker), hence the atomic.
#pragma once

#include <atomic>
#include <cstdint>
#include <string_view>

#include "stallwatch/core/config.h"

namespace stallwatch::escalation {

enum class FeedDecision {
  kFeed,
  kNotDue,     // fed recently enough
  kUnhealthy,  // the checker is not healthy: let the hardware decide
  kStopped,    // escalation: never feed again
};
std::string_view to_string(FeedDecision d);

struct FeedPolicySettings {
  std::int64_t timeout_ns = 30'000'000'000;     // the device's real timeout
  std::int64_t tick_interval_ns = 100'000'000;  // checker interval
  // After the checker saw an escalation become due, keep feeding this long so the escalation
  // sink can persist the reset reason first; then stop anyway (a wedged report worker must
  // not keep the machine alive). 0 = stop at once.
  std::int64_t escalation_grace_ns = 0;
  bool stop_on_escalation = false;  // action == watchdog-device && !dry_run

  // Feed no later than timeout/3 after the previous feed, even when ticks are tick_interval
  // apart: feed once the gap reaches timeout/3 - tick_interval (at least one tick).
  std::int64_t feed_period_ns() const;
  static FeedPolicySettings from(const Config& config, int actual_timeout_s);
};

class FeedPolicy {
 public:
  explicit FeedPolicy(FeedPolicySettings settings) : settings_(settings) {}

  // The caller feeds when this returns kFeed; if that feed did not happen (lock busy, syscall
  // failed) it calls feed_missed() so the next tick tries again.
  FeedDecision on_tick(std::int64_t now_mono_ns, bool checker_healthy);
  void feed_missed() { have_fed_ = false; }
  // The checker emitted a kEscalation event at now (only matters with stop_on_escalation).
  void escalation_due(std::int64_t now_mono_ns);
  // Stop feeding forever (the escalation sink, after persisting the reason). Any thread.
  void stop() { stopped_.store(true, std::memory_order_release); }
  bool stopped() const { return stopped_.load(std::memory_order_acquire); }
  // Forgets the last feed (after a successful arm: the arm fed already at now).
  void fed_at(std::int64_t now_mono_ns) {
    last_feed_ns_ = now_mono_ns;
    have_fed_ = true;
  }
  const FeedPolicySettings& settings() const { return settings_; }

 private:
  FeedPolicySettings settings_;
  std::atomic<bool> stopped_{false};
  bool have_fed_ = false;
  std::int64_t last_feed_ns_ = 0;
  bool due_ = false;
  std::int64_t due_ns_ = 0;
};

}  // namespace stallwatch::escalation
