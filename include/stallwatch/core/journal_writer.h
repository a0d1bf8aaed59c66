// SPDX-License-Identifier: GPL-2.0-or-later
// JournalWriter: the one way stallwatchd's events leave the process -- one structured journald
// entry ("KEY=value" fields, sd_journal_sendv), one line on stderr, or both (--events). Stall
// events (JournalSink), escalation, previous-boot and watchdog events (src/escalation) all go
// through it, built with JournalFields, with MESSAGE_IDs from stallwatch/message_ids.h.
// Every field value and every stderr line is escaped on the way out (sanitize.h): no control
// byte, no invalid UTF-8, no newline except inside MESSAGE, so no entry can span or forge a line.
// If stderr fails (EPIPE: the reader went away) stderr output is disabled for good, with one note
// to journald, and events go to journald instead; if journald fails, to stderr. send() never
// throws. Used by the report worker (events) and the main thread (startup reports), never at the
// same time; the "stderr broken" state is process-wide and atomic.
#pragma once

#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace stallwatch {

// Every entry stallwatchd sends to journald, event or log line, carries this field.
inline constexpr std::string_view kSyslogIdentifierField = "SYSLOG_IDENTIFIER=stallwatchd";

enum class EventOutput { kJournal, kStderr, kBoth };

// "auto": journald when JOURNAL_STREAM is set (we run under systemd), stderr otherwise.
EventOutput event_output_from_env();

class JournalWriter {
 public:
  virtual ~JournalWriter() = default;
  // fields: "MESSAGE=...", "MESSAGE_ID=...", "PRIORITY=1", "STALLWATCH_...=...". On stderr the
  // entry is journal_fields_to_line(fields).
  virtual void send(const std::vector<std::string>& fields) = 0;
  // The same entry with its own stderr line (stall events keep their historical line format).
  virtual void send_with_line(const std::vector<std::string>& fields,
                              const std::string& stderr_line) {
    (void)stderr_line;
    send(fields);
  }
  // Never waits: the entry goes to journald only if its socket takes it at once (one datagram of
  // the native protocol, MSG_DONTWAIT). False when it did not, or when entries go to stderr (the
  // caller then sends it with send() from a thread that may wait). The escalation actor uses it
  // to log the escalation before acting, without ever waiting on journald.
  virtual bool try_send(const std::vector<std::string>& fields) {
    (void)fields;
    return false;
  }
};

std::unique_ptr<JournalWriter> make_journal_writer(EventOutput output = event_output_from_env(),
                                                   std::FILE* err = stderr);

// "stallwatch: <first MESSAGE line> | priority=1 event=escalation cpu=1 ... note=<other lines>"
// (the stderr form, one line per entry). Values holding a space, a quote or nothing are
// quoted JSON-style ("my hog").
std::string journal_fields_to_line(const std::vector<std::string>& fields);

// The field builder shared by every event: MESSAGE, MESSAGE_ID, PRIORITY, STALLWATCH_EVENT
// first, then STALLWATCH_<KEY> fields in the order added.
class JournalFields {
 public:
  JournalFields(std::string_view message, const char* message_id, int priority,
                std::string_view event);
  JournalFields& add(std::string_view key, std::string_view value);  // key without STALLWATCH_
  JournalFields& add(std::string_view key, const char* value) {
    return add(key, std::string_view(value));
  }
  JournalFields& add(std::string_view key, const std::string& value) {
    return add(key, std::string_view(value));
  }
  JournalFields& add(std::string_view key, std::int64_t value);
  JournalFields& add(std::string_view key, int value) {
    return add(key, static_cast<std::int64_t>(value));
  }
  // The culprit, with the same meaning in every event: STALLWATCH_PID is the process id
  // (tgid), STALLWATCH_TID the thread id; each only when known (> 0).
  JournalFields& culprit(int pid, int tid, std::string_view comm);
  const std::vector<std::string>& fields() const { return fields_; }

 private:
  std::vector<std::string> fields_;
};

// One journald entry for operational notes outside the event pipeline (config reload errors,
// "stderr is gone"). Nothing happens when journald is absent. Never throws.
void journal_send_note(const char* message_id, int priority, const std::string& message,
                       const std::string& event_name);

}  // namespace stallwatch
