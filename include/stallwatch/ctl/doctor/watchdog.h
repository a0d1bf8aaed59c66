// SPDX-License-Identifier: GPL-2.0-or-later
// Doctor watchdog audit: the hardware watchdogs in /sys/class/watchdog and who feeds them
// (systemd's RuntimeWatchdogSec, stallwatch's watchdog.device, nobody). Shared by the
// hardware-watchdog and protection-ladder items; reads through the context's Sysroot.
// Single-threaded (stallwatchctl).
#pragma once

#include <string>
#include <vector>

#include "stallwatch/ctl/doctor/doctor.h"
#include "stallwatch/ctl/doctor/parse.h"

namespace stallwatch::ctl {

// A hardware watchdog as the doctor finds it on the host, in /sys/class/watchdog (not the
// daemon's escalation::WatchdogDevice, which owns and feeds one).
struct HostWatchdog {
  std::string name;                                        // "watchdog0"
  std::string identity, timeout, nowayout, state, status;  // sysfs values, "" when absent
};

// Who keeps a host watchdog fed (not the daemon's feeder thread, daemon/feeder.h).
enum class FedBy { kNobody, kStallwatch, kSystemd, kUnknown };

struct WatchdogAudit {
  std::vector<HostWatchdog> devices;  // sorted by name
  bool systemd_pid1 = false;
  bool systemd_known = false;  // system.conf was readable (or systemd is not PID 1)
  SystemdWatchdog systemd;
  std::string systemd_files;    // the files read, for evidence
  std::string stallwatch_name;  // the device watchdog.device names ("watchdog0"), "" = none
  // Who feeds devices[i].
  FedBy fed_by(const HostWatchdog& dev) const;
  bool systemd_feeds(const HostWatchdog& dev) const;
  bool stallwatch_feeds(const HostWatchdog& dev) const;
};

WatchdogAudit audit_watchdogs(const DoctorContext& ctx);
// "/dev/watchdog" -> "watchdog0", "/dev/watchdog1" -> "watchdog1", others -> their basename.
std::string watchdog_name_of(const std::string& device_path);

}  // namespace stallwatch::ctl
