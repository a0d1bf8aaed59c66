// SPDX-License-Identifier: GPL-2.0-or-later
// Doctor parsers: pure functions over the texts the doctor's audit items read (kernel taint mask,
// the kernel command line, systemd's system.conf, the aggregate /proc/stat line, kernel-log
// verdicts), plus the one small reading helper they all share. Owned by stallwatchctl's doctor;
// stateless, any thread.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "stallwatch/core/config.h"
#include "stallwatch/core/sysroot.h"

namespace stallwatch::ctl {

// The file's text without surrounding whitespace; nullopt when it cannot be read.
std::optional<std::string> read_trimmed(const Sysroot& root, std::string_view path);
// A whole decimal integer (surrounding whitespace allowed).
std::optional<std::int64_t> parse_integer(std::string_view text);

// Documentation/admin-guide/tainted-kernels.rst: bit -> letter and meaning.
struct TaintFlag {
  int bit;
  char letter;
  const char* meaning;
};
// The flags set in a /proc/sys/kernel/tainted value, by bit; unknown bits get letter '?'.
std::vector<TaintFlag> decode_taint(std::uint64_t mask);
// "PO" style string of the letters of a mask, '-' for none ("G" is not used here).
std::string taint_letters(std::uint64_t mask);

// The value of `key=` in a kernel command line (the last one wins; quotes removed); "" for a bare
// `key`; nullopt when absent. Stops at " -- " (the init's arguments).
std::optional<std::string> cmdline_param(std::string_view cmdline, std::string_view key);

// systemd's RuntimeWatchdogSec= from system.conf and its drop-ins, in the order systemd applies
// them (later assignments win). Only the [Manager] section counts.
struct SystemdWatchdog {
  bool set = false;      // some file assigns it
  std::string value;     // the last assignment, as written
  bool enabled = false;  // not "0", "off", "" or "default" (default is off)
  Nanos timeout{0};      // parsed value; 0 when "infinity" or unparsable
  std::string device;    // WatchdogDevice= ("" = /dev/watchdog0)
};
SystemdWatchdog parse_systemd_watchdog(const std::vector<std::string>& texts_in_order);
// systemd time span: "30", "30s", "2min", "1h", "500ms", "1min 30s".
std::optional<Nanos> parse_systemd_timespan(std::string_view text);

// The aggregate "cpu " line of /proc/stat, USER_HZ ticks.
struct StatTotals {
  std::uint64_t total = 0;  // user+nice+system+idle+iowait+irq+softirq+steal
  std::uint64_t steal = 0;
};
std::optional<StatTotals> parse_stat_totals(std::string_view stat_text);

// Stall verdicts in the kernel log since boot, by kind (soft lockup, hard lockup, RCU stall,
// hung task, RT throttling, clocksource unstable), with the last message of each.
struct LogHistory {
  static constexpr int kKinds = 6;
  std::array<int, kKinds> count{};
  std::array<std::string, kKinds> last;
};
LogHistory scan_kernel_log(const std::vector<std::string>& messages);
// Index into LogHistory for evidence::VerdictKind values (same order).
std::string_view history_kind_name(int kind);

}  // namespace stallwatch::ctl
