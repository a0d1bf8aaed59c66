// SPDX-License-Identifier: GPL-2.0-or-later
#include "stallwatch/checker.h"

#include <algorithm>

#include <fmt/format.h>

namespace stallwatch {

std::string_view to_string(EventKind kind) {
  switch (kind) {
    case EventKind::kStall: return "stall";
    case EventKind::kOngoing: return "ongoing";
    case EventKind::kRecovered: return "recovered";
    case EventKind::kGlobalPause: return "global-pause";
    case EventKind::kEscalation: return "escalation";
  }
  return "unknown";
}

const char* to_string(CpuState s) {
  switch (s) {
    case CpuState::kUnmonitored: return "unmonitored";
    case CpuState::kStarting: return "starting";
    case CpuState::kHealthy: return "healthy";
    case CpuState::kStalled: return "stalled";
  }
  return "unknown";
}

CheckerSettings CheckerSettings::from(const Config& c) {
  CheckerSettings s;
  s.interval_ns = c.checker.interval.count();
  s.threshold_ns = c.checker.threshold.count();
  s.repeat_ns = c.checker.repeat_interval.count();
  s.pause_tolerance_ns = c.checker.pause_tolerance.count();
  s.escalation_after_ns =
      c.escalation.action == EscalationAction::kNone ? 0 : c.escalation.after.count();
  s.heartbeat_interval_ns = c.heartbeat.interval.count();
  return s;
}

std::int64_t lateness_percentile_ns(const HeartbeatSlot& slot, double q) {
  std::uint64_t total = 0;
  std::array<std::uint64_t, kLatenessBuckets> counts{};
  for (int i = 0; i < kLatenessBuckets; ++i) {
    counts[static_cast<std::size_t>(i)] =
        slot.late_hist[static_cast<std::size_t>(i)].load(std::memory_order_relaxed);
    total += counts[static_cast<std::size_t>(i)];
  }
  if (total == 0) return 0;
  auto rank = static_cast<std::uint64_t>(q * static_cast<double>(total));
  if (rank >= total) rank = total - 1;
  std::uint64_t seen = 0;
  for (int i = 0; i < kLatenessBuckets; ++i) {
    seen += counts[static_cast<std::size_t>(i)];
    if (seen > rank) return (std::int64_t{1} << (i + 1)) - 1;
  }
  return slot.late_max_ns.load(std::memory_order_relaxed);
}

Checker::Checker(HeartbeatSlot* slots, int slot_count, CheckerSettings settings)
    : slots_(slots), cpus_(static_cast<std::size_t>(slot_count)), settings_(settings) {}

void Checker::set_monitored(int cpu, bool monitored, std::int64_t now_ns) {
  if (cpu < 0 || cpu >= slot_count()) return;
  PerCpu& c = cpus_[static_cast<std::size_t>(cpu)];
  std::uint64_t stalls = c.stalls;
  c = PerCpu{};
  c.stalls = stalls;
  c.state = monitored ? CpuState::kStarting : CpuState::kUnmonitored;
  ++changes_;
  c.baseline_ns = now_ns;
  c.seq_at_last_tick = slots_[cpu].seq.load(std::memory_order_relaxed);
}

bool Checker::all_started() const {
  return std::none_of(cpus_.begin(), cpus_.end(),
                      [](const PerCpu& c) { return c.state == CpuState::kStarting; });
}

std::vector<int> Checker::stalled_cpus() const {
  std::vector<int> out;
  for (std::size_t i = 0; i < cpus_.size(); ++i)
    if (cpus_[i].state == CpuState::kStalled) out.push_back(static_cast<int>(i));
  return out;
}

CpuView Checker::view(int cpu) const {
  CpuView v;
  if (cpu < 0 || cpu >= slot_count()) return v;
  const PerCpu& c = cpus_[static_cast<std::size_t>(cpu)];
  v.state = c.state;
  v.age_ns = c.age_ns;
  v.stalls = c.stalls;
  v.suspect = c.suspect || c.state == CpuState::kStalled;
  v.episode_ns = c.state == CpuState::kStalled ? c.age_ns : 0;
  return v;
}

// The check ran late. If every heartbeat was frozen as well (none stamped steadily meanwhile)
// the whole machine paused: VM pause, SMI storm, suspend. If some heartbeat kept stamping, only
// the check was held up (e.g. the CPU of the heartbeat that would have run it stalled): not global.
bool Checker::was_global_pause(std::int64_t elapsed_ns) const {
  const std::int64_t expected = elapsed_ns / std::max<std::int64_t>(settings_.heartbeat_interval_ns, 1);
  const auto alive_stamps = static_cast<std::uint64_t>(std::max<std::int64_t>(2, expected / 2));
  for (std::size_t i = 0; i < cpus_.size(); ++i) {
    const PerCpu& c = cpus_[i];
    if (c.state == CpuState::kUnmonitored) continue;
    std::uint64_t seq = slots_[i].seq.load(std::memory_order_relaxed);
    if (seq - c.seq_at_last_tick >= alive_stamps) return false;
  }
  return true;
}

void Checker::rebaseline(std::int64_t now_ns) {
  for (auto& c : cpus_)
    if (c.state == CpuState::kHealthy || c.state == CpuState::kStarting) c.baseline_ns = now_ns;
}

StallEvent to_stall_event(const CheckEvent& c) {
  StallEvent e;
  e.kind = c.kind;
  e.cpu = c.cpu;
  e.stall_ns = c.stall_ns;
  e.threshold_ns = c.threshold_ns;
  e.detected_mono_ns = c.detected_mono_ns;
  e.stall_start_mono_ns = c.stall_start_mono_ns;
  e.episode = c.episode;
  e.owner_stuck = c.owner_stuck;
  const double s = static_cast<double>(c.stall_ns) / 1e9;
  if (c.pause_cause == PauseCause::kSuspend)
    e.note = fmt::format("system was suspended for {:.3f}s (CLOCK_BOOTTIME advanced past "
                         "CLOCK_MONOTONIC)", s);
  else if (c.pause_cause == PauseCause::kFreeze)
    e.note = fmt::format("the check was {:.3f}s late and no heartbeat ran meanwhile (VM pause, "
                         "SMI or freeze)", s);
  else if (c.owner_stuck)
    e.note = "the CPU froze while its heartbeat was running the check; another CPU's heartbeat "
             "reported it";
  return e;
}

std::vector<StallEvent> Checker::tick(std::int64_t now_ns, std::int64_t now_boot_ns) {
  std::vector<CheckEvent> raw;
  raw.reserve(max_events());
  const std::int64_t planned = last_tick_ns_ == 0 ? now_ns : last_tick_ns_ + settings_.interval_ns;
  tick_into(now_ns, now_boot_ns, planned, raw);
  std::vector<StallEvent> out;
  out.reserve(raw.size());
  for (const auto& e : raw) out.push_back(to_stall_event(e));
  return out;
}

void Checker::tick_into(std::int64_t now_ns, std::int64_t now_boot_ns, std::int64_t planned_ns,
                        std::vector<CheckEvent>& events) {
  const std::int64_t boot_offset = now_boot_ns - now_ns;
  healthy_ = true;
  if (last_tick_ns_ != 0) {
    const std::int64_t elapsed = now_ns - last_tick_ns_;
    // A check waits for the next heartbeat to wake after its deadline: up to one heartbeat
    // interval past the plan is the normal case, not lateness.
    const std::int64_t late = now_ns - std::max(planned_ns, last_tick_ns_) - settings_.heartbeat_interval_ns;
    const std::int64_t suspended = boot_offset - last_boot_offset_ns_;
    PauseCause cause = PauseCause::kNone;
    std::int64_t pause_ns = 0;
    // A suspend is seconds long; a few ms of difference is two clock reads being preempted.
    if (suspended > std::min<std::int64_t>(100'000'000, settings_.pause_tolerance_ns)) {
      cause = PauseCause::kSuspend;
      pause_ns = suspended;
    } else if (late > settings_.pause_tolerance_ns && was_global_pause(elapsed)) {
      cause = PauseCause::kFreeze;
      pause_ns = late;
    }
    if (cause != PauseCause::kNone) {
      healthy_ = false;
      rebaseline(now_ns);
      CheckEvent e;
      e.kind = EventKind::kGlobalPause;
      e.pause_cause = cause;
      e.stall_ns = pause_ns;
      e.threshold_ns = settings_.threshold_ns;
      e.detected_mono_ns = now_ns;
      e.stall_start_mono_ns = last_tick_ns_;
      events.push_back(e);
    }
  }
  last_tick_ns_ = now_ns;
  last_boot_offset_ns_ = boot_offset;

  std::int64_t next = now_ns + settings_.interval_ns;
  stalled_count_ = monitored_count_ = 0;
  for (std::size_t i = 0; i < cpus_.size(); ++i) {
    PerCpu& c = cpus_[i];
    if (c.state == CpuState::kUnmonitored) continue;
    ++monitored_count_;
    HeartbeatSlot& slot = slots_[i];
    const std::int64_t last = slot.last_ns.load(std::memory_order_acquire);
    const std::uint64_t seq = slot.seq.load(std::memory_order_relaxed);
    c.seq_at_last_tick = seq;
    const std::int64_t base = std::max(last, c.baseline_ns);
    c.age_ns = std::max<std::int64_t>(0, now_ns - base);
    const int cpu = static_cast<int>(i);

    auto make = [&](EventKind kind, std::int64_t stall_ns) {
      CheckEvent e;
      e.kind = kind;
      e.cpu = cpu;
      e.stall_ns = stall_ns;
      e.threshold_ns = settings_.threshold_ns;
      e.detected_mono_ns = now_ns;
      e.stall_start_mono_ns = c.episode_start_ns;
      e.episode = c.episode;
      return e;
    };
    // Deadlines of a stalled CPU: its repeat report and, if due, its escalation. Its recovery
    // comes through the slot's attention flag.
    auto stalled_deadlines = [&] {
      next = std::min(next, c.next_report_ns);
      if (settings_.escalation_after_ns > 0 && !c.escalated)
        next = std::min(next, c.episode_start_ns + settings_.escalation_after_ns);
    };

    if (c.state == CpuState::kStalled) {
      if (seq != c.episode_seq && last > c.episode_start_ns) {
        // Stamped again: the heartbeat's silence ran from its last stamp before the stall to
        // this first stamp after it.
        events.push_back(make(EventKind::kRecovered, last - c.episode_start_ns));
        c.state = CpuState::kHealthy;
        c.suspect = false;  // its heartbeat runs again
        ++changes_;
        slot.attention.store(0, std::memory_order_relaxed);
        c.age_ns = std::max<std::int64_t>(0, now_ns - last);
        next = std::min(next, last + settings_.threshold_ns + 1);
        continue;
      }
      if (settings_.escalation_after_ns > 0 && !c.escalated &&
          c.age_ns >= settings_.escalation_after_ns) {
        c.escalated = true;
        events.push_back(make(EventKind::kEscalation, c.age_ns));
      }
      if (now_ns >= c.next_report_ns) {
        events.push_back(make(EventKind::kOngoing, c.age_ns));
        c.next_report_ns = now_ns + settings_.repeat_ns;
      }
      stalled_deadlines();
      continue;
    }

    if (c.state == CpuState::kStarting && last != 0) {
      c.state = CpuState::kHealthy;
      ++changes_;
    }
    if (c.age_ns > settings_.threshold_ns) {
      // A heartbeat that never stamped within the threshold is stalled too (e.g. a hog was
      // already running when we started); its silence counts from its start.
      c.state = CpuState::kStalled;
      ++changes_;
      c.episode_start_ns = base;
      c.episode_seq = seq;
      c.episode = next_episode_++;
      c.escalated = false;
      c.next_report_ns = now_ns + settings_.repeat_ns;
      ++c.stalls;
      ++stalls_total_;
      slot.attention.store(1, std::memory_order_relaxed);
      events.push_back(make(EventKind::kStall, c.age_ns));
      if (settings_.escalation_after_ns > 0 && c.age_ns >= settings_.escalation_after_ns) {
        c.escalated = true;
        events.push_back(make(EventKind::kEscalation, c.age_ns));
      }
      stalled_deadlines();
      continue;
    }
    // Healthy: the counter baseline is due at half the threshold, the stall at the threshold.
    const std::int64_t half = settings_.threshold_ns / 2;
    if (c.age_ns > half && !c.suspect) {
      c.suspect = true;
      ++suspects_;
      ++changes_;
    } else if (c.age_ns <= half && c.suspect) {
      c.suspect = false;
      ++changes_;
    }
    next = std::min(next, base + (c.suspect ? settings_.threshold_ns : half) + 1);
  }
  for (const auto& c : cpus_) stalled_count_ += c.state == CpuState::kStalled;
  next_deadline_ns_ = std::max(next, now_ns + 1);
}

}  // namespace stallwatch
