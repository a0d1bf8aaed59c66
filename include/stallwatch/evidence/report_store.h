// SPDX-License-Identifier: GPL-2.0-or-later
// ReportStore: the directory of JSON report files (<state_dir>/reports). Writes are atomic (temp
// file created O_EXCL|O_NOFOLLOW, fdatasync, rename that never replaces, directory fsync): a
// name already taken (another daemon run in the same second) gets "-1", "-2", ... before
// ".json", so no report overwrites another; after each write the oldest files are removed until
// at most max_reports files and max_bytes bytes remain (the file just written always stays).
// Write failures (ENOSPC, EROFS, EACCES, ...) are logged once per minute at most and never stop
// the daemon. Owned by EvidenceEngine; used on the report worker thread only.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "stallwatch/core/result.h"

namespace stallwatch::evidence {

class ReportStore {
 public:
  ReportStore(std::string dir, int max_reports, std::int64_t max_bytes);

  // Writes dir/name atomically and prunes; returns the file's path (name, or name numbered
  // "-N" when taken).
  Result<std::string> write(const std::string& name, std::string_view content,
                            std::int64_t now_mono_ns);
  void prune(const std::string& keep_name);

  const std::string& dir() const { return dir_; }
  std::uint64_t failures() const { return failures_; }

 private:
  Result<std::string> write_once(const std::string& name, std::string_view content);
  void log_failure(const std::string& message, std::int64_t now_mono_ns);

  std::string dir_;
  // Requested name -> the name this run really created (an episode's later updates replace
  // its own file). Entries go when prune() removes the file.
  std::map<std::string, std::string> claimed_;
  int max_reports_;
  std::int64_t max_bytes_;
  std::uint64_t failures_ = 0;
  std::uint64_t suppressed_ = 0;
  std::int64_t last_log_ns_ = 0;
  bool logged_ = false;
};

inline constexpr std::int64_t kReportErrorLogIntervalNs = 60'000'000'000;
inline constexpr int kReportNameTries = 100;

}  // namespace stallwatch::evidence
