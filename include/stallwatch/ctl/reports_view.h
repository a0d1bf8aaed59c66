// SPDX-License-Identifier: GPL-2.0-or-later
// ReportsView: stallwatchctl's reading of the JSON stall reports in <state_dir>/reports/ (written
// by the evidence engine, one file per episode, rewritten on each update:
// {"format":"stallwatch-report/1","cpu","episode","updates":[{event, class, culprit, summary,
// ...}, ...]}; a bare update object is read too). Every field is optional: a report from an
// older or newer daemon still lists and shows. Parsing and formatting
// are pure; list_reports() reads the directory. Single-threaded (stallwatchctl).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "stallwatch/core/result.h"

namespace stallwatch::ctl {

struct ReportUpdate {
  std::string written;
  std::string kind;
  std::int64_t stall_ms = -1;
};

struct ReportEntry {
  std::string id;  // file name without ".json"
  std::string path;
  std::int64_t mtime_ns = 0;  // last rewrite of the file
  std::string written;        // RFC 3339 from the report, if any
  int cpu = -1;
  std::string kind;            // of the latest update: stall | ongoing | recovered | global-pause
  std::int64_t stall_ms = -1;  // the longest over the updates (recovered: the whole silence)
  std::int64_t episode = 0;
  std::string stall_class;
  std::string comm;
  int pid = 0;
  std::string policy;
  int rt_priority = -1;
  std::string summary;
  bool parse_error = false;           // listed anyway, marked unreadable
  std::vector<ReportUpdate> updates;  // oldest first; empty for a bare update object
  nlohmann::json doc;                 // the whole document (null when unreadable)
  nlohmann::json primary;             // the update the details come from (the one with the culprit)
};

// Extracts the list fields from one report's text (never fails: unreadable text gives an entry
// with parse_error set).
ReportEntry parse_report(std::string_view text, std::string id, std::string path,
                         std::int64_t mtime_ns);

// All *.json files in dir, newest first (mtime, then name). A missing directory is an empty list.
Result<std::vector<ReportEntry>> list_reports(const std::string& dir);

// The entry whose id equals `id`, else the only one containing it; an error names the choices.
Result<const ReportEntry*> find_report(const std::vector<ReportEntry>& entries,
                                       const std::string& id);

std::string format_report_list(const std::vector<ReportEntry>& entries);
std::string format_report_list_json(const std::vector<ReportEntry>& entries);
// One report, readable: verdict, culprit, summary, stack, kernel verdicts, notes, failures.
std::string format_report(const ReportEntry& entry);

}  // namespace stallwatch::ctl
