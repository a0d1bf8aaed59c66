// SPDX-License-Identifier: GPL-2.0-or-later
#include "stallwatch/escalation/watchdog_ops.h"

#include <fcntl.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>

namespace stallwatch::escalation {
namespace {

class SystemWatchdogOps final : public WatchdogOps {
 public:
  int open(const std::string& path, int flags) override {
    for (;;) {
      int fd = ::open(path.c_str(), flags);
      if (fd >= 0) return fd;
      if (errno != EINTR) return -errno;
    }
  }
  int fstat(int fd, struct stat* st) override { return ::fstat(fd, st) == 0 ? 0 : -errno; }
  int ioctl(int fd, unsigned long request, void* arg) override {
    for (;;) {
      int rc = ::ioctl(fd, request, arg);
      if (rc >= 0) return rc;
      if (errno != EINTR) return -errno;
    }
  }
  ssize_t write(int fd, const void* data, std::size_t size) override {
    for (;;) {
      ssize_t n = ::write(fd, data, size);
      if (n >= 0) return n;
      if (errno != EINTR) return -errno;
    }
  }
  int close(int fd) override {
    // Never retry close on EINTR (the fd is gone either way on Linux).
    return ::close(fd) == 0 ? 0 : -errno;
  }
};

}  // namespace

std::unique_ptr<WatchdogOps> make_system_watchdog_ops() {
  return std::make_unique<SystemWatchdogOps>();
}

}  // namespace stallwatch::escalation
