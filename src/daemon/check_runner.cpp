// SPDX-License-Identifier: GPL-2.0-or-later
#include "stallwatch/daemon/check_runner.h"

#include <algorithm>

#include "stallwatch/escalation/feed_policy.h"

namespace stallwatch::daemon {

namespace {
// A check takes microseconds (about a millisecond at thousands of CPUs with cold caches); a claim
// held this long means its owner froze mid-check: a bystander takes it over, well before the
// owner's own CPU could be reported stalled.
std::int64_t takeover_after(const CheckerSettings& s) {
  return std::clamp<std::int64_t>(s.threshold_ns / 4, 50'000'000, 500'000'000);
}
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
      monitor_group_(new std::atomic<bool>[static_cast<std::size_t>(checker_.group_count())]),
      drill_until_(new std::atomic<std::int64_t>[static_cast<std::size_t>(slot_count)]),
      published_(slot_count) {
  events_.reserve(checker_.max_events());
  takeover_after_ns_.store(takeover_after(settings.checker), std::memory_order_relaxed);
  for (int i = 0; i < slot_count; ++i) {
    monitor_req_[i].store(0, std::memory_order_relaxed);
    monitor_req_ns_[i].store(0, std::memory_order_relaxed);
    drill_until_[i].store(0, std::memory_order_relaxed);
  }
  for (int g = 0; g < checker_.group_count(); ++g)
    monitor_group_[g].store(false, std::memory_order_relaxed);
}

void CheckRunner::post_drill(int cpu, std::int64_t until_ns) {
  if (cpu < 0 || cpu >= checker_.slot_count()) return;
  drill_until_[cpu].store(until_ns, std::memory_order_release);
}

std::int64_t CheckRunner::drill_until(int cpu) const {
  if (cpu < 0 || cpu >= checker_.slot_count()) return 0;
  return drill_until_[cpu].load(std::memory_order_acquire);
}

void CheckRunner::post_settings(const RunnerSettings& settings) {
  // Fill the buffer only this side owns, then publish it (release) and take back whichever was
  // in the middle (acquire: the check's last copy from it is done). One writer: the supervisor.
  posts_[post_back_] = settings;
  post_back_ =
      post_middle_.exchange(post_back_ | kPostFresh, std::memory_order_acq_rel) & kPostIndex;
  gate_.request_check_now();
}

void CheckRunner::post_monitor(int cpu, bool monitored, std::int64_t now_ns) {
  if (cpu < 0 || cpu >= checker_.slot_count()) return;
  monitor_req_ns_[cpu].store(now_ns, std::memory_order_relaxed);
  monitor_req_[cpu].store(monitored ? 1 : 2, std::memory_order_release);
  monitor_group_[checker_.group_of(cpu)].store(true, std::memory_order_release);
  monitor_pending_.store(true, std::memory_order_release);
  gate_.request_check_now();
}

void CheckRunner::post_sentinel(int cpu, bool sentinel) {
  if (cpu < 0 || cpu >= checker_.slot_count()) return;
  monitor_req_[cpu].store(sentinel ? 3 : 4, std::memory_order_release);
  monitor_group_[checker_.group_of(cpu)].store(true, std::memory_order_release);
  monitor_pending_.store(true, std::memory_order_release);
  gate_.request_check_now();
}

void CheckRunner::post_verdict(std::uint64_t id, bool starved, int root_cpu) {
  const std::uint64_t root =
      root_cpu >= 0 && static_cast<std::uint64_t>(root_cpu) < kVerdictRootMask
          ? static_cast<std::uint64_t>(root_cpu) + 1
          : 0;
  verdict_.store((id << kVerdictIdShift) | (root << 1) | (starved ? 1 : 0),
                 std::memory_order_release);
  gate_.request_check_now();
}

void CheckRunner::apply_pending(std::int64_t now_ns, std::vector<CheckEvent>& events) {
  // Only this side clears kPostFresh, so the exchange returns a posted buffer (the latest one):
  // it is the check's until its next exchange hands it back.
  if ((post_middle_.load(std::memory_order_relaxed) & kPostFresh) != 0) {
    post_front_ = post_middle_.exchange(post_front_, std::memory_order_acq_rel) & kPostIndex;
    settings_ = posts_[post_front_];
    checker_.apply(settings_.checker);
    checker_.request_all();  // new threshold or intervals: every group's deadlines move
    takeover_after_ns_.store(takeover_after(settings_.checker), std::memory_order_relaxed);
  }
  // A request is flagged on its CPU, then its group, then pending (release, in that order), and
  // taken in the reverse order: a flag found set always has its CPU's request visible. Only the
  // groups with a request are visited; a start or a reload that changes every CPU's monitoring
  // visits them all, once (not a steady check's cost).
  if (monitor_pending_.exchange(false, std::memory_order_acq_rel)) {
    const int per = checker_.group_cpus();
    for (int g = 0; g < checker_.group_count(); ++g) {
      if (!monitor_group_[g].exchange(false, std::memory_order_acq_rel)) continue;
      for (int cpu = g * per; cpu < std::min(checker_.slot_count(), (g + 1) * per); ++cpu) {
        const int req = monitor_req_[cpu].exchange(0, std::memory_order_acq_rel);
        if (req == 0) continue;
        if (req >= 3) {
          checker_.set_sentinel(cpu, req == 3);
          continue;
        }
        const std::int64_t at = monitor_req_ns_[cpu].load(std::memory_order_relaxed);
        checker_.set_monitored(cpu, req == 1, std::min(at, now_ns));
      }
    }
  }
  if (const std::uint64_t v = verdict_.exchange(0, std::memory_order_acq_rel); v != 0)
    checker_.apply_verdict(v >> kVerdictIdShift, (v & 1) != 0,
                           static_cast<int>((v >> 1) & kVerdictRootMask) - 1, now_ns, events);
}

void CheckRunner::publish_group(int group, std::int64_t now_ns, bool& changed) {
  const int per = checker_.group_cpus();
  for (int cpu = group * per; cpu < std::min(checker_.slot_count(), (group + 1) * per); ++cpu) {
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
}

// Only the groups whose CPUs changed are visited (a check changes its own group's, a monitoring
// request or a verdict others').
void CheckRunner::publish(std::int64_t now_ns) {
  bool changed = false;
  const bool any = checker_.changes() != published_changes_;
  published_changes_ = checker_.changes();
  for (int g = 0; any && g < checker_.group_count(); ++g)
    if (checker_.take_dirty(g)) publish_group(g, now_ns, changed);
  published_.stalls_total.store(checker_.stalls_total(), std::memory_order_relaxed);
  if (published_.suspects.load(std::memory_order_relaxed) != checker_.suspects()) {
    published_.suspects.store(checker_.suspects(), std::memory_order_relaxed);
    changed = true;
  }
  const bool started = checker_.all_started();
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
      if (out_.request_feed(cpu)) feeds_served_.store(feeds_requested_, std::memory_order_release);
    }
  }
  // An escalation due and not yet taken: a daemon that cannot act must not look healthy.
  if (settings_.ping_period_ns > 0 && !out_.escalation_pending()) {
    if (now_ns - last_ping_ns_ >= settings_.ping_period_ns) {
      if (out_.watchdog_ping()) {
        last_ping_ns_ = now_ns;
      } else {
        // Not sent (the socket's queue is full): not counted, tried again at the next wakeup
        // that can carry a check, not a ping period later.
        next = std::min(next, now_ns + settings_.checker.heartbeat_interval_ns / 2 + 1);
      }
    }
    next = std::min(next, last_ping_ns_ + settings_.ping_period_ns);
  }
  return next;
}

void CheckRunner::run_check(const CheckCall& call) noexcept {
  const std::int64_t now_ns = call.now_ns;
  if (call.took_over_from >= 0) {
    frozen_owner_ = call.took_over_from;
    published_.stuck_owners.fetch_add(1, std::memory_order_relaxed);
  }
  (void)gate_.take_request();  // what was asked before this point is applied below
  events_.clear();
  apply_pending(now_ns, events_);
  // One group per check: the checking CPU's own when its slot asked for attention (a recovery, a
  // new or returning heartbeat: reported without waiting for a deadline), else the most overdue.
  const int group = call.attention && call.cpu >= 0 && call.cpu < checker_.slot_count()
                        ? checker_.group_of(call.cpu)
                        : checker_.earliest_group();
  checker_.tick_group_into(group, now_ns, out_.boot_ns(), events_,
                           CheckContext{call.cpu, call.late_ns});
  // A check owner frozen mid-check and taken over resumes here: everything it decided is stale.
  if (!gate_.owns(call.claim)) return;
  bool wake = false;
  for (CheckEvent& e : events_) {
    if (e.kind == EventKind::kStall && e.cpu == frozen_owner_ && frozen_owner_ >= 0) {
      e.owner_stuck = true;
      frozen_owner_ = -1;
    }
    if (e.kind == EventKind::kEscalation) {
      // Drill-ness is decided here, where the feeding is: from what the dispatcher posted when
      // it read the announcement. A drill's escalation stops nothing and is acted on by nothing.
      if (now_ns <= drill_until(e.cpu)) {
        e.drill = true;
      } else {
        if (feed_ != nullptr) feed_->escalation_due(now_ns);
        out_.request_escalation(call.cpu, e);  // taken now, whatever the reporting side does
      }
    }
    if (e.kind == EventKind::kGlobalPause)
      published_.global_pauses.fetch_add(1, std::memory_order_relaxed);
    if (e.kind == EventKind::kBlackout)
      published_.blackouts.fetch_add(1, std::memory_order_relaxed);
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
  const std::int64_t next = outputs_and_deadline(call.cpu, now_ns);
  gate_.release(call.claim, next);
  if (wake) out_.wake_dispatcher(call.cpu);
  if (const std::int64_t end = out_.mono_ns(); end > now_ns) {
    const std::int64_t hold = end - now_ns;
    published_.check_hold_ns_total.fetch_add(static_cast<std::uint64_t>(hold),
                                             std::memory_order_relaxed);
    if (hold > published_.check_hold_max_ns.load(std::memory_order_relaxed))
      published_.check_hold_max_ns.store(hold, std::memory_order_relaxed);
  }
}

}  // namespace stallwatch::daemon
