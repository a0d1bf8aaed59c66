// SPDX-License-Identifier: GPL-2.0-or-later
#include "stallwatch/daemon/exit_path.h"

#include <sched.h>
#include <unistd.h>

#include <vector>

#include "stallwatch/core/clock.h"
#include "stallwatch/core/thread_move.h"
#include "stallwatch/daemon/thread_placement.h"

namespace stallwatch::daemon {

void gather_threads_for_exit(int wait_ms) {
  const int cpu = sched_getcpu();
  if (cpu < 0) return;
  std::vector<pid_t> tids;
  for_each_other_thread([&](pid_t tid) { tids.push_back(tid); });
  (void)move_threads_until(tids, {cpu},
                           mono_now_ns() + static_cast<std::int64_t>(wait_ms) * 1'000'000);
}

}  // namespace stallwatch::daemon
