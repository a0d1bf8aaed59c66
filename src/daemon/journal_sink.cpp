#include "stallwatch/journal_sink.h"

#include <sys/uio.h>
#include <syslog.h>
#include <systemd/sd-journal.h>

#include <cstdlib>
#include <vector>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "stallwatch/message_ids.h"

namespace stallwatch {

EventOutput event_output_from_env() {
  const char* js = std::getenv("JOURNAL_STREAM");
  return js != nullptr && *js != '\0' ? EventOutput::kJournal : EventOutput::kStderr;
}

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
      return fmt::format("CPU#{} stuck for {}!{}{}", e.cpu, seconds_text(e.stall_ns), culprit(r), cls);
    case EventKind::kOngoing:
      return fmt::format("CPU#{} still stuck for {}!{}{}", e.cpu, seconds_text(e.stall_ns),
                         culprit(r), cls);
    case EventKind::kRecovered:
      return fmt::format("CPU#{} recovered: its heartbeat was silent for {}", e.cpu,
                         seconds_text(e.stall_ns));
    case EventKind::kGlobalPause:
      return fmt::format("whole system paused for {}; not a CPU stall: {}", seconds_text(e.stall_ns),
                         e.note);
    case EventKind::kEscalation:
      return fmt::format("CPU#{} stuck for {}: escalation due ({})", e.cpu, seconds_text(e.stall_ns),
                         e.note);
  }
  return "";
}

std::string event_fields_line(const StallEvent& e, const StallReport* r) {
  std::string out = fmt::format("event={} cpu={} stall_ms={} threshold_ms={} episode={} detected_mono_us={}",
                                to_string(e.kind), e.cpu, e.stall_ns / 1'000'000,
                                e.threshold_ns / 1'000'000, e.episode, e.detected_mono_ns / 1000);
  if (r != nullptr) {
    out += fmt::format(" class={} pid={} tid={} comm={:?} policy={} prio={}", r->stall_class, r->pid,
                       r->tid, r->comm, r->policy.empty() ? "-" : r->policy, r->rt_priority);
    if (!r->report_path.empty()) out += " report=" + r->report_path;
    if (r->drill) out += " drill=1";
  }
  return out;
}

bool JournalSink::send_journal(const StallEvent& e, const StallReport* r) {
  std::vector<std::string> fields;
  std::string message = event_headline(e, r);
  if (r != nullptr && !r->summary.empty()) message += "\n" + r->summary;
  fields.push_back("MESSAGE=" + message);
  fields.push_back(fmt::format("MESSAGE_ID={}", message_id_for(e.kind)));
  fields.push_back(fmt::format("PRIORITY={}", priority_for(e.kind)));
  fields.push_back(fmt::format("STALLWATCH_EVENT={}", to_string(e.kind)));
  if (e.cpu >= 0) fields.push_back(fmt::format("STALLWATCH_CPU={}", e.cpu));
  fields.push_back(fmt::format("STALLWATCH_STALL_MS={}", e.stall_ns / 1'000'000));
  fields.push_back(fmt::format("STALLWATCH_THRESHOLD_MS={}", e.threshold_ns / 1'000'000));
  fields.push_back(fmt::format("STALLWATCH_DETECTED_MONO_US={}", e.detected_mono_ns / 1000));
  if (e.stall_start_mono_ns > 0)
    fields.push_back(fmt::format("STALLWATCH_STALL_START_MONO_US={}", e.stall_start_mono_ns / 1000));
  if (e.episode > 0) fields.push_back(fmt::format("STALLWATCH_EPISODE={}", e.episode));
  if (!e.note.empty()) fields.push_back("STALLWATCH_NOTE=" + e.note);
  if (r != nullptr) {
    fields.push_back("STALLWATCH_CLASS=" + r->stall_class);
    if (!r->class_reason.empty()) fields.push_back("STALLWATCH_CLASS_REASON=" + r->class_reason);
    if (r->pid > 0) {
      fields.push_back(fmt::format("STALLWATCH_PID={}", r->pid));
      fields.push_back(fmt::format("STALLWATCH_TID={}", r->tid));
      fields.push_back("STALLWATCH_COMM=" + r->comm);
      fields.push_back("STALLWATCH_POLICY=" + r->policy);
      fields.push_back(fmt::format("STALLWATCH_PRIO={}", r->rt_priority));
    }
    if (!r->report_path.empty()) fields.push_back("STALLWATCH_REPORT=" + r->report_path);
    if (r->drill) fields.push_back("STALLWATCH_DRILL=1");
  }
  std::vector<iovec> iov;
  iov.reserve(fields.size());
  for (auto& f : fields) iov.push_back(iovec{f.data(), f.size()});
  int rc = sd_journal_sendv(iov.data(), static_cast<int>(iov.size()));
  return rc >= 0;
}

void JournalSink::fire(const StallEvent& e, const StallReport* r) {
  if (e.kind == EventKind::kEscalation) return;  // the escalation sink reports its own
  bool to_stderr = output_ != EventOutput::kJournal;
  if (output_ != EventOutput::kStderr && !send_journal(e, r)) {
    // journald gone (socket left behind, connection refused): keep the event on stderr.
    if (journal_failures_++ % 100 == 0)
      spdlog::warn("sd_journal_send failed; stall events go to stderr until journald is back");
    to_stderr = true;
  }
  if (to_stderr) {
    std::fprintf(err_, "stallwatch: %s | %s\n", event_headline(e, r).c_str(),
                 event_fields_line(e, r).c_str());
    std::fflush(err_);
  }
}

void journal_send_note(const char* message_id, int priority, const std::string& message,
                       const std::string& event_name) {
  sd_journal_send("MESSAGE=%s", message.c_str(), "MESSAGE_ID=%s", message_id, "PRIORITY=%i",
                  priority, "STALLWATCH_EVENT=%s", event_name.c_str(), nullptr);
}

}  // namespace stallwatch
