// SPDX-License-Identifier: GPL-2.0-or-later
// Report rendering: turns Evidence plus its Classification into the StallReport fields the sinks
// read (culprit, class, summary, details_json) and the StallReport into the JSON document written
// to the report file. Pure functions; called on the report worker thread.
#pragma once

#include <string>

#include "stallwatch/core/stall_report.h"
#include "stallwatch/evidence/classify.h"
#include "stallwatch/evidence/evidence.h"

namespace stallwatch::evidence {

// Caps that keep one report small whatever the machine looks like.
inline constexpr std::size_t kMaxReportTasks = 16;
inline constexpr std::size_t kMaxDetailsBytes = 256 * 1024;

// Sets class, reason, culprit fields, stack, verdicts, notes, failed steps, summary, details_json.
void fill_report(const Evidence& ev, const Classification& cls, StallReport* report);

// Readable multi-line text: culprit, stack top, top counters, kernel verdicts, notes. The first
// line of the journal MESSAGE ("CPU#1 stuck for 5.2s! [comm:tid] class=...") is the sink's.
std::string format_summary(const Evidence& ev, const Classification& cls);

// The evidence as one JSON object (text).
std::string evidence_to_json(const Evidence& ev);

// One report update as a JSON object (text): event, verdict, culprit, summary, failures, and the
// evidence parsed back from details_json. wall_time is RFC 3339 UTC.
std::string report_to_json(const StallReport& report, const std::string& wall_time);

}  // namespace stallwatch::evidence
