// SPDX-License-Identifier: GPL-2.0-or-later
// WatchdogSysfs: what /sys/class/watchdog/watchdogN/ says about a watchdog before we open (arm)
// it — identity, timeout limits, nowayout, boot status, state, pretimeout governors. The layout
// follows Documentation/ABI/testing/sysfs-class-watchdog (files appear only when the driver
// supports them, so every field is optional). Plain data built on the main thread at startup.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "stallwatch/core/result.h"
#include "stallwatch/core/sysroot.h"

namespace stallwatch::escalation {

struct WatchdogSysfsInfo {
  std::string name;       // "watchdog0"
  std::string sysfs_dir;  // "/sys/class/watchdog/watchdog0" (unprefixed)
  std::string identity;   // "i6300ESB timer"
  std::optional<int> timeout_s;
  std::optional<int> min_timeout_s;
  std::optional<int> max_timeout_s;
  std::optional<int> pretimeout_s;
  std::optional<int> timeleft_s;
  std::optional<bool> nowayout;
  std::optional<std::uint32_t> bootstatus;  // WDIOF_* bits, e.g. 0x20 = WDIOF_CARDRESET
  std::optional<std::uint32_t> status;
  std::string state;  // "active" / "inactive", "" when absent
  std::string pretimeout_governor;
  std::vector<std::string> pretimeout_available_governors;
};

// "/dev/watchdog3" -> "watchdog3"; the legacy "/dev/watchdog" is the device with id 0.
// Empty when the name does not follow the kernel's naming.
std::string watchdog_sysfs_name(std::string_view device_path);

// Pure parsers of single attribute files (trailing newline allowed).
std::optional<int> parse_sysfs_int(std::string_view text);
// "0", "0x20", "32" -> value (bootstatus is printed as "%u", status as "0x%x").
std::optional<std::uint32_t> parse_sysfs_flags(std::string_view text);

// Reads every attribute that exists; an absent directory is an error (no such watchdog).
Result<WatchdogSysfsInfo> read_watchdog_sysfs(const Sysroot& root, std::string_view device_path);

// "0x20 (card-reset)" style description of WDIOF_* bits.
std::string describe_watchdog_flags(std::uint32_t flags);

}  // namespace stallwatch::escalation
