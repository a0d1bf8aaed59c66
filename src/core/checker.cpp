// SPDX-License-Identifier: GPL-2.0-or-later
#include "stallwatch/core/checker.h"

#include <algorithm>
#include <limits>

#include <fmt/format.h>

namespace stallwatch {

std::string_view to_string(EventKind kind) {
  switch (kind) {
    case EventKind::kStall: return "stall";
    case EventKind::kOngoing: return "ongoing";
    case EventKind::kRecovered: return "recovered";
    case EventKind::kGlobalPause: return "global-pause";
    case EventKind::kEscalation: return "escalation";
    case EventKind::kDisplaced: return "displaced";
    case EventKind::kBlackout: return "blackout";
  }
  return "unknown";
}

const char* to_string(CpuState s) {
  switch (s) {
    case CpuState::kUnmonitored: return "unmonitored";
    case CpuState::kStarting: return "starting";
    case CpuState::kHealthy: return "healthy";
    case CpuState::kStalled: return "stalled";
    case CpuState::kDisplaced: return "displaced";
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

Checker::Checker(HeartbeatSlot* slots, int slot_count, CheckerSettings settings, int group_cpus)
    : slots_(slots),
      cpus_(static_cast<std::size_t>(slot_count)),
      group_cpus_(std::max(1, group_cpus)),
      group_next_(static_cast<std::size_t>((slot_count + group_cpus_ - 1) / group_cpus_), 0),
      groups_(group_next_.size()),
      dirty_(group_next_.size(), 1),
      settings_(settings) {}

int Checker::earliest_group() const {
  int best = 0;
  for (std::size_t g = 1; g < group_next_.size(); ++g)
    if (group_next_[g] < group_next_[static_cast<std::size_t>(best)]) best = static_cast<int>(g);
  return best;
}

std::int64_t Checker::next_deadline_ns() const {
  if (group_next_.empty()) return 0;
  return group_next_[static_cast<std::size_t>(earliest_group())];
}

void Checker::request_all() { std::fill(group_next_.begin(), group_next_.end(), 0); }

void Checker::recount(int group) {
  GroupCounts n;
  const std::size_t begin = static_cast<std::size_t>(group) * static_cast<std::size_t>(group_cpus_);
  const std::size_t end = std::min(cpus_.size(), begin + static_cast<std::size_t>(group_cpus_));
  for (std::size_t i = begin; i < end; ++i) {
    n.monitored += cpus_[i].state != CpuState::kUnmonitored;
    n.stalled += cpus_[i].state == CpuState::kStalled;
    n.starting += cpus_[i].state == CpuState::kStarting;
  }
  GroupCounts& o = groups_[static_cast<std::size_t>(group)];
  monitored_total_ += n.monitored - o.monitored;
  stalled_total_ += n.stalled - o.stalled;
  starting_total_ += n.starting - o.starting;
  o = n;
}

std::int64_t Checker::late_bound_ns(std::int64_t heartbeat_interval_ns) {
  // Wakeup latency of a real-time heartbeat is microseconds; half an interval late is not jitter.
  return std::max<std::int64_t>(heartbeat_interval_ns / 2, 10'000'000);
}

void Checker::set_monitored(int cpu, bool monitored, std::int64_t now_ns) {
  if (cpu < 0 || cpu >= slot_count()) return;
  PerCpu& c = cpus_[static_cast<std::size_t>(cpu)];
  std::uint64_t stalls = c.stalls;
  const bool sentinel = c.sentinel;
  // A blackout awaiting its verdict keeps this CPU's silence: a CPU taken offline (or moved)
  // right after being held with the others was still held (stop_machine before a hotplug), and
  // the verdict attributes it. Its silence ends here if it had not ended yet.
  const std::int64_t since = c.blackout_since_ns;
  std::int64_t until = c.blackout_until_ns;
  if (since >= 0 && until == 0 && !monitored) {
    const std::int64_t last =
        slots_[static_cast<std::size_t>(cpu)].last_ns.load(std::memory_order_relaxed);
    until = last > since ? last : now_ns;
  }
  c = PerCpu{};
  c.stalls = stalls;
  if (pending_id_ != 0) {
    c.blackout_since_ns = since;
    c.blackout_until_ns = until;
  }
  c.sentinel = sentinel && !monitored;
  c.state = monitored ? CpuState::kStarting : CpuState::kUnmonitored;
  changed(static_cast<std::size_t>(cpu));
  c.baseline_ns = now_ns;
  recount(group_of(cpu));
  request_group(group_of(cpu));
}

void Checker::set_sentinel(int cpu, bool sentinel) {
  if (cpu < 0 || cpu >= slot_count()) return;
  PerCpu& c = cpus_[static_cast<std::size_t>(cpu)];
  c.sentinel = sentinel && c.state == CpuState::kUnmonitored;
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
  e.moved_to = c.moved_to;
  e.cascade_cpus = c.cascade_cpus;
  e.after_the_fact = c.after_the_fact;
  e.drill = c.drill;
  const double s = static_cast<double>(c.stall_ns) / 1e9;
  if (c.pause_cause == PauseCause::kSuspend)
    e.note = fmt::format("system was suspended for {:.3f}s (CLOCK_BOOTTIME advanced past "
                         "CLOCK_MONOTONIC)",
                         s);
  else if (c.pause_cause == PauseCause::kFreeze)
    e.note = fmt::format("every heartbeat was silent for {:.3f}s and none waited runnable on its "
                         "CPU meanwhile (VM pause, SMI storm, or the daemon frozen: SIGSTOP, "
                         "cgroup freezer, debugger); the time is not counted",
                         s);
  std::string more;
  if (c.owner_stuck)
    more += "the CPU froze while its heartbeat was running the check; another CPU's heartbeat "
            "took the check over";
  if (c.after_the_fact)
    more += std::string(more.empty() ? "" : "; ") +
            "found after it ended: every heartbeat was held up with it, so no check could run";
  if (c.cascade_cpus > 0)
    more += std::string(more.empty() ? "" : "; ") +
            fmt::format("{} other CPU(s) went silent after it and are attributed to it (their "
                        "heartbeats waited behind this CPU: stop_machine, an IPI, a lock)",
                        c.cascade_cpus);
  if (!more.empty()) e.note = e.note.empty() ? more : e.note + "; " + more;
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

// A heartbeat that stamped on time was running then; one that stamped late was silent from its
// deadline on (the wakeup it missed). The checking heartbeat's own wakeup counts the same way
// (it may not have stamped: a displaced heartbeat's stamps do not count for its CPU).
std::int64_t Checker::last_life_ns(std::int64_t now_ns, const CheckContext& ctx,
                                   std::int64_t enough_ns) const {
  const std::int64_t bound = late_bound_ns(settings_.heartbeat_interval_ns);
  std::int64_t life = now_ns - ctx.late_ns;
  for (std::size_t i = 0; i < cpus_.size() && life <= enough_ns; ++i) {
    const PerCpu& c = cpus_[i];
    if (c.state == CpuState::kUnmonitored && !c.sentinel) continue;
    const std::int64_t last = slots_[i].last_ns.load(std::memory_order_relaxed);
    if (last <= 0 || last > now_ns) continue;
    const std::int64_t late = slots_[i].last_late_ns.load(std::memory_order_relaxed);
    life = std::max(life, late > bound ? last - late : last);
  }
  return life;
}

// Every silent CPU's age is withheld the blackout's length until the verdict (pending_ns), and
// each CPU's silence is noted for the verdict (who went silent first).
void Checker::blackout(std::int64_t start_ns, std::int64_t now_ns, std::vector<CheckEvent>& out) {
  const std::int64_t length = now_ns - start_ns;
  const std::int64_t bound = late_bound_ns(settings_.heartbeat_interval_ns);
  if (pending_id_ == 0) {
    pending_start_ns_ = start_ns;
    for (auto& c : cpus_) c.blackout_since_ns = -1;
  }
  pending_id_ = ++blackouts_;  // a blackout before the verdict on the previous merges into it
  for (std::size_t i = 0; i < cpus_.size(); ++i) {
    PerCpu& c = cpus_[i];
    if (c.state == CpuState::kUnmonitored || c.state == CpuState::kDisplaced) continue;
    const std::int64_t last = slots_[i].last_ns.load(std::memory_order_relaxed);
    // A CPU already stalled has its episode: its silence is not news to the verdict.
    const bool reported = c.state == CpuState::kStalled;
    if (last > start_ns) {
      // It has stamped since, late: silent from its previous stamp (about a heartbeat interval
      // before the deadline it missed) to this one. Its age is fresh: nothing to withhold.
      const std::int64_t late = slots_[i].last_late_ns.load(std::memory_order_relaxed);
      if (late > bound && c.blackout_since_ns < 0 && !reported) {
        c.blackout_since_ns = last - late - settings_.heartbeat_interval_ns;
        c.blackout_until_ns = last;
      }
      continue;
    }
    if (c.credit_last_ns != last) {
      c.credit_last_ns = last;
      c.credit_ns = 0;
      c.pending_ns = 0;
    }
    c.pending_ns += length;
    if (c.blackout_since_ns < 0 && !reported) {
      c.blackout_since_ns = last;
      c.blackout_until_ns = 0;
    }
  }
  CheckEvent e;
  e.kind = EventKind::kBlackout;
  e.stall_ns = now_ns - pending_start_ns_;
  e.threshold_ns = settings_.threshold_ns;
  e.detected_mono_ns = now_ns;
  e.stall_start_mono_ns = pending_start_ns_;
  e.episode = pending_id_;
  out.push_back(e);
}

// The time is not counted for good: confirmed credit for every CPU that was silent through it.
void Checker::freeze(std::int64_t pause_ns, std::int64_t since_ns, std::int64_t now_ns,
                     PauseCause cause, std::vector<CheckEvent>& out) {
  for (std::size_t i = 0; i < cpus_.size(); ++i) {
    PerCpu& c = cpus_[i];
    if (cause == PauseCause::kSuspend) {
      const std::int64_t last = slots_[i].last_ns.load(std::memory_order_relaxed);
      if (c.credit_last_ns != last) {
        c.credit_last_ns = last;
        c.credit_ns = 0;
        c.pending_ns = 0;
      }
      c.credit_ns += pause_ns;
    } else {
      c.credit_ns += c.pending_ns;
      c.pending_ns = 0;
    }
  }
  CheckEvent e;
  e.kind = EventKind::kGlobalPause;
  e.pause_cause = cause;
  e.stall_ns = pause_ns;
  e.threshold_ns = settings_.threshold_ns;
  e.detected_mono_ns = now_ns;
  e.stall_start_mono_ns = since_ns;
  out.push_back(e);
}

void Checker::apply_verdict(std::uint64_t id, bool starved, int root_cpu, std::int64_t now_ns,
                            std::vector<CheckEvent>& out) {
  if (id == 0 || id != pending_id_) return;
  pending_id_ = 0;
  const std::int64_t start = pending_start_ns_;
  if (!starved) {
    for (auto& c : cpus_) c.blackout_since_ns = -1;
    freeze(blackout_end_ns_ - start, start, now_ns, PauseCause::kFreeze, out);
    return;
  }
  // A stall: the silence counts. The CPU whose silence began first started it; the CPUs that
  // went silent after it and have spoken again since are attributed to it. A CPU still silent
  // is reported by the tick that follows, by its age, as any stall.
  int origin = -1;
  int silent = 0;
  std::int64_t origin_since = 0, origin_until = 0;
  bool root_silent = false;  // root_cpu is one of the silent CPUs
  std::int64_t root_since = 0, root_until = 0;
  for (std::size_t i = 0; i < cpus_.size(); ++i) {
    PerCpu& c = cpus_[i];
    c.pending_ns = 0;
    if (c.blackout_since_ns < 0 || c.state == CpuState::kStalled) continue;
    std::int64_t until = c.blackout_until_ns;
    if (until == 0) {
      const std::int64_t last = slots_[i].last_ns.load(std::memory_order_relaxed);
      until = last > c.blackout_since_ns ? last : 0;  // 0: still silent
    }
    const std::int64_t silence = (until != 0 ? until : now_ns) - c.blackout_since_ns - c.credit_ns;
    if (silence <= settings_.threshold_ns) continue;
    ++silent;
    if (static_cast<int>(i) == root_cpu) {
      root_silent = true;
      root_since = c.blackout_since_ns;
      root_until = until;
    }
    if (origin < 0 || c.blackout_since_ns < origin_since) {
      origin = static_cast<int>(i);
      origin_since = c.blackout_since_ns;
      origin_until = until;
    }
  }
  // Stamps prove the oldest silence first only if it began a whole interval before the root's.
  if (root_silent && root_cpu != origin &&
      root_since < origin_since + settings_.heartbeat_interval_ns) {
    origin = root_cpu;
    origin_since = root_since;
    origin_until = root_until;
  }
  for (auto& c : cpus_) c.blackout_since_ns = -1;
  request_all();  // the silence counts again: every group's deadlines move
  if (origin < 0) return;
  PerCpu& c = cpus_[static_cast<std::size_t>(origin)];
  c.cascade_cpus = silent - 1;
  if (origin_until == 0) return;  // still silent: the tick reports it, with the cascade
  // Already over: a stall found after the fact, and its end.
  CheckEvent e;
  e.kind = EventKind::kStall;
  e.cpu = origin;
  e.stall_ns = origin_until - origin_since;
  e.threshold_ns = settings_.threshold_ns;
  e.detected_mono_ns = now_ns;
  e.stall_start_mono_ns = origin_since;
  e.episode = next_episode_++;
  e.cascade_cpus = c.cascade_cpus;
  e.after_the_fact = true;
  ++c.stalls;
  ++stalls_total_;
  changed(static_cast<std::size_t>(origin));
  c.cascade_cpus = 0;
  out.push_back(e);
  e.kind = EventKind::kRecovered;
  e.after_the_fact = false;
  e.cascade_cpus = 0;
  out.push_back(e);
}

void Checker::tick_into(std::int64_t now_ns, std::int64_t now_boot_ns, std::int64_t planned_ns,
                        std::vector<CheckEvent>& events, CheckContext ctx) {
  (void)planned_ns;  // lateness is the checking heartbeat's own (ctx), not the deadline's
  guards(now_ns, now_boot_ns, events, ctx);
  for (int g = 0; g < group_count(); ++g) scan_group(g, now_ns, events);
}

void Checker::tick_group_into(int group, std::int64_t now_ns, std::int64_t now_boot_ns,
                              std::vector<CheckEvent>& events, CheckContext ctx) {
  if (group < 0 || group >= group_count()) return;
  guards(now_ns, now_boot_ns, events, ctx);
  scan_group(group, now_ns, events);
}

void Checker::guards(std::int64_t now_ns, std::int64_t now_boot_ns, std::vector<CheckEvent>& events,
                     const CheckContext& ctx) {
  const std::int64_t boot_offset = now_boot_ns - now_ns;
  healthy_ = true;
  if (last_tick_ns_ != 0) {
    const std::int64_t suspended = boot_offset - last_boot_offset_ns_;
    // A suspend is seconds long; a few ms of difference is two clock reads being preempted.
    if (suspended > std::min<std::int64_t>(100'000'000, settings_.pause_tolerance_ns)) {
      healthy_ = false;
      freeze(suspended, last_tick_ns_, now_ns, PauseCause::kSuspend, events);
    } else if (ctx.late_ns > late_bound_ns(settings_.heartbeat_interval_ns)) {
      // Healthy heartbeats stamp at least once an interval: a longer silence of all is news.
      const std::int64_t enough =
          now_ns - settings_.heartbeat_interval_ns - late_bound_ns(settings_.heartbeat_interval_ns);
      const std::int64_t start =
          blackout_end_ns_ >= enough
              ? blackout_end_ns_
              : std::max(last_life_ns(now_ns, ctx, enough), blackout_end_ns_);
      if (start < enough) {
        healthy_ = false;
        blackout(start, now_ns, events);
        blackout_end_ns_ = now_ns;
      }
    }
  }
  last_tick_ns_ = now_ns;
  last_boot_offset_ns_ = boot_offset;
}

void Checker::scan_group(int group, std::int64_t now_ns, std::vector<CheckEvent>& events) {
  std::int64_t next = now_ns + settings_.interval_ns;
  const std::size_t begin = static_cast<std::size_t>(group) * static_cast<std::size_t>(group_cpus_);
  const std::size_t end = std::min(cpus_.size(), begin + static_cast<std::size_t>(group_cpus_));
  GroupCounts n;
  for (std::size_t i = begin; i < end; ++i) {
    // The next CPU's two lines are fetched while this one is decided: with cold caches the
    // misses overlap instead of following one another.
    if (i + 2 < end) {
      __builtin_prefetch(&slots_[i + 2]);
      __builtin_prefetch(&cpus_[i + 2]);
    }
    const PerCpu& c = cpus_[i];
    if (c.state == CpuState::kUnmonitored) continue;
    next = std::min(next, scan_cpu(i, now_ns, events));
    ++n.monitored;
    n.stalled += c.state == CpuState::kStalled;
    n.starting += c.state == CpuState::kStarting;
  }
  GroupCounts& o = groups_[static_cast<std::size_t>(group)];
  monitored_total_ += n.monitored - o.monitored;
  stalled_total_ += n.stalled - o.stalled;
  starting_total_ += n.starting - o.starting;
  o = n;
  group_next_[static_cast<std::size_t>(group)] = std::max(next, now_ns + 1);
}

// One monitored CPU's part of a check; returns its own next deadline.
[[gnu::always_inline]] inline std::int64_t Checker::scan_cpu(std::size_t i, std::int64_t now_ns,
                                                             std::vector<CheckEvent>& events) {
  std::int64_t next = std::numeric_limits<std::int64_t>::max();  // a local: never aliased
  PerCpu& c = cpus_[i];
  HeartbeatSlot& slot = slots_[i];
  // seq first (acquire), then last_ns: a new seq always comes with its last_ns (stamp()).
  const std::uint64_t seq = slot.seq.load(std::memory_order_acquire);
  const std::int64_t last = slot.last_ns.load(std::memory_order_relaxed);
  const int displaced = slot.displaced_on.load(std::memory_order_acquire);
  const std::uint32_t displacements = slot.displacements.load(std::memory_order_relaxed);
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

  // A heartbeat found on another CPU speaks for no CPU: not healthy, not stalled, not
  // monitored, until it is back on its own (it puts itself back; see heartbeat.cpp).
  // Counted too: a heartbeat that put itself back before any check saw it was still moved.
  if (displaced >= 0 || displacements != c.displacements_seen) {
    c.displacements_seen = displacements;
    if (c.state != CpuState::kDisplaced) {
      CheckEvent e = make(EventKind::kDisplaced, 0);
      e.moved_to = slot.moved_to.load(std::memory_order_relaxed);
      events.push_back(e);
      c.state = CpuState::kDisplaced;
      c.suspect = false;
      c.escalated = false;
      c.pending_ns = c.credit_ns = 0;
      slot.attention.store(0, std::memory_order_relaxed);
      changed(i);
    }
    if (displaced >= 0) return next;
  }
  if (c.state == CpuState::kDisplaced) {
    // Back: monitored again from the moment it was put back (its stamps from elsewhere never
    // counted). If its CPU is busy now, it cannot stamp and that is a stall.
    const std::int64_t placed = slot.placed_ns.load(std::memory_order_relaxed);
    c.state = CpuState::kStarting;
    c.baseline_ns = displaced == kReturning && placed > 0 ? std::min(placed, now_ns) : now_ns;
    CheckEvent e = make(EventKind::kDisplaced, 0);
    e.moved_to = -1;
    events.push_back(e);
    changed(i);
  }

  if (c.credit_last_ns != last && c.state != CpuState::kStalled) {
    c.credit_last_ns = -1;  // it stamped: withheld time no longer matters
    c.credit_ns = c.pending_ns = 0;
  }
  const std::int64_t withheld = c.credit_last_ns == last ? c.credit_ns + c.pending_ns : 0;
  const std::int64_t base = std::max(last, c.baseline_ns);
  c.age_ns = std::max<std::int64_t>(0, now_ns - base - withheld);

  // Deadlines of a stalled CPU: its repeat report and, if due, its escalation. Its recovery
  // comes through the slot's attention flag.
  auto stalled_deadlines = [&] {
    next = std::min(next, c.next_report_ns);
    if (settings_.escalation_after_ns > 0 && !c.escalated)
      next = std::min(next, base + withheld + settings_.escalation_after_ns);
  };

  if (c.state == CpuState::kStalled) {
    if (seq != c.episode_seq && last > c.episode_start_ns) {
      // Stamped again: the heartbeat's silence ran from its last stamp before the stall to
      // this first stamp after it (time withheld as a freeze not counted).
      const std::int64_t paused = c.credit_last_ns == c.episode_start_ns ? c.credit_ns : 0;
      events.push_back(make(EventKind::kRecovered, last - c.episode_start_ns - paused));
      c.state = CpuState::kHealthy;
      c.suspect = false;  // its heartbeat runs again
      c.credit_last_ns = -1;
      c.credit_ns = c.pending_ns = 0;
      changed(i);
      slot.attention.store(0, std::memory_order_relaxed);
      c.age_ns = std::max<std::int64_t>(0, now_ns - last);
      next = std::min(next, last + settings_.threshold_ns + 1);
      return next;
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
    return next;
  }

  if (c.state == CpuState::kStarting && last != 0 && last >= c.baseline_ns) {
    c.state = CpuState::kHealthy;
    changed(i);
  }
  if (c.age_ns > settings_.threshold_ns) {
    // A heartbeat that never stamped within the threshold is stalled too (e.g. a hog was
    // already running when we started); its silence counts from its start.
    c.state = CpuState::kStalled;
    changed(i);
    c.episode_start_ns = base;
    c.episode_seq = seq;
    c.episode = next_episode_++;
    c.escalated = false;
    c.next_report_ns = now_ns + settings_.repeat_ns;
    ++c.stalls;
    ++stalls_total_;
    slot.attention.store(1, std::memory_order_relaxed);
    CheckEvent e = make(EventKind::kStall, c.age_ns);
    e.cascade_cpus = c.cascade_cpus;
    c.cascade_cpus = 0;
    events.push_back(e);
    if (settings_.escalation_after_ns > 0 && c.age_ns >= settings_.escalation_after_ns) {
      c.escalated = true;
      events.push_back(make(EventKind::kEscalation, c.age_ns));
    }
    stalled_deadlines();
    return next;
  }
  // Healthy: the counter baseline is due at half the threshold, the stall at the threshold.
  const std::int64_t half = settings_.threshold_ns / 2;
  if (c.age_ns > half && !c.suspect) {
    c.suspect = true;
    ++suspects_;
    changed(i);
  } else if (c.age_ns <= half && c.suspect) {
    c.suspect = false;
    changed(i);
  }
  next = std::min(next, base + withheld + (c.suspect ? settings_.threshold_ns : half) + 1);
  return next;
}

}  // namespace stallwatch
