// SPDX-License-Identifier: GPL-2.0-or-later
// WatchdogOps: the syscalls used on a watchdog character device (open, fstat, ioctl, write, close),
// behind an interface so unit tests drive WatchdogDevice against a fake device. Results follow
// the kernel convention: >= 0 on success, -errno on failure. The system implementation is
// stateless; the device object serialises calls. Owned by WatchdogDevice.
#pragma once

#include <sys/stat.h>
#include <sys/types.h>

#include <cstddef>
#include <memory>
#include <string>

namespace stallwatch::escalation {

class WatchdogOps {
 public:
  virtual ~WatchdogOps() = default;
  // Returns an fd or -errno. Opening a watchdog device starts (arms) it.
  virtual int open(const std::string& path, int flags) = 0;
  // fstat(2) of an fd from open(): 0 or -errno. Tells a watchdog from any other file before
  // anything is written.
  virtual int fstat(int fd, struct stat* st) = 0;
  // Returns the ioctl result (>= 0) or -errno. arg points at an int or a watchdog_info.
  virtual int ioctl(int fd, unsigned long request, void* arg) = 0;
  // Returns bytes written or -errno.
  virtual ssize_t write(int fd, const void* data, std::size_t size) = 0;
  // Returns 0 or -errno.
  virtual int close(int fd) = 0;
};

// The real syscalls (EINTR retried).
std::unique_ptr<WatchdogOps> make_system_watchdog_ops();

}  // namespace stallwatch::escalation
