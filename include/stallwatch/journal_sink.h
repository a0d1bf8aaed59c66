// JournalSink: writes each stall event as one structured journald entry (sd_journal_send) with
// STALLWATCH_* fields, or as one line on stderr when not under journald. Runs on the report
// worker thread. Also formats the kernel-like first line shared by every output.
#pragma once

#include <cstdio>
#include <string>

#include "stallwatch/sink.h"

namespace stallwatch {

enum class EventOutput { kJournal, kStderr, kBoth };

// "auto": journald when JOURNAL_STREAM is set (we run under systemd), stderr otherwise.
EventOutput event_output_from_env();

// "CPU#3 stuck for 2.4s! [comm:pid] class=rt-hog" and friends.
std::string event_headline(const StallEvent& event, const StallReport* report);
// The " key=value" tail used on stderr lines; stable for scripts and tests.
std::string event_fields_line(const StallEvent& event, const StallReport* report);

class JournalSink final : public EventSink {
 public:
  explicit JournalSink(EventOutput output, std::FILE* err = stderr) : output_(output), err_(err) {}
  void fire(const StallEvent& event, const StallReport* report) override;

 private:
  bool send_journal(const StallEvent& event, const StallReport* report);
  EventOutput output_;
  std::FILE* err_;
  int journal_failures_ = 0;
};

// One structured journald entry for operational events outside the stall pipeline (config
// reload errors...). Falls back to nothing if journald is absent (spdlog logs them anyway).
void journal_send_note(const char* message_id, int priority, const std::string& message,
                       const std::string& event_name);

}  // namespace stallwatch
