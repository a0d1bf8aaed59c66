// SPDX-License-Identifier: GPL-2.0-or-later
#include "stallwatch/escalation/watchdog_device.h"

#include <fcntl.h>
#include <linux/watchdog.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "stallwatch/core/unique_fd.h"
#include "stallwatch/escalation/watchdog_class.h"

namespace stallwatch::escalation {
namespace {

int ceil_seconds(Nanos d) {
  std::int64_t ns = d.count();
  if (ns <= 0) return 0;
  return static_cast<int>((ns + 999'999'999) / 1'000'000'000);
}

std::string err_text(int neg_errno) { return std::strerror(-neg_errno); }

bool unsupported(int rc) { return rc == -EOPNOTSUPP || rc == -ENOTTY || rc == -EINVAL; }

// Writes a sysfs attribute through the root prefix.
Status write_attr(const Sysroot& root, const std::string& path, const std::string& value) {
  std::string p = root.path(path);
  UniqueFd fd(::open(p.c_str(), O_WRONLY | O_CLOEXEC | O_TRUNC));
  if (!fd.valid()) return make_error("{}: {}", p, std::strerror(errno));
  ssize_t n = ::write(fd.get(), value.data(), value.size());
  if (n != static_cast<ssize_t>(value.size()))
    return make_error("{}: {}", p, n < 0 ? std::strerror(errno) : "short write");
  return Ok{};
}

}  // namespace

WatchdogSettings WatchdogSettings::from(const Config& config) {
  WatchdogSettings s;
  s.device = config.watchdog.device;
  s.timeout_s = ceil_seconds(config.watchdog.timeout);
  s.pretimeout_s = ceil_seconds(config.watchdog.pretimeout);
  s.pretimeout_governor = config.watchdog.pretimeout_governor;
  s.feed_interval_ns = config.checker.interval.count();
  return s;
}

std::string watchdog_busy_message(const std::string& device) {
  return fmt::format(
      "watchdog.device {} is busy (EBUSY): another process already owns it, usually systemd "
      "itself through RuntimeWatchdogSec= in /etc/systemd/system.conf (check with "
      "`systemctl show -p RuntimeWatchdogUSec`). Two ways out: (1) let systemd own the "
      "hardware watchdog: remove watchdog.device and set escalation.action = \"systemd\", so "
      "WATCHDOG=trigger makes the unit's WatchdogSec=/FailureAction= apply; or (2) turn "
      "RuntimeWatchdogSec off (RuntimeWatchdogSec=off, then `systemctl daemon-reexec`) so "
      "stallwatchd can own {}",
      device, device);
}

WatchdogDevice::WatchdogDevice(const Sysroot& root, WatchdogOps& ops, WatchdogSettings settings)
    : root_(root), ops_(ops), settings_(std::move(settings)) {
  state_.requested_timeout_s = settings_.timeout_s;
}

WatchdogDevice::~WatchdogDevice() {
  if (fd_ >= 0) abandon();
}

Status WatchdogDevice::probe() {
  probed_ = true;
  state_.requested_timeout_s = settings_.timeout_s;
  auto info = read_watchdog_sysfs(root_, settings_.device);
  if (!info.ok()) {
    if (!root_.exists(settings_.device))
      return make_error("watchdog.device {} does not exist (is the driver loaded?)",
                        settings_.device);
    state_.warnings.push_back(fmt::format("no sysfs information ({}); relying on the ioctls alone",
                                          info.error().message));
    return Ok{};
  }
  const WatchdogSysfsInfo& s = *info;
  state_.sysfs = s;
  state_.identity = s.identity;
  state_.bootstatus = s.bootstatus;
  state_.nowayout = s.nowayout.value_or(false);
  std::string who =
      s.identity.empty() ? settings_.device : fmt::format("{} ({})", settings_.device, s.identity);
  int t = settings_.timeout_s;
  if ((s.min_timeout_s && t < *s.min_timeout_s) ||
      (s.max_timeout_s && *s.max_timeout_s > 0 && t > *s.max_timeout_s))
    return make_error("watchdog.timeout = {}s is outside what {} supports: {}..{}s", t, who,
                      s.min_timeout_s.value_or(1), s.max_timeout_s.value_or(0));
  if (state_.nowayout)
    state_.warnings.push_back(fmt::format(
        "{} has nowayout set: once stallwatchd opens it, it cannot be disarmed; stopping the "
        "daemon will reset the machine unless it is restarted within the watchdog timeout",
        who));
  return Ok{};
}

Status WatchdogDevice::arm() {
  if (!probed_) {
    if (auto p = probe(); !p.ok()) return p;
  }
  std::lock_guard lock(mu_);
  if (fd_ >= 0) return Ok{};
  // O_NOFOLLOW: a symlink planted at the configured path is refused, not followed.
  int fd = ops_.open(root_.path(settings_.device), O_RDWR | O_NOFOLLOW | O_CLOEXEC);
  if (fd == -EBUSY) return Error{watchdog_busy_message(settings_.device)};
  if (fd == -ELOOP)
    return make_error("watchdog.device {} is a symbolic link; name the device node itself "
                      "(e.g. /dev/watchdog0); nothing was written to it",
                      settings_.device);
  if (fd < 0)
    return make_error("watchdog.device {}: cannot open: {}", settings_.device, err_text(fd));
  // Is it a watchdog at all? Checked on the fd before anything is written: a regular file or
  // /dev/sda gets closed untouched.
  struct stat sb {};
  if (int rc = ops_.fstat(fd, &sb); rc < 0) {
    ops_.close(fd);
    return make_error("watchdog.device {}: fstat failed: {}; nothing was written to it",
                      settings_.device, err_text(rc));
  }
  std::optional<std::string> devices;
  if (auto d = root_.read_file("/proc/devices", 64 * 1024); d.ok()) devices = std::move(*d);
  if (Status cls = check_watchdog_class(settings_.device, sb, devices); !cls.ok()) {
    ops_.close(fd);
    return cls;
  }
  fd_ = fd;
  armed_.store(true, std::memory_order_release);
  Status st = configure_locked();
  if (!st.ok()) {
    // Undo the arm: the daemon will not start, so nothing would feed the device.
    int opt = WDIOS_DISABLECARD;
    ops_.ioctl(fd_, WDIOC_SETOPTIONS, &opt);
    ops_.write(fd_, "V", 1);
    close_locked();
    if (state_.nowayout)
      return make_error("{} (and nowayout is set: {} stays armed and will reset the machine)",
                        st.error().message, settings_.device);
    return st;
  }
  return Ok{};
}

Status WatchdogDevice::configure_locked() {
  const std::string& dev = settings_.device;
  watchdog_info info{};
  if (int rc = ops_.ioctl(fd_, WDIOC_GETSUPPORT, &info); rc >= 0) {
    state_.options = info.options;
    state_.firmware_version = info.firmware_version;
    std::string id(reinterpret_cast<const char*>(info.identity),
                   strnlen(reinterpret_cast<const char*>(info.identity), sizeof info.identity));
    if (!id.empty()) state_.identity = id;
  } else {
    // Every watchdog driver answers WDIOC_GETSUPPORT (the watchdog core does it for them).
    return make_error("watchdog.device {}: WDIOC_GETSUPPORT failed: {}: not a usable watchdog", dev,
                      err_text(rc));
  }
  const bool known = state_.options.has_value();
  const std::uint32_t opts = state_.options.value_or(0);

  int boot = 0;
  if (int rc = ops_.ioctl(fd_, WDIOC_GETBOOTSTATUS, &boot); rc >= 0)
    state_.bootstatus = static_cast<std::uint32_t>(boot);

  // Timeout: set, then read back what the driver really uses (drivers round).
  int actual = 0;
  if (known && (opts & WDIOF_SETTIMEOUT) == 0) {
    state_.warnings.push_back(fmt::format(
        "{} cannot change its timeout (no WDIOF_SETTIMEOUT); watchdog.timeout ignored", dev));
  } else {
    int t = settings_.timeout_s;
    int rc = ops_.ioctl(fd_, WDIOC_SETTIMEOUT, &t);
    if (rc >= 0) {
      actual = t;
    } else if (rc == -EINVAL) {
      return make_error("{} rejected watchdog.timeout = {}s (EINVAL: outside the driver's range)",
                        dev, settings_.timeout_s);
    } else if (unsupported(rc)) {
      state_.warnings.push_back(fmt::format(
          "{} cannot change its timeout (WDIOC_SETTIMEOUT: {}); watchdog.timeout ignored", dev,
          err_text(rc)));
    } else {
      return make_error("{}: WDIOC_SETTIMEOUT failed: {}", dev, err_text(rc));
    }
  }
  int got = 0;
  if (int rc = ops_.ioctl(fd_, WDIOC_GETTIMEOUT, &got); rc >= 0 && got > 0) {
    actual = got;
  } else if (actual == 0 && state_.sysfs && state_.sysfs->timeout_s) {
    actual = *state_.sysfs->timeout_s;
  }
  if (actual <= 0)
    return make_error("{}: cannot determine the device's timeout (WDIOC_GETTIMEOUT failed)", dev);
  state_.timeout_s = actual;
  if (actual != settings_.timeout_s)
    state_.warnings.push_back(
        fmt::format("{} uses a timeout of {}s (watchdog.timeout asked for {}s)", dev, actual,
                    settings_.timeout_s));
  if (static_cast<std::int64_t>(actual) * 1'000'000'000 / 3 < settings_.feed_interval_ns)
    return make_error(
        "{}: its real timeout of {}s cannot be fed every timeout/3 from a checker.interval of "
        "{}ms",
        dev, actual, settings_.feed_interval_ns / 1'000'000);

  // Pretimeout and its governor: optional niceties, never fatal.
  if (settings_.pretimeout_s > 0) {
    if (known && (opts & WDIOF_PRETIMEOUT) == 0) {
      state_.warnings.push_back(fmt::format(
          "{} has no pretimeout (no WDIOF_PRETIMEOUT); watchdog.pretimeout ignored", dev));
    } else {
      int p = settings_.pretimeout_s;
      if (int rc = ops_.ioctl(fd_, WDIOC_SETPRETIMEOUT, &p); rc < 0)
        state_.warnings.push_back(fmt::format("{}: WDIOC_SETPRETIMEOUT {}s failed: {}", dev,
                                              settings_.pretimeout_s, err_text(rc)));
      int gp = 0;
      if (int rc = ops_.ioctl(fd_, WDIOC_GETPRETIMEOUT, &gp); rc >= 0) state_.pretimeout_s = gp;
    }
  }
  if (!settings_.pretimeout_governor.empty()) {
    const std::string& gov = settings_.pretimeout_governor;
    if (!state_.sysfs) {
      state_.warnings.push_back(fmt::format(
          "{}: no sysfs directory; watchdog.pretimeout_governor = {} ignored", dev, gov));
    } else {
      const auto& avail = state_.sysfs->pretimeout_available_governors;
      bool listed = false;
      for (const auto& a : avail) listed = listed || a == gov;
      if (!listed) {
        state_.warnings.push_back(fmt::format(
            "{}: pretimeout governor \"{}\" is not available (have: {}); load "
            "pretimeout_{} first",
            dev, gov, avail.empty() ? "none" : fmt::format("{}", fmt::join(avail, ", ")), gov));
      } else if (auto w = write_attr(root_, state_.sysfs->sysfs_dir + "/pretimeout_governor", gov);
                 !w.ok()) {
        state_.warnings.push_back(
            fmt::format("cannot set the pretimeout governor: {}", w.error().message));
      } else {
        state_.pretimeout_governor = gov;
      }
    }
  }

  if (known && (opts & WDIOF_KEEPALIVEPING) == 0) state_.feed_by_write = true;
  if (known && (opts & WDIOF_MAGICCLOSE) == 0)
    state_.warnings.push_back(fmt::format(
        "{} has no magic close: the kernel stops it whenever the daemon exits, so it cannot "
        "reset a machine whose stallwatchd died",
        dev));
  // The first feed is a write() of a non-'V' byte: it also clears a magic 'V' a previous owner
  // left behind. The kernel keeps that flag across opens when the previous owner's
  // WDIOS_DISABLECARD had already stopped the device, and only write() clears it; left set,
  // our close — even a crash after an escalation — would stop the watchdog. (Seen on 6.1 with
  // i6300esb: closing without 'V' after such a predecessor left the device inactive.)
  const char byte = '\0';
  if (ops_.write(fd_, &byte, 1) == 1) {
    feeds_.fetch_add(1, std::memory_order_relaxed);
    return Ok{};
  }
  state_.warnings.push_back(fmt::format(
      "{}: write() failed, so a magic close left by a previous owner may still be pending", dev));
  if (feed_locked() != FeedResult::kFed)
    return make_error("{}: the first feed failed (neither WDIOC_KEEPALIVE nor write work)", dev);
  return Ok{};
}

FeedResult WatchdogDevice::feed() {
  std::unique_lock lock(mu_, std::try_to_lock);
  if (!lock.owns_lock()) return FeedResult::kSkippedBusy;
  return feed_locked();
}

FeedResult WatchdogDevice::feed_locked() {
  if (fd_ < 0) return FeedResult::kNotArmed;
  if (!state_.feed_by_write) {
    int dummy = 0;
    int rc = ops_.ioctl(fd_, WDIOC_KEEPALIVE, &dummy);
    if (rc >= 0) {
      feeds_.fetch_add(1, std::memory_order_relaxed);
      return FeedResult::kFed;
    }
    if (!unsupported(rc)) return FeedResult::kFailed;
    spdlog::warn("{}: WDIOC_KEEPALIVE unsupported ({}); feeding by write() from now on",
                 settings_.device, err_text(rc));
    state_.feed_by_write = true;
  }
  // Any byte but 'V' pings and cancels a pending magic close.
  const char byte = '\0';
  if (ops_.write(fd_, &byte, 1) == 1) {
    feeds_.fetch_add(1, std::memory_order_relaxed);
    return FeedResult::kFed;
  }
  return FeedResult::kFailed;
}

Result<int> WatchdogDevice::set_timeout(int seconds) {
  std::lock_guard lock(mu_);
  if (fd_ < 0) return make_error("{}: not armed", settings_.device);
  int t = seconds;
  if (int rc = ops_.ioctl(fd_, WDIOC_SETTIMEOUT, &t); rc < 0)
    return make_error("{}: WDIOC_SETTIMEOUT {}s failed: {}", settings_.device, seconds,
                      err_text(rc));
  int got = 0;
  if (int rc = ops_.ioctl(fd_, WDIOC_GETTIMEOUT, &got); rc >= 0 && got > 0) t = got;
  state_.timeout_s = t;
  return t;
}

void WatchdogDevice::close_locked() {
  if (fd_ < 0) return;
  ops_.close(fd_);
  fd_ = -1;
  armed_.store(false, std::memory_order_release);
}

DisarmOutcome WatchdogDevice::disarm() {
  DisarmOutcome out;
  // A keepalive stuck inside the driver holds this lock (and the kernel's own across the ioctl):
  // the stop must not wait for it, it keeps its bound and says what follows.
  std::unique_lock lock(mu_, std::defer_lock);
  if (!lock.try_lock_for(kDisarmWait)) {
    out.stopped = false;
    out.detail = fmt::format(
        "{} cannot be disarmed: a keepalive has been inside the driver for over {} ms; the "
        "device stays armed and resets the machine in about {}s unless stallwatchd is started "
        "again in time",
        settings_.device, kDisarmWait.count(), state_.timeout_s);
    return out;
  }
  if (fd_ < 0) {
    out.stopped = true;
    out.detail = fmt::format("{} was not armed", settings_.device);
    return out;
  }
  int opt = WDIOS_DISABLECARD;
  int rc_disable = ops_.ioctl(fd_, WDIOC_SETOPTIONS, &opt);
  ssize_t rc_magic = ops_.write(fd_, "V", 1);
  close_locked();
  const bool magic_close = !state_.options || (*state_.options & WDIOF_MAGICCLOSE) != 0;
  // EBUSY from WDIOS_DISABLECARD is the kernel's answer for nowayout.
  const bool nowayout = state_.nowayout || rc_disable == -EBUSY;
  if (nowayout) {
    out.stopped = false;
    out.detail = fmt::format(
        "{} has nowayout set and cannot be disarmed: it keeps running and resets the machine in "
        "about {}s unless stallwatchd (or another owner) opens and feeds it again",
        settings_.device, state_.timeout_s);
    return out;
  }
  out.stopped = rc_disable >= 0 || rc_magic == 1 || !magic_close;
  out.detail =
      out.stopped
          ? fmt::format("{} disarmed ({})", settings_.device,
                        rc_disable >= 0 ? "WDIOS_DISABLECARD and magic close" : "magic close")
          : fmt::format("{} may still be running: WDIOS_DISABLECARD: {}, magic close: {}",
                        settings_.device, rc_disable >= 0 ? "ok" : err_text(rc_disable),
                        rc_magic == 1 ? "ok" : err_text(static_cast<int>(rc_magic)));
  return out;
}

DisarmOutcome WatchdogDevice::abandon() {
  std::lock_guard lock(mu_);
  DisarmOutcome out;
  if (fd_ < 0) {
    out.detail = fmt::format("{} was not armed", settings_.device);
    out.stopped = true;
    return out;
  }
  close_locked();
  const bool magic_close = !state_.options || (*state_.options & WDIOF_MAGICCLOSE) != 0;
  out.stopped = !magic_close && !state_.nowayout;
  out.detail = out.stopped
                   ? fmt::format("{} closed; it has no magic close, so the kernel stopped it and "
                                 "the pending reset is cancelled",
                                 settings_.device)
                   : fmt::format("{} closed without the magic character: it keeps counting down "
                                 "and resets the machine within {}s",
                                 settings_.device, state_.timeout_s);
  return out;
}

}  // namespace stallwatch::escalation
