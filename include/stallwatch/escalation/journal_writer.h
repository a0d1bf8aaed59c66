// JournalWriter: sends one structured journald entry ("KEY=value" fields) for the escalation
// area, with a stderr fallback when the daemon is not under journald or journald is gone.
// A seam so unit tests capture the exact fields. Used on the main thread (startup report) and
// the report worker (escalation), never at the same time.
#pragma once

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

namespace stallwatch::escalation {

class JournalWriter {
 public:
  virtual ~JournalWriter() = default;
  // fields: "MESSAGE=...", "PRIORITY=1", "MESSAGE_ID=...", "STALLWATCH_...=...".
  virtual void send(const std::vector<std::string>& fields) = 0;
};

enum class JournalMode { kAuto, kJournal, kStderr };

// kAuto: journald when JOURNAL_STREAM is set (running under systemd), stderr otherwise. When
// sd_journal_sendv fails the entry goes to stderr, so it is never lost silently.
std::unique_ptr<JournalWriter> make_journal_writer(JournalMode mode = JournalMode::kAuto,
                                                   std::FILE* err = stderr);

// "stallwatch: <first MESSAGE line> | priority=1 event=escalation cpu=1 ... note=<other lines>"
// (the stderr form, one line per entry).
std::string journal_fields_to_line(const std::vector<std::string>& fields);

}  // namespace stallwatch::escalation
