// SPDX-License-Identifier: GPL-2.0-or-later
// Test doubles for the escalation area: a fake watchdog character device that follows the
// kernel's watchdog_dev.c semantics (open arms, EBUSY on a second owner, SETTIMEOUT validates,
// rounds and writes back, magic close, nowayout), a capturing journal, and a temp directory.
// Single-threaded test use only.
#pragma once

#include <linux/watchdog.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "stallwatch/core/journal_writer.h"
#include "stallwatch/escalation/bounded_persist.h"
#include "stallwatch/escalation/watchdog_ops.h"
#include "temp_dir.h"

namespace stallwatch::escalation::testing {

struct FakeWatchdog {
  // Driver description.
  std::uint32_t options = WDIOF_SETTIMEOUT | WDIOF_MAGICCLOSE | WDIOF_KEEPALIVEPING;
  std::string identity = "i6300ESB timer";
  std::uint32_t bootstatus = 0;
  int timeout = 30;
  int min_timeout = 1;
  int max_timeout = 2046;
  int pretimeout = 0;
  bool nowayout = false;
  std::function<int(int)> round = [](int t) { return t; };  // what the driver really sets
  bool settimeout_writes_back = true;  // the watchdog core does; some legacy drivers don't
  std::set<unsigned long> enotty;      // ioctls the driver does not know
  int keepalive_error = 0;             // e.g. -EIO
  int write_error = 0;                 // e.g. -EIO
  bool busy = false;                   // someone else holds it (systemd RuntimeWatchdogSec)
  // What fstat() reports: by default the legacy misc node /dev/watchdog (10:130).
  mode_t mode = S_IFCHR | 0600;
  dev_t rdev = makedev(10, 130);
  int fstat_error = 0;  // e.g. -EIO

  // State.
  bool open = false;
  bool running = false;
  bool expect_close = false;        // _WDOG_ALLOW_RELEASE: survives a close of a stopped device
  bool ran_on_after_close = false;  // "watchdog did not stop!"
  int pings = 0;
  int keepalive_delay_us = 0;  // a driver that sleeps in its keepalive (ipmi_watchdog)
  std::string last_open_path;
  int last_open_flags = 0;
  std::vector<std::string> calls;
};

class FakeWatchdogOps final : public WatchdogOps {
 public:
  explicit FakeWatchdogOps(FakeWatchdog& dev) : dev_(dev) {}
  int open(const std::string& path, int flags) override;
  int fstat(int fd, struct stat* st) override;
  int ioctl(int fd, unsigned long request, void* arg) override;
  ssize_t write(int fd, const void* data, std::size_t size) override;
  int close(int fd) override;

 private:
  void ping() { ++dev_.pings; }
  FakeWatchdog& dev_;
};

class CapturingJournal final : public JournalWriter {
 public:
  void send(const std::vector<std::string>& fields) override {
    if (on_send) on_send(fields);
    entries.push_back(fields);
  }
  std::vector<std::vector<std::string>> entries;
  std::function<void(const std::vector<std::string>&)> on_send;
};

// A persist function whose call blocks (like an fsync on a hung disk) until the test calls
// release(). Every wait is bounded (kBound), so a broken test fails instead of hanging. The
// blocked call runs on the escalation sink's helper thread; the state is shared with it.
class BlockingPersist {
 public:
  static constexpr std::chrono::seconds kBound{10};
  BlockingPersist();
  PersistFn fn() const;
  bool wait_entered() const;   // the helper is inside the call
  void release() const;        // let it return `result`
  bool wait_finished() const;  // the call returned
  void set_result(Result<std::uint64_t> r) const;

 private:
  struct State;
  std::shared_ptr<State> state_;
};

// Value of KEY in one entry ("" when absent).
std::string field(const std::vector<std::string>& entry, const std::string& key);
bool has_field(const std::vector<std::string>& entry, const std::string& key);

using test_support::TempDir;

std::string fixture(const std::string& name);

}  // namespace stallwatch::escalation::testing
