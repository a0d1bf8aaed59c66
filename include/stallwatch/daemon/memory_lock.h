// SPDX-License-Identifier: GPL-2.0-or-later
// Whether stallwatchd locks its memory (mlockall(MCL_CURRENT | MCL_FUTURE)) at start. Locked,
// every later mapping (a thread's stack, a malloc arena) must fit under RLIMIT_MEMLOCK unless
// the process has CAP_IPC_LOCK: under a finite limit, a thread started later (an evidence
// reader during a stall) could then fail with EAGAIN. So the daemon locks only when the limit
// cannot bite: CAP_IPC_LOCK, or an unlimited limit (raised to the hard limit first when that is
// unlimited). Otherwise it runs unlocked and says why. Used by main.cpp only.
#pragma once

#include <sys/resource.h>

#include <string>

namespace stallwatch::daemon {

struct MemoryLockPlan {
  bool lock = false;
  bool raise_soft_limit = false;  // setrlimit(RLIMIT_MEMLOCK, {hard, hard}) first
  std::string why_not;            // when !lock: the warning's reason
};

// Pure: the decision from the limit and the capability.
MemoryLockPlan plan_memory_lock(const rlimit& memlock, bool cap_ipc_lock);

// Reads the limit and CAP_IPC_LOCK, follows the plan. true when memory is locked; else *why
// says why not (for the warning).
bool lock_memory(std::string* why);

}  // namespace stallwatch::daemon
