// SPDX-License-Identifier: GPL-2.0-or-later
#include "stallwatch/daemon/memory_lock.h"

#include <linux/capability.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

namespace stallwatch::daemon {

namespace {

bool has_cap_ipc_lock() {
  __user_cap_header_struct header{};
  header.version = _LINUX_CAPABILITY_VERSION_3;
  header.pid = 0;
  __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = {};
  if (::syscall(SYS_capget, &header, data) != 0) return false;
  return (data[CAP_IPC_LOCK / 32].effective & (1U << (CAP_IPC_LOCK % 32))) != 0;
}

}  // namespace

MemoryLockPlan plan_memory_lock(const rlimit& memlock, bool cap_ipc_lock) {
  MemoryLockPlan plan;
  if (cap_ipc_lock || memlock.rlim_cur == RLIM_INFINITY) {
    plan.lock = true;
    return plan;
  }
  if (memlock.rlim_max == RLIM_INFINITY) {
    plan.lock = true;
    plan.raise_soft_limit = true;
    return plan;
  }
  plan.why_not = fmt::format(
      "RLIMIT_MEMLOCK is {} KiB and there is no CAP_IPC_LOCK: locked, every thread started "
      "later would have to fit under it, and one that did not would fail to start",
      memlock.rlim_cur / 1024);
  return plan;
}

bool lock_memory(std::string* why) {
  rlimit limit{};
  if (::getrlimit(RLIMIT_MEMLOCK, &limit) != 0) limit = rlimit{0, 0};
  const MemoryLockPlan plan = plan_memory_lock(limit, has_cap_ipc_lock());
  if (!plan.lock) {
    *why = plan.why_not;
    return false;
  }
  if (plan.raise_soft_limit) {
    const rlimit raised{limit.rlim_max, limit.rlim_max};
    if (::setrlimit(RLIMIT_MEMLOCK, &raised) != 0) {
      *why = fmt::format("raising RLIMIT_MEMLOCK from {} KiB to unlimited failed ({})",
                         limit.rlim_cur / 1024, std::strerror(errno));
      return false;
    }
  }
  if (::mlockall(MCL_CURRENT | MCL_FUTURE) != 0) {
    *why = fmt::format("mlockall failed ({})", std::strerror(errno));
    return false;
  }
  return true;
}

}  // namespace stallwatch::daemon
