// SPDX-License-Identifier: GPL-2.0-or-later
#include "stallwatch/daemon/memory_lock.h"

#include <gtest/gtest.h>

namespace stallwatch::daemon {
namespace {

TEST(MemoryLock, LocksWithCapIpcLockWhateverTheLimit) {
  auto plan = plan_memory_lock(rlimit{8 << 20, 8 << 20}, true);
  EXPECT_TRUE(plan.lock);
  EXPECT_FALSE(plan.raise_soft_limit);
}

TEST(MemoryLock, LocksUnderAnUnlimitedLimit) {
  auto plan = plan_memory_lock(rlimit{RLIM_INFINITY, RLIM_INFINITY}, false);
  EXPECT_TRUE(plan.lock);
  EXPECT_FALSE(plan.raise_soft_limit);
}

TEST(MemoryLock, RaisesASoftLimitWhenTheHardOneIsUnlimited) {
  auto plan = plan_memory_lock(rlimit{8 << 20, RLIM_INFINITY}, false);
  EXPECT_TRUE(plan.lock);
  EXPECT_TRUE(plan.raise_soft_limit);
}

// Debian's default: 8 MiB without the capability. The daemon's 8.4 MiB would fit at first, and
// the next thread's stack would not: it must not lock at all.
TEST(MemoryLock, StaysUnlockedUnderAFiniteLimitWithoutTheCapability) {
  auto plan = plan_memory_lock(rlimit{8 << 20, 8 << 20}, false);
  EXPECT_FALSE(plan.lock);
  EXPECT_NE(plan.why_not.find("RLIMIT_MEMLOCK is 8192 KiB"), std::string::npos) << plan.why_not;
  EXPECT_NE(plan.why_not.find("CAP_IPC_LOCK"), std::string::npos);
}

}  // namespace
}  // namespace stallwatch::daemon
