// SPDX-License-Identifier: GPL-2.0-or-later
// WatchdogClass: is an opened watchdog.device really a watchdog? A character device that is
// either the legacy misc node (10:130, /dev/watchdog) or has the dynamic "watchdog" major listed
// under "Character devices:" in /proc/devices (/dev/watchdogN). Checked on the fstat of the fd
// we opened, before anything is written, so a typo such as /dev/sda or a regular file is never
// written to. Pure (the /proc/devices text is passed in); main thread at startup.
#pragma once

#include <sys/stat.h>

#include <optional>
#include <string>
#include <string_view>

#include "stallwatch/core/result.h"

namespace stallwatch::escalation {

inline constexpr unsigned kMiscMajor = 10;
inline constexpr unsigned kWatchdogMiscMinor = 130;

// The major of "watchdog" in the character-device section of /proc/devices, if listed.
std::optional<unsigned> parse_watchdog_major(std::string_view proc_devices);

// Ok when st describes a watchdog character device. proc_devices: the text of
// <sysroot>/proc/devices, nullopt if unreadable. The error says what the file is instead, e.g.
// "watchdog.device /dev/null is not a watchdog: character device 1:3 is neither misc 10:130
// nor the watchdog major (246) from /proc/devices; nothing was written to it".
Status check_watchdog_class(const std::string& device, const struct stat& st,
                            const std::optional<std::string>& proc_devices);

}  // namespace stallwatch::escalation
