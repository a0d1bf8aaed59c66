// SPDX-License-Identifier: GPL-2.0-or-later
#include "stallwatch/evidence/timeline.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "stallwatch/core/sanitize.h"

namespace stallwatch::evidence {

namespace {

using json = nlohmann::json;

constexpr const char* kHeartbeatPrefix = "sw-hb/";

template <std::size_t N>
std::string comm_of(const char (&raw)[N]) {
  return sanitize_text(std::string_view(raw, ::strnlen(raw, sizeof raw)));
}

struct Running {
  bool known = false;
  std::int64_t start = 0;
  std::string comm;
  int pid = 0;
  int prio = 0;
};

TimelineSegment task_segment(const Running& r, std::int64_t end) {
  TimelineSegment s;
  s.start = r.start;
  s.end = end;
  s.pid = r.pid;
  s.prio = r.prio;
  if (r.pid == 0) {
    s.kind = SegmentKind::kIdle;
    s.label = "idle";
    s.comm = r.comm;
  } else {
    s.kind = SegmentKind::kTask;
    s.comm = r.comm;
    s.label = fmt::format("{}:{}", r.comm, r.pid);
  }
  return s;
}

struct OpenIrq {
  bool open = false;
  std::int64_t start = 0;
  int num = -1;
  std::string name;
};

std::string irq_label(int irq, const std::string& name) {
  if (irq == kLocalTimerIrq) return "local timer interrupt (LOC)";
  return name.empty() ? fmt::format("irq {}", irq) : fmt::format("irq {} ({})", irq, name);
}

// A hard-IRQ or softirq segment.
TimelineSegment handler_segment(SegmentKind kind, int num, std::int64_t start, std::int64_t end,
                                std::string label, bool open = false) {
  TimelineSegment s;
  s.kind = kind;
  s.num = num;
  s.start = start;
  s.end = end;
  s.label = std::move(label);
  s.open = open;
  return s;
}

std::int64_t overlap(const TimelineSegment& s, std::int64_t a, std::int64_t b) {
  return std::max<std::int64_t>(0, std::min(s.end, b) - std::max(s.start, a));
}

bool is_heartbeat(const TimelineSegment& s) {
  return s.kind == SegmentKind::kTask && s.comm.rfind(kHeartbeatPrefix, 0) == 0;
}

std::string ms_text(std::int64_t ns) { return fmt::format("{:.1f} ms", ns / 1e6); }

CpuTimeline build_cpu(int cpu, const std::vector<TraceEvent>& evs, const TimelineInput& in,
                      bool lost) {
  CpuTimeline ct;
  ct.cpu = cpu;
  ct.lost_events = lost;
  if (!evs.empty()) ct.first_event = evs.front().ts;
  const std::int64_t w0 = in.window_start, w1 = in.detected;
  Running cur;
  OpenIrq irq, soft;
  std::size_t i = 0;
  // Before the window: who was running when it opens, and any handler still inside.
  for (; i < evs.size() && evs[i].ts < w0; ++i) {
    const TraceEvent& e = evs[i];
    switch (e.kind) {
      case TraceKind::kSwitch: cur = Running{true, w0, comm_of(e.name), e.num, e.prio}; break;
      case TraceKind::kIrqEntry: irq = OpenIrq{true, w0, e.num, comm_of(e.name)}; break;
      case TraceKind::kIrqExit: irq.open = false; break;
      case TraceKind::kSoftirqEntry: soft = OpenIrq{true, w0, e.num, {}}; break;
      case TraceKind::kSoftirqExit: soft.open = false; break;
      case TraceKind::kRename:
        if (cur.known && cur.pid == e.num) cur.comm = comm_of(e.name);
        break;
    }
  }
  std::size_t end = i;
  while (end < evs.size() && evs[end].ts <= w1) ++end;
  if (!cur.known) {
    // The first switch in the window says who ran before it.
    for (std::size_t k = i; k < end; ++k)
      if (evs[k].kind == TraceKind::kSwitch) {
        cur = Running{true, std::max(w0, ct.first_event), comm_of(evs[k].prev_name),
                      evs[k].prev_pid, evs[k].prev_prio};
        break;
      }
  }
  for (; i < end; ++i) {
    const TraceEvent& e = evs[i];
    ++ct.events;
    switch (e.kind) {
      case TraceKind::kSwitch:
        ++ct.switches;
        if (cur.known && e.ts > cur.start) ct.segments.push_back(task_segment(cur, e.ts));
        cur = Running{true, e.ts, comm_of(e.name), e.num, e.prio};
        break;
      case TraceKind::kIrqEntry:
        if (e.num != kLocalTimerIrq) ++ct.irqs;  // device IRQs: the rate an operator looks for
        irq = OpenIrq{true, e.ts, e.num, comm_of(e.name)};
        break;
      case TraceKind::kIrqExit: {
        const bool paired = irq.open && irq.num == e.num;
        ct.segments.push_back(handler_segment(SegmentKind::kIrq, e.num, paired ? irq.start : w0,
                                              e.ts, irq_label(e.num, paired ? irq.name : "")));
        irq.open = false;
        break;
      }
      case TraceKind::kSoftirqEntry:
        ++ct.softirqs;
        soft = OpenIrq{true, e.ts, e.num, {}};
        break;
      case TraceKind::kSoftirqExit:
        ct.segments.push_back(handler_segment(SegmentKind::kSoftirq, e.num,
                                              soft.open ? soft.start : w0, e.ts,
                                              "softirq " + softirq_name(e.num)));
        soft.open = false;
        break;
      case TraceKind::kRename:  // not drawn: it renames the running task (exec, prctl)
        --ct.events;
        if (cur.known && cur.pid == e.num) cur.comm = comm_of(e.name);
        break;
    }
  }
  // What was still running at the window's end (a later event may end it; not in the window).
  if (cur.known && w1 > cur.start) {
    TimelineSegment s = task_segment(cur, w1);
    s.open = true;
    ct.segments.push_back(std::move(s));
  }
  if (irq.open)
    ct.segments.push_back(handler_segment(SegmentKind::kIrq, irq.num, irq.start, w1,
                                          irq_label(irq.num, irq.name), true));
  if (soft.open)
    ct.segments.push_back(handler_segment(SegmentKind::kSoftirq, soft.num, soft.start, w1,
                                          "softirq " + softirq_name(soft.num), true));
  const double window_s = static_cast<double>(w1 - w0) / 1e9;
  ct.irq_per_s = window_s > 0 ? static_cast<double>(ct.irqs) / window_s : 0;
  return ct;
}

bool seg_order(const TimelineSegment& a, const TimelineSegment& b) {
  if (a.start != b.start) return a.start < b.start;
  auto rank = [](SegmentKind k) { return k == SegmentKind::kTask || k == SegmentKind::kIdle; };
  return rank(a.kind) > rank(b.kind);  // a task before the handler that starts with it
}

// Keeps at most `limit` segments: the ones marked, then the longest; the rest are counted.
void bound(CpuTimeline* ct, std::size_t limit, std::int64_t keep_from) {
  auto& segs = ct->segments;
  if (segs.size() <= limit) {
    std::stable_sort(segs.begin(), segs.end(), seg_order);
    return;
  }
  auto must = [&](const TimelineSegment& s) { return s.open || s.end >= keep_from; };
  // Kept first: what ends in the part that must stay; then what ran (tasks, idle) before
  // interrupts, since a stalled CPU's ticks alone can outnumber the limit and the heartbeat's last
  // wakeup, the silence's anchor, is a few microseconds long; then the longest.
  auto ran = [](const TimelineSegment& s) {
    return s.kind != SegmentKind::kIrq && s.kind != SegmentKind::kSoftirq;
  };
  std::stable_sort(segs.begin(), segs.end(), [&](const auto& a, const auto& b) {
    if (must(a) != must(b)) return must(a);
    if (ran(a) != ran(b)) return ran(a);
    return a.end - a.start > b.end - b.start;
  });
  ct->truncated = segs.size() - limit;
  segs.resize(limit);
  std::stable_sort(segs.begin(), segs.end(), seg_order);
}

void judge_silence(Timeline* t, const CpuTimeline& ct) {
  const std::int64_t a = t->silence, b = t->detected;
  const std::int64_t len = std::max<std::int64_t>(1, b - a);
  // Per task: its share of the silence over all its segments (an RT hog comes back after each
  // RT-throttling gap), its first segment in the silence and its last.
  struct Share {
    std::int64_t ns = 0;
    const TimelineSegment* first = nullptr;
    const TimelineSegment* last = nullptr;
    std::size_t segments = 0;
  };
  std::map<int, Share> tasks;
  const TimelineSegment* handler = nullptr;
  std::int64_t handler_ov = 0;
  std::int64_t others_longest = 0;
  std::size_t others = 0;
  for (const auto& s : ct.segments) {
    const std::int64_t ov = overlap(s, a, b);
    if (ov <= 0) continue;
    if (s.kind == SegmentKind::kIrq || s.kind == SegmentKind::kSoftirq) {
      if (ov > handler_ov) handler = &s, handler_ov = ov;
    } else if (!is_heartbeat(s)) {
      Share& sh = tasks[s.pid];
      sh.ns += ov;
      if (sh.first == nullptr) sh.first = &s;
      sh.last = &s;
      ++sh.segments;
    }
  }
  int holder = -1;
  for (const auto& [pid, sh] : tasks)
    if (holder < 0 || sh.ns > tasks[holder].ns) holder = pid;
  const Share* hs = holder >= 0 ? &tasks[holder] : nullptr;
  if (hs != nullptr) {
    t->have_holder = true;
    t->holder = *hs->first;
    t->holder.label = hs->last->label;  // the latest comm (a task may rename itself)
    t->holder.comm = hs->last->comm;
    t->holder.prio = hs->last->prio;
    t->holder.open = hs->last->open;
    t->holder_share = static_cast<double>(hs->ns) / static_cast<double>(len);
    for (const auto& s : ct.segments)
      if ((s.kind == SegmentKind::kTask || s.kind == SegmentKind::kIdle) && s.pid != holder &&
          s.start >= hs->first->start && overlap(s, a, b) > 0) {
        ++others;
        others_longest = std::max(others_longest, s.end - s.start);
      }
  }
  auto& sa = t->silent_after;
  if (handler != nullptr && handler_ov * 2 >= len) {
    sa.kind = handler->kind == SegmentKind::kIrq ? "irq" : "softirq";
    sa.ts = handler->start;
    (handler->kind == SegmentKind::kIrq ? sa.irq : sa.vec) = handler->num;
    sa.text = handler->open ? fmt::format("{} entered, no exit", handler->label)
                            : fmt::format("{} entered, exit after {}", handler->label,
                                          ms_text(handler->end - handler->start));
    return;
  }
  if (hs != nullptr) {
    const TimelineSegment& h = t->holder;
    sa.kind = "switch";
    sa.ts = h.start;
    const std::string who =
        hs->first->kind == SegmentKind::kIdle ? "the CPU went idle" : h.label + " switched in";
    if (hs->segments == 1 && others == 0 && hs->last->open)
      sa.text = hs->first->kind == SegmentKind::kIdle
                    ? "the CPU went idle, nothing after (the heartbeat's wakeup never came)"
                    : who + ", nothing after";
    else if (hs->segments == 1 && others == 0)
      sa.text = fmt::format("{}, ran {} before the next switch", who,
                            ms_text(hs->first->end - hs->first->start));
    else
      sa.text = fmt::format("{}, held the CPU for {:.0f}% of the silence; other tasks ran only "
                            "{} times, {} at most{}",
                            who, t->holder_share * 100, others, ms_text(others_longest),
                            hs->last->open ? ", and it was on the CPU at the end" : "");
    return;
  }
  sa.kind = "none";
  sa.text = ct.events == 0
                ? fmt::format("no event recorded on CPU {} in the window", ct.cpu)
                : fmt::format("no task known on CPU {} after its last heartbeat", ct.cpu);
}

json segment_json(const TimelineSegment& s) {
  static constexpr const char* kKinds[] = {"task", "idle", "irq", "softirq"};
  json j{{"start", s.start},
         {"end", s.end},
         {"kind", kKinds[static_cast<int>(s.kind)]},
         {"label", s.label}};
  if (s.kind == SegmentKind::kTask || s.kind == SegmentKind::kIdle) {
    j["pid"] = s.pid;
    j["prio"] = s.prio;
  } else if (s.kind == SegmentKind::kIrq) {
    j["irq"] = s.num;
  } else {
    j["vec"] = s.num;
  }
  if (s.open) j["open"] = true;
  return j;
}

}  // namespace

Timeline build_timeline(const TimelineInput& in) {
  Timeline t;
  t.status = "recorded";
  t.stalled_cpu = in.stalled_cpu;
  t.window_start = in.window_start;
  t.silence = in.silence;
  t.detected = in.detected;
  std::vector<int> order;
  if (in.events.count(in.stalled_cpu)) order.push_back(in.stalled_cpu);
  for (const auto& [cpu, evs] : in.events)
    if (cpu != in.stalled_cpu && evs != nullptr) order.push_back(cpu);
  static const std::vector<TraceEvent> kNone;
  std::size_t total = 0;
  for (int cpu : order) {
    const auto* evs = in.events.at(cpu);
    auto lost = in.lost.find(cpu);
    CpuTimeline ct = build_cpu(cpu, evs ? *evs : kNone, in, lost != in.lost.end() && lost->second);
    total += ct.events;
    if (cpu == in.stalled_cpu) {
      std::stable_sort(ct.segments.begin(), ct.segments.end(), seg_order);
      judge_silence(&t, ct);
      bound(&ct, in.max_segments_stalled, in.silence - 100'000'000);
    } else {
      bound(&ct, in.max_segments_other, in.detected);
    }
    t.cpus.push_back(std::move(ct));
  }
  if (order.empty() || order.front() != in.stalled_cpu) {
    t.silent_after.text = fmt::format("CPU {} was not read", in.stalled_cpu);
  }
  for (const auto& c : t.cpus)
    if (c.cpu == in.stalled_cpu && c.first_event > in.window_start && c.events > 0 &&
        in.wrapped.count(c.cpu) && in.wrapped.at(c.cpu))
      t.note = fmt::format("CPU {}'s buffer held only the last {:.2f} s of the {:.2f} s window "
                           "(a larger [timeline] buffer_kib keeps more)",
                           c.cpu, (in.detected - c.first_event) / 1e9,
                           (in.detected - in.window_start) / 1e9);
  if (total == 0) {
    t.status = "empty";
    t.note = "the recorder had no event in the window";
  }
  return t;
}

std::string timeline_to_json(const Timeline& t) {
  json j{{"status", t.status}, {"note", t.note}};
  if (t.status == "disabled" || t.status == "unavailable" || t.status == "failed")
    return j.dump(-1, ' ', false, json::error_handler_t::replace);
  j["source"] = t.source;
  j["stalled_cpu"] = t.stalled_cpu;
  j["window_start_mono_ns"] = t.window_start;
  j["silence_mono_ns"] = t.silence;
  j["detected_mono_ns"] = t.detected;
  j["silent_after"] = json{{"kind", t.silent_after.kind},
                           {"text", t.silent_after.text},
                           {"ts_mono_ns", t.silent_after.ts},
                           {"irq", t.silent_after.irq},
                           {"vec", t.silent_after.vec}};
  if (t.have_holder) {
    const auto& h = t.holder;
    j["holder"] = json{{"kind", h.kind == SegmentKind::kIdle ? "idle" : "task"},
                       {"comm", h.comm},
                       {"pid", h.pid},
                       {"prio", h.prio},
                       {"rt", h.prio < 100 && h.pid != 0},
                       {"label", h.label},
                       {"from_mono_ns", h.start},
                       {"open", h.open},
                       {"share", std::round(t.holder_share * 1000) / 1000}};
  } else {
    j["holder"] = nullptr;
  }
  j["read_ns"] = t.read_ns;
  json cpus = json::array();
  for (const auto& c : t.cpus) {
    json segs = json::array();
    for (const auto& s : c.segments) segs.push_back(segment_json(s));
    cpus.push_back(json{{"cpu", c.cpu},
                        {"events", c.events},
                        {"lost_events", c.lost_events},
                        {"truncated", c.truncated},
                        {"switches", c.switches},
                        {"irqs", c.irqs},
                        {"softirqs", c.softirqs},
                        {"irq_per_s", std::round(c.irq_per_s * 10) / 10},
                        {"first_event_mono_ns", c.first_event},
                        {"segments", std::move(segs)}});
  }
  j["cpus"] = std::move(cpus);
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string timeline_summary(const Timeline& t) {
  if (t.status != "recorded") {
    if (t.status == "disabled") return {};
    return fmt::format("timeline: {}{}{}", t.status, t.note.empty() ? "" : ": ", t.note);
  }
  std::string out =
      fmt::format("timeline: CPU {} went silent after {}", t.stalled_cpu, t.silent_after.text);
  if (t.have_holder)
    out += fmt::format("; {} held it for {:.0f}% of the silence", t.holder.label,
                       t.holder_share * 100);
  return out;
}

}  // namespace stallwatch::evidence
