// SPDX-License-Identifier: GPL-2.0-or-later
// DrillAnnouncement: how `stallwatchctl drill` tells the daemon that a stall is a drill. The
// tool writes <runtime_dir>/drills/<hog pid>.json (O_EXCL|O_NOFOLLOW, 0644), asks for a status
// refresh and starts its hog only once status.json lists the drill: the dispatcher has read the
// announcement and posted its window to the check (list_drills, CheckRunner::post_drill), so an
// escalation due on that CPU within the window stops no feeding and is acted on by nothing. The
// report worker still matches the stall's culprit (find_drill) to mark the report.
// Trust: the directory and the file must be owned by the daemon's euid (root) and not writable
// by group/others, so a non-root caller cannot hide a real stall; the pid must be alive; the
// stall's culprit must be that pid (or, with no culprit found, the drill's CPU and time window).
// encode/parse/matches are pure; find_drill() reads the directory.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "stallwatch/core/result.h"

namespace stallwatch {

inline constexpr const char* kDrillDir = "drills";
inline constexpr std::int64_t kDrillWindowGraceNs = 2'000'000'000;  // after end_mono_ns

struct DrillAnnouncement {
  int cpu = -1;
  int pid = 0;
  std::int64_t start_mono_ns = 0;  // CLOCK_MONOTONIC, when the hog was started
  std::int64_t end_mono_ns = 0;    // the hog's own deadline
};

std::string encode_drill_announcement(const DrillAnnouncement& a);
Result<DrillAnnouncement> parse_drill_announcement(std::string_view json);

// Does this announcement cover a stall on `cpu` whose culprit is culprit_pid/culprit_tid (0 =
// none found), seen at now_mono_ns?
bool drill_matches(const DrillAnnouncement& a, int cpu, int culprit_pid, int culprit_tid,
                   std::int64_t now_mono_ns);

struct DrillMatch {
  DrillAnnouncement announcement;
  std::string path;
};

struct DrillLookup {
  std::string runtime_dir;
  uid_t owner = 0;                     // the daemon's euid
  std::function<bool(int pid)> alive;  // default: kill(pid, 0)
};

// Every trusted announcement of a live drill in <runtime_dir>/drills. The dispatcher posts their
// windows (drill_until_ns) to the check, which decides drill-ness where the feeding is; untrusted
// or malformed files are said in `ignored`, one line each.
std::vector<DrillMatch> list_drills(const DrillLookup& lookup, std::string* ignored = nullptr);

// The end of the window in which an escalation on a.cpu is this drill's.
inline std::int64_t drill_until_ns(const DrillAnnouncement& a) {
  return a.end_mono_ns + kDrillWindowGraceNs;
}

// Scans <runtime_dir>/drills for a trusted, live announcement matching the stall. Untrusted or
// malformed files are ignored (and said in `ignored`, one line each, if given).
std::optional<DrillMatch> find_drill(const DrillLookup& lookup, int cpu, int culprit_pid,
                                     int culprit_tid, std::int64_t now_mono_ns,
                                     std::string* ignored = nullptr);

}  // namespace stallwatch
