// SPDX-License-Identifier: GPL-2.0-or-later
// WatchdogDevice: owns one hardware watchdog (/dev/watchdogN) for the daemon's lifetime.
// probe() reads sysfs before arming; arm() opens (which starts the hardware), configures the
// timeout (reading back what the driver really set), pretimeout and governor, and feeds once;
// feed() pets it; disarm() is the clean stop (WDIOS_DISABLECARD + magic 'V' + close);
// abandon() closes WITHOUT the magic 'V' so a due reset still happens.
// Threads: probe/arm/disarm/abandon on the main thread (startup/stop), feed() on the checker
// thread, set_timeout() on the report worker (escalation). A mutex serialises the fd; feed()
// only try-locks it, so the checker never waits behind a slow ioctl.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "stallwatch/core/config.h"
#include "stallwatch/core/result.h"
#include "stallwatch/core/sysroot.h"
#include "stallwatch/escalation/watchdog_ops.h"
#include "stallwatch/escalation/watchdog_sysfs.h"

namespace stallwatch::escalation {

struct WatchdogSettings {
  std::string device;  // "/dev/watchdog0"
  int timeout_s = 30;
  int pretimeout_s = 0;                         // 0 = leave the driver's value
  std::string pretimeout_governor;              // "" = leave
  std::int64_t feed_interval_ns = 100'000'000;  // how often we can feed (the checker's tick)

  // Seconds are rounded up: the watchdog API counts whole seconds.
  static WatchdogSettings from(const Config& config);
};

// What we know about the device once armed. Written by probe()/arm() on the main thread,
// read-only afterwards.
struct WatchdogState {
  std::optional<WatchdogSysfsInfo> sysfs;  // nullopt when /sys/class/watchdog/<name> is missing
  std::string identity;                    // WDIOC_GETSUPPORT, else sysfs
  std::optional<std::uint32_t> options;    // WDIOF_* from WDIOC_GETSUPPORT
  std::uint32_t firmware_version = 0;
  std::optional<std::uint32_t> bootstatus;  // WDIOC_GETBOOTSTATUS, else sysfs
  int requested_timeout_s = 0;
  int timeout_s = 0;     // what the driver really uses
  int pretimeout_s = 0;  // 0 = none / unknown
  std::string pretimeout_governor;
  bool nowayout = false;
  bool feed_by_write = false;         // WDIOC_KEEPALIVE unsupported: write() a byte
  std::vector<std::string> warnings;  // things the operator should know (logged by arm)
};

enum class FeedResult {
  kFed,
  kSkippedBusy,  // another thread holds the device (e.g. set_timeout): try again next tick
  kNotArmed,
  kFailed,
};

struct DisarmOutcome {
  bool stopped = false;  // the hardware is believed stopped
  std::string detail;    // one line for the log
};

class WatchdogDevice {
 public:
  WatchdogDevice(const Sysroot& root, WatchdogOps& ops, WatchdogSettings settings);
  ~WatchdogDevice();  // still armed: abandon() (no magic close — an unclean exit must reset)
  WatchdogDevice(const WatchdogDevice&) = delete;
  WatchdogDevice& operator=(const WatchdogDevice&) = delete;

  // Before arming: sysfs identity, limits, nowayout, bootstatus. Fails when the requested
  // timeout is outside the device's limits (nothing has been armed yet).
  Status probe();
  // Opens (arms) and configures the device, then feeds once. On failure after the open the
  // device is disarmed again. EBUSY yields an error explaining the two ways out.
  Status arm();
  FeedResult feed();
  // WDIOC_SETTIMEOUT (which also pings); returns the timeout the driver really set.
  Result<int> set_timeout(int seconds);
  DisarmOutcome disarm();
  // Close without the magic character: an armed watchdog keeps counting down (if the driver
  // supports magic close) and resets the machine. Used at stop after an escalation.
  // stopped = true when the kernel stopped it anyway (no magic close support).
  DisarmOutcome abandon();

  bool armed() const { return armed_.load(std::memory_order_acquire); }
  // Stable once arm() returned, except timeout_s (set_timeout) and feed_by_write (first
  // unsupported WDIOC_KEEPALIVE), which change under the device lock.
  const WatchdogState& state() const { return state_; }
  const WatchdogSettings& settings() const { return settings_; }
  std::uint64_t feeds() const { return feeds_.load(std::memory_order_relaxed); }

  // How long disarm() waits for a keepalive in progress (a slow driver) before it gives up.
  static constexpr std::chrono::milliseconds kDisarmWait{500};

 private:
  FeedResult feed_locked();
  void close_locked();
  Status configure_locked();

  const Sysroot& root_;
  WatchdogOps& ops_;
  WatchdogSettings settings_;
  WatchdogState state_;
  bool probed_ = false;
  std::timed_mutex mu_;  // disarm() waits for it at most kDisarmWait
  int fd_ = -1;
  std::atomic<bool> armed_{false};
  std::atomic<std::uint64_t> feeds_{0};
};

// The startup error for EBUSY (kept separate so tests and docs can quote it).
std::string watchdog_busy_message(const std::string& device);

}  // namespace stallwatch::escalation
