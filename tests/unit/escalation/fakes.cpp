// SPDX-License-Identifier: GPL-2.0-or-later
#include "fakes.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <mutex>
#include <sstream>

#include <fmt/format.h>

namespace stallwatch::escalation::testing {

namespace {
constexpr int kFd = 7;

std::string ioctl_name(unsigned long request) {
  switch (request) {
    case WDIOC_GETSUPPORT: return "GETSUPPORT";
    case WDIOC_GETSTATUS: return "GETSTATUS";
    case WDIOC_GETBOOTSTATUS: return "GETBOOTSTATUS";
    case WDIOC_SETOPTIONS: return "SETOPTIONS";
    case WDIOC_KEEPALIVE: return "KEEPALIVE";
    case WDIOC_SETTIMEOUT: return "SETTIMEOUT";
    case WDIOC_GETTIMEOUT: return "GETTIMEOUT";
    case WDIOC_SETPRETIMEOUT: return "SETPRETIMEOUT";
    case WDIOC_GETPRETIMEOUT: return "GETPRETIMEOUT";
    case WDIOC_GETTIMELEFT: return "GETTIMELEFT";
  }
  return fmt::format("ioctl {:#x}", request);
}
}  // namespace

int FakeWatchdogOps::open(const std::string& path, int flags) {
  dev_.calls.push_back("open");
  dev_.last_open_path = path;
  dev_.last_open_flags = flags;
  if (dev_.busy || dev_.open) return -EBUSY;
  dev_.open = true;
  dev_.running = true;  // opening starts the watchdog
  dev_.ran_on_after_close = false;
  ping();
  return kFd;
}

int FakeWatchdogOps::fstat(int fd, struct stat* st) {
  if (fd != kFd || !dev_.open) return -EBADF;
  dev_.calls.push_back("fstat");
  if (dev_.fstat_error != 0) return dev_.fstat_error;
  *st = {};
  st->st_mode = dev_.mode;
  st->st_rdev = dev_.rdev;
  return 0;
}

int FakeWatchdogOps::ioctl(int fd, unsigned long request, void* arg) {
  if (fd != kFd || !dev_.open) return -EBADF;
  int* iarg = static_cast<int*>(arg);
  std::string name = ioctl_name(request);
  if (request == WDIOC_SETTIMEOUT || request == WDIOC_SETPRETIMEOUT)
    name += fmt::format(" {}", *iarg);
  if (request == WDIOC_SETOPTIONS)
    name += (*iarg & WDIOS_DISABLECARD) ? " DISABLECARD" : " ENABLECARD";
  dev_.calls.push_back(name);
  if (dev_.enotty.count(request) != 0) return -ENOTTY;
  switch (request) {
    case WDIOC_GETSUPPORT: {
      auto* info = static_cast<watchdog_info*>(arg);
      *info = watchdog_info{};
      info->options = dev_.options;
      info->firmware_version = 0;
      // Like the kernel's strscpy: at most 31 characters and a NUL.
      std::memcpy(info->identity, dev_.identity.data(),
                  std::min(dev_.identity.size(), sizeof info->identity - 1));
      return 0;
    }
    case WDIOC_GETBOOTSTATUS: *iarg = static_cast<int>(dev_.bootstatus); return 0;
    case WDIOC_GETSTATUS: *iarg = 0; return 0;
    case WDIOC_SETTIMEOUT: {
      if ((dev_.options & WDIOF_SETTIMEOUT) == 0) return -EOPNOTSUPP;
      if (*iarg < dev_.min_timeout || *iarg > dev_.max_timeout) return -EINVAL;
      dev_.timeout = dev_.round(*iarg);
      ping();  // the core pings after a new timeout
      if (dev_.settimeout_writes_back) *iarg = dev_.timeout;
      return 0;
    }
    case WDIOC_GETTIMEOUT: *iarg = dev_.timeout; return 0;
    case WDIOC_SETPRETIMEOUT:
      if ((dev_.options & WDIOF_PRETIMEOUT) == 0) return -EOPNOTSUPP;
      if (*iarg != 0 && *iarg >= dev_.timeout) return -EINVAL;
      dev_.pretimeout = *iarg;
      return 0;
    case WDIOC_GETPRETIMEOUT: *iarg = dev_.pretimeout; return 0;
    case WDIOC_KEEPALIVE:
      if ((dev_.options & WDIOF_KEEPALIVEPING) == 0) return -EOPNOTSUPP;
      if (dev_.keepalive_error != 0) return dev_.keepalive_error;
      if (dev_.keepalive_delay_us > 0) ::usleep(static_cast<useconds_t>(dev_.keepalive_delay_us));
      ping();
      return 0;
    case WDIOC_SETOPTIONS:
      if (*iarg & WDIOS_DISABLECARD) {
        if (dev_.nowayout) return -EBUSY;  // "nowayout prevents watchdog being stopped!"
        dev_.running = false;
      }
      if (*iarg & WDIOS_ENABLECARD) dev_.running = true;
      return 0;
  }
  return -ENOTTY;
}

ssize_t FakeWatchdogOps::write(int fd, const void* data, std::size_t size) {
  if (fd != kFd || !dev_.open) return -EBADF;
  const char* p = static_cast<const char*>(data);
  std::string shown;
  for (std::size_t i = 0; i < size; ++i)
    shown += p[i] == 'V' ? std::string("'V'") : fmt::format("{:02x}", static_cast<unsigned>(p[i]));
  dev_.calls.push_back("write " + shown);
  if (dev_.write_error != 0) return dev_.write_error;
  if (size == 0) return 0;
  dev_.expect_close = false;
  for (std::size_t i = 0; i < size; ++i)
    if (p[i] == 'V') dev_.expect_close = true;
  ping();
  return static_cast<ssize_t>(size);
}

int FakeWatchdogOps::close(int fd) {
  if (fd != kFd || !dev_.open) return -EBADF;
  dev_.calls.push_back("close");
  // watchdog_release(): the magic flag is only tested (and cleared) while the watchdog runs, so
  // a 'V' written before a successful WDIOS_DISABLECARD stays set for the next owner.
  if (dev_.running) {
    bool may_stop = dev_.expect_close || (dev_.options & WDIOF_MAGICCLOSE) == 0;
    dev_.expect_close = false;
    if (may_stop && !dev_.nowayout) {
      dev_.running = false;
    } else {
      dev_.ran_on_after_close = true;  // "watchdog did not stop!": one ping, keeps running
      ping();
    }
  }
  dev_.open = false;
  return 0;
}

struct BlockingPersist::State {
  std::mutex mu;
  std::condition_variable cv;
  bool entered = false;
  bool released = false;
  bool finished = false;
  Result<std::uint64_t> result = std::uint64_t{1};
};

BlockingPersist::BlockingPersist() : state_(std::make_shared<State>()) {}

PersistFn BlockingPersist::fn() const {
  return [s = state_](const ResetReason&) -> Result<std::uint64_t> {
    std::unique_lock lock(s->mu);
    s->entered = true;
    s->cv.notify_all();
    s->cv.wait_for(lock, kBound, [&] { return s->released; });
    s->finished = true;
    s->cv.notify_all();
    return s->result;
  };
}

bool BlockingPersist::wait_entered() const {
  std::unique_lock lock(state_->mu);
  return state_->cv.wait_for(lock, kBound, [&] { return state_->entered; });
}

void BlockingPersist::release() const {
  std::lock_guard lock(state_->mu);
  state_->released = true;
  state_->cv.notify_all();
}

bool BlockingPersist::wait_finished() const {
  std::unique_lock lock(state_->mu);
  return state_->cv.wait_for(lock, kBound, [&] { return state_->finished; });
}

void BlockingPersist::set_result(Result<std::uint64_t> r) const {
  std::lock_guard lock(state_->mu);
  state_->result = std::move(r);
}

std::string field(const std::vector<std::string>& entry, const std::string& key) {
  for (const auto& f : entry)
    if (f.size() > key.size() && f.compare(0, key.size(), key) == 0 && f[key.size()] == '=')
      return f.substr(key.size() + 1);
  return "";
}

bool has_field(const std::vector<std::string>& entry, const std::string& key) {
  for (const auto& f : entry)
    if (f.size() > key.size() && f.compare(0, key.size(), key) == 0 && f[key.size()] == '=')
      return true;
  return false;
}

std::string fixture(const std::string& name) {
  return std::string(STALLWATCH_FIXTURES) + "/escalation/" + name;
}

}  // namespace stallwatch::escalation::testing
