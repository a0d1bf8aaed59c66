// SPDX-License-Identifier: GPL-2.0-or-later
// /dev/kmsg record and kernel-verdict parsers: pure functions over the text one read() of
// /dev/kmsg returns ("prio,seq,usec,flag;text\n" then continuation lines " KEY=value\n"), and
// over the message texts the kernel prints when it detects a stall. Owned by the evidence module;
// stateless and thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "stallwatch/core/result.h"

namespace stallwatch::evidence {

// Facility of the kernel's own records (prio = facility * 8 + level). A user process writing to
// /dev/kmsg gets facility 1 (user), or the one its "<N>" prefix names, but never 0 (the kernel
// enforces that): only facility 0 counts as evidence.
inline constexpr int kKernelFacility = 0;

struct KmsgRecord {
  int level = 0;     // syslog level (prio & 7)
  int facility = 0;  // prio >> 3
  std::uint64_t seq = 0;
  std::int64_t usec = 0;               // printk timestamp, microseconds since boot (local_clock)
  char flag = '-';                     // '-', 'c' (continued), '+'
  std::string_view text;               // the message, still \xNN-escaped
  std::vector<std::string_view> dict;  // continuation lines without the leading space
};
// One record as returned by one read(); views point into `data`.
Result<KmsgRecord> parse_kmsg_record(std::string_view data);
// Splits concatenated records (as `cat /dev/kmsg` prints them) into single-record views: a record
// starts at each line that does not begin with a space.
std::vector<std::string_view> split_kmsg_records(std::string_view data);
// Undoes the kernel's \xNN escaping of control and non-ASCII bytes.
std::string unescape_kmsg(std::string_view text);

enum class VerdictKind {
  kSoftLockup,
  kHardLockup,
  kRcuStall,
  kHungTask,
  kRtThrottling,
  kClocksourceUnstable,
};
std::string_view to_string(VerdictKind kind);

// A kernel message that says something about a stall.
struct VerdictMatch {
  VerdictKind kind;
  int cpu = -1;      // the CPU the message names, -1 when none (hung task, RT throttling)
  std::string comm;  // soft lockup "[comm:pid]", hung task "task comm:pid"
  int pid = 0;
  int stuck_s = 0;  // soft lockup "stuck for Ns"
};
// Recognises a verdict in one (escaped or unescaped) message text.
std::optional<VerdictMatch> match_verdict(std::string_view text);
// The CPU a follow-up line names: "rcu: \x091-....: (5249 ticks this GP)" -> 1,
// "CPU: 1 PID: 90 Comm: insmod ..." -> 1. -1 when none.
int follow_up_cpu(std::string_view text);

}  // namespace stallwatch::evidence
