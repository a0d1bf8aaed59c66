// SPDX-License-Identifier: GPL-2.0-or-later
// JournalSink: turns each stall event into one entry for the JournalWriter (journald with
// STALLWATCH_* fields, and/or one line on stderr, per --events). Runs on the report worker
// thread. Also formats the kernel-like first line shared by every output.
#pragma once

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "stallwatch/core/journal_writer.h"
#include "stallwatch/core/sink.h"

namespace stallwatch::daemon {

// "CPU#3 stuck for 2.4s! [comm:pid] class=rt-hog" and friends.
std::string event_headline(const StallEvent& event, const StallReport* report);
// The " key=value" tail used on stderr lines; stable for scripts and tests.
std::string event_fields_line(const StallEvent& event, const StallReport* report);
// The journald fields of one event (built with JournalFields).
std::vector<std::string> event_journal_fields(const StallEvent& event, const StallReport* report);

class JournalSink final : public EventSink {
 public:
  explicit JournalSink(EventOutput output, std::FILE* err = stderr)
      : writer_(make_journal_writer(output, err)) {}
  explicit JournalSink(std::unique_ptr<JournalWriter> writer) : writer_(std::move(writer)) {}
  // Never throws: a failure is logged (rate-limited) and the event dropped.
  void fire(const StallEvent& event, const StallReport* report) override;

 private:
  std::unique_ptr<JournalWriter> writer_;
  std::uint64_t failures_ = 0;
};

}  // namespace stallwatch::daemon
