// SPDX-License-Identifier: GPL-2.0-or-later
#include "stallwatch/daemon/journal_sink.h"

#include <syslog.h>

#include <exception>
#include <vector>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "stallwatch/core/message_ids.h"

namespace stallwatch::daemon {

namespace {

std::string seconds_text(std::int64_t ns) {
  return fmt::format("{:.1f}s", static_cast<double>(ns) / 1e9);
}

const char* message_id_for(EventKind kind) {
  switch (kind) {
    case EventKind::kStall: return message_id::kStall;
    case EventKind::kOngoing: return message_id::kOngoing;
    case EventKind::kRecovered: return message_id::kRecovered;
    case EventKind::kGlobalPause: return message_id::kGlobalPause;
    case EventKind::kEscalation: return message_id::kStall;
    case EventKind::kDisplaced: return message_id::kDisplaced;
    case EventKind::kBlackout: return message_id::kGlobalPause;
  }
  return message_id::kStall;
}

int priority_for(EventKind kind) {
  switch (kind) {
    case EventKind::kStall: return LOG_ERR;
    case EventKind::kOngoing: return LOG_WARNING;
    case EventKind::kRecovered: return LOG_NOTICE;
    case EventKind::kGlobalPause: return LOG_NOTICE;
    case EventKind::kEscalation: return LOG_ALERT;
    case EventKind::kDisplaced: return LOG_WARNING;
    case EventKind::kBlackout: return LOG_NOTICE;
  }
  return LOG_WARNING;
}

std::string culprit(const StallReport* r) {
  if (r == nullptr || r->pid <= 0) return "";
  return fmt::format(" [{}:{}]", r->comm, r->tid > 0 ? r->tid : r->pid);
}

}  // namespace

std::string event_headline(const StallEvent& e, const StallReport* r) {
  std::string cls = r != nullptr ? " class=" + r->stall_class : "";
  switch (e.kind) {
    case EventKind::kStall:
      return fmt::format("CPU#{} stuck for {}!{}{}", e.cpu, seconds_text(e.stall_ns), culprit(r),
                         cls);
    case EventKind::kOngoing:
      return fmt::format("CPU#{} still stuck for {}!{}{}", e.cpu, seconds_text(e.stall_ns),
                         culprit(r), cls);
    case EventKind::kRecovered:
      return fmt::format("CPU#{} recovered: its heartbeat was silent for {}", e.cpu,
                         seconds_text(e.stall_ns));
    case EventKind::kGlobalPause:
      return fmt::format("whole system paused for {}; not a CPU stall: {}",
                         seconds_text(e.stall_ns), e.note);
    case EventKind::kEscalation:
      return fmt::format("CPU#{} stuck for {}: escalation due ({})", e.cpu,
                         seconds_text(e.stall_ns), e.note);
    case EventKind::kDisplaced:
      if (e.moved_to < 0)
        return fmt::format("CPU#{} monitored again: its heartbeat is back on its CPU", e.cpu);
      return fmt::format("CPU#{} not monitored: its heartbeat was found running on CPU {} (its "
                         "affinity was changed from outside: taskset -a, tuna, a cpuset; or the "
                         "CPU went offline); putting it back",
                         e.cpu, e.moved_to);
    case EventKind::kBlackout:
      return fmt::format("every heartbeat was silent for {}; judging freeze or stall",
                         seconds_text(e.stall_ns));
  }
  return "";
}

std::string event_fields_line(const StallEvent& e, const StallReport* r) {
  std::string out =
      fmt::format("event={} cpu={} stall_ms={} threshold_ms={} episode={} detected_mono_us={}",
                  to_string(e.kind), e.cpu, e.stall_ns / 1'000'000, e.threshold_ns / 1'000'000,
                  e.episode, e.detected_mono_ns / 1000);
  if (r != nullptr) {
    out +=
        fmt::format(" class={} pid={} tid={} comm={:?} policy={} prio={}", r->stall_class, r->pid,
                    r->tid, r->comm, r->policy.empty() ? "-" : r->policy, r->rt_priority);
    if (!r->report_path.empty()) out += " report=" + r->report_path;
    if (r->drill) out += " drill=1";
  }
  if (e.kind == EventKind::kDisplaced) out += fmt::format(" moved_to={}", e.moved_to);
  if (e.cascade_cpus > 0) out += fmt::format(" cascade_cpus={}", e.cascade_cpus);
  if (e.after_the_fact) out += " after_the_fact=1";
  if (e.owner_stuck) out += " owner_stuck=1";
  return out;
}

std::vector<std::string> event_journal_fields(const StallEvent& e, const StallReport* r) {
  std::string message = event_headline(e, r);
  if (r != nullptr && !r->summary.empty()) message += "\n" + r->summary;
  JournalFields f(message, message_id_for(e.kind), priority_for(e.kind), to_string(e.kind));
  if (e.cpu >= 0) f.add("CPU", e.cpu);
  f.add("STALL_MS", e.stall_ns / 1'000'000);
  f.add("THRESHOLD_MS", e.threshold_ns / 1'000'000);
  f.add("DETECTED_MONO_US", e.detected_mono_ns / 1000);
  if (e.stall_start_mono_ns > 0) f.add("STALL_START_MONO_US", e.stall_start_mono_ns / 1000);
  if (e.episode > 0) f.add("EPISODE", static_cast<std::int64_t>(e.episode));
  if (!e.note.empty()) f.add("NOTE", e.note);
  if (e.kind == EventKind::kDisplaced) f.add("MOVED_TO", e.moved_to);
  if (e.cascade_cpus > 0) f.add("CASCADE_CPUS", e.cascade_cpus);
  if (r != nullptr) {
    f.add("CLASS", r->stall_class);
    if (!r->class_reason.empty()) f.add("CLASS_REASON", r->class_reason);
    if (r->pid > 0) {
      f.culprit(r->pid, r->tid, r->comm);
      f.add("POLICY", r->policy);
      f.add("PRIO", r->rt_priority);
    }
    if (!r->report_path.empty()) f.add("REPORT", r->report_path);
    if (r->drill) f.add("DRILL", 1);
  }
  return f.fields();
}

void JournalSink::fire(const StallEvent& e, const StallReport* r) {
  if (e.kind == EventKind::kEscalation) return;  // the escalation sink reports its own
  try {
    writer_->send_with_line(event_journal_fields(e, r), "stallwatch: " + event_headline(e, r) +
                                                            " | " + event_fields_line(e, r));
  } catch (const std::exception& ex) {  // last resort: never let an event stop the worker
    if (failures_++ % 100 == 0) spdlog::error("stall event output failed: {}", ex.what());
  }
}

}  // namespace stallwatch::daemon
