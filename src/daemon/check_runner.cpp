// SPDX-License-Identifier: GPL-2.0-or-later
#include "stallwatch/check_runner.h"

#include <algorithm>

#include "stallwatch/escalation/feed_policy.h"

namespace stallwatch {

namespace {
// A check takes microseconds; a claim held this long means its CPU froze mid-check.
std::int64_t stuck_after(const CheckerSettings& s) { return s.threshold_ns; }
}  // namespace

CheckRunner::CheckRunner(HeartbeatSlot* slots, int slot_count, const RunnerSettings& settings,
                         CheckGate& gate, EventRing<CheckEvent>& ring, RtOutputs& out)
    : checker_(slots, slot_count, settings.checker),
      slots_(slots),
      gate_(gate),
      ring_(ring),
      out_(out),
      settings_(settings),
      monitor_req_(new std::atomic<int>[static_cast<std::size_t>(slot_count)]),
      monitor_req_ns_(new std::atomic<std::int64_t>[static_cast<std::size_t>(slot_count)]),
      published_(slot_count) {
  events_.reserve(checker_.max_events());
  stuck_after_ns_.store(stuck_after(settings.checker), std::memory_order_relaxed);
  for (int i = 0; i < slot_count; ++i) {
    monitor_req_[i].store(0, std::memory_order_relaxed);
    monitor_req_ns_[i].store(0, std::memory_order_relaxed);
  }
}

void CheckRunner::post_settings(const RunnerSettings& settings) {
  // Seqlock write: odd while writing. Only the supervisor writes.
  const std::uint64_t s = settings_seq_.load(std::memory_order_relaxed);
  settings_seq_.store(s + 1, std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_release);
  pending_settings_ = settings;
  settings_seq_.store(s + 2, std::memory_order_release);
  gate_.request_check_now();
}

void CheckRunner::post_monitor(int cpu, bool monitored, std::int64_t now_ns) {
  if (cpu < 0 || cpu >= checker_.slot_count()) return;
  monitor_req_ns_[cpu].store(now_ns, std::memory_order_relaxed);
  monitor_req_[cpu].store(monitored ? 1 : 2, std::memory_order_release);
  monitor_pending_.store(true, std::memory_order_release);
  gate_.request_check_now();
}

void CheckRunner::apply_pending(std::int64_t now_ns) {
  const std::uint64_t seq = settings_seq_.load(std::memory_order_acquire);
  if (seq != applied_settings_seq_ && (seq & 1) == 0) {
    RunnerSettings copy = pending_settings_;
    std::atomic_thread_fence(std::memory_order_acquire);
    if (settings_seq_.load(std::memory_order_relaxed) == seq) {  // not torn
      settings_ = copy;
      applied_settings_seq_ = seq;
      checker_.apply(settings_.checker);
      stuck_after_ns_.store(stuck_after(settings_.checker), std::memory_order_relaxed);
    }
  }
  if (monitor_pending_.exchange(false, std::memory_order_acq_rel)) {
    for (int cpu = 0; cpu < checker_.slot_count(); ++cpu) {
      const int req = monitor_req_[cpu].exchange(0, std::memory_order_acq_rel);
      if (req == 0) continue;
      const std::int64_t at = monitor_req_ns_[cpu].load(std::memory_order_relaxed);
      checker_.set_monitored(cpu, req == 1, std::min(at, now_ns));
    }
  }
}

void CheckRunner::publish(std::int64_t now_ns) {
  bool changed = false;
  const bool any = checker_.changes() != published_changes_;
  published_changes_ = checker_.changes();
  for (int cpu = 0; any && cpu < checker_.slot_count(); ++cpu) {
    const CpuView v = checker_.view(cpu);
    PublishedCpu& p = published_.cpu[cpu];
    const int state = static_cast<int>(v.state);
    if (p.state.load(std::memory_order_relaxed) != state) {
      p.state.store(state, std::memory_order_relaxed);
      p.episode_start_ns.store(v.state == CpuState::kStalled ? now_ns - v.age_ns : 0,
                               std::memory_order_relaxed);
      changed = true;
    }
    if (p.suspect.load(std::memory_order_relaxed) != v.suspect) {
      p.suspect.store(v.suspect, std::memory_order_relaxed);
      changed = true;  // the dispatcher re-places the helper threads
    }
    if (p.stalls.load(std::memory_order_relaxed) != v.stalls) {
      p.stalls.store(v.stalls, std::memory_order_relaxed);
      changed = true;
    }
  }
  published_.stalls_total.store(checker_.stalls_total(), std::memory_order_relaxed);
  if (published_.suspects.load(std::memory_order_relaxed) != checker_.suspects()) {
    published_.suspects.store(checker_.suspects(), std::memory_order_relaxed);
    changed = true;
  }
  const bool started = any ? checker_.all_started() : published_.all_started.load(std::memory_order_relaxed);
  if (published_.all_started.load(std::memory_order_relaxed) != started) {
    published_.all_started.store(started, std::memory_order_relaxed);
    changed = true;
  }
  published_.checks.fetch_add(1, std::memory_order_relaxed);
  published_.last_check_ns.store(now_ns, std::memory_order_relaxed);
  if (changed) published_.version.fetch_add(1, std::memory_order_release);
}

// Feeding and pinging, and the deadline they add. Both happen only from a check, so a machine
// whose checks stop (every CPU stalled, or the daemon wedged) is neither fed nor pinged.
std::int64_t CheckRunner::outputs_and_deadline(int cpu, std::int64_t now_ns) {
  std::int64_t next = checker_.next_deadline_ns();
  if (closed_.load(std::memory_order_acquire)) return next;
  if (feed_ != nullptr) {
    const std::uint64_t served = feeds_served_.load(std::memory_order_acquire);
    if (feeds_requested_ > served) {
      // The previous request is still unserved: count it and let the policy ask again.
      published_.feeds_missed.fetch_add(1, std::memory_order_relaxed);
      feed_->feed_missed();
    }
    if (feed_->on_tick(now_ns, checker_.healthy()) == escalation::FeedDecision::kFeed) {
      ++feeds_requested_;
      published_.feeds_requested.store(feeds_requested_, std::memory_order_relaxed);
      out_.request_feed(cpu);
    }
  }
  if (settings_.ping_period_ns > 0) {
    if (now_ns - last_ping_ns_ >= settings_.ping_period_ns) {
      out_.watchdog_ping();
      last_ping_ns_ = now_ns;
    }
    next = std::min(next, last_ping_ns_ + settings_.ping_period_ns);
  }
  return next;
}

void CheckRunner::run_check(int cpu, std::int64_t now_ns, std::int64_t planned_ns) noexcept {
  apply_pending(now_ns);
  events_.clear();
  checker_.tick_into(now_ns, out_.boot_ns(), planned_ns, events_);
  bool wake = false;
  for (const CheckEvent& e : events_) {
    if (e.kind == EventKind::kEscalation && feed_ != nullptr) feed_->escalation_due(now_ns);
    if (e.kind == EventKind::kGlobalPause) published_.global_pauses.fetch_add(1, std::memory_order_relaxed);
    ring_.push(e);  // a full ring counts the drop; the dispatcher reports it
    wake = true;
  }
  const std::uint64_t before = published_.version.load(std::memory_order_relaxed);
  publish(now_ns);
  if (published_.version.load(std::memory_order_relaxed) != before) wake = true;
  if (now_ns >= published_.status_due_ns.load(std::memory_order_relaxed)) {
    published_.status_due_ns.store(PublishedState::kNotDue, std::memory_order_relaxed);
    wake = true;
  }
  const std::int64_t next = outputs_and_deadline(cpu, now_ns);
  gate_.release(next);
  if (wake) out_.wake_dispatcher(cpu);
}

// The heartbeat owning the claim has not released it for stuck_after_ns: its CPU froze
// mid-check (a hard-IRQ handler that does not return, an SMI). The Checker's state belongs to
// the frozen owner, so it is not touched; the bystander reports the owner's CPU directly.
void CheckRunner::owner_stuck(int cpu, int owner_cpu, std::int64_t claimed_ns, std::int64_t now_ns) noexcept {
  CheckEvent e;
  e.kind = EventKind::kStall;
  e.cpu = owner_cpu;
  e.owner_stuck = true;
  e.stall_ns = now_ns - claimed_ns;
  e.threshold_ns = settings_.checker.threshold_ns;
  e.detected_mono_ns = now_ns;
  e.stall_start_mono_ns = claimed_ns;
  published_.stuck_owners.fetch_add(1, std::memory_order_relaxed);
  ring_.push(e);
  out_.wake_dispatcher(cpu);
}

}  // namespace stallwatch
