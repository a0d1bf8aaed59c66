// SPDX-License-Identifier: GPL-2.0-or-later
#include "stallwatch/daemon/woken_thread.h"

#include <sched.h>
#include <sys/select.h>
#include <time.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "stallwatch/core/clock.h"
#include "stallwatch/core/thread_move.h"
#include "stallwatch/core/thread_start.h"

namespace stallwatch::daemon {

Status WokenThread::start(const std::string& name, int priority, bool allow_other) {
  if (!wake_.valid()) return make_error("eventfd: {}", std::strerror(errno));
  auto create = [&](bool fifo) {
    ThreadOptions options;
    options.name = name.c_str();
    options.stack_bytes = 64 * 1024;
    // Real-time, on the feeding and escalation paths: the whole stack stays locked, so no depth
    // of it can ever take a fault there (helpers lock only the top, kHelperLockedStackBytes).
    options.locked_stack_bytes = 0;
    options.sched = fifo ? ThreadSched::kFifo : ThreadSched::kOther;
    options.priority = priority;
    return start_thread(&thread_, &thread_entry<WokenThread, &WokenThread::run>, this, options);
  };
  int rc = create(true);
  if (rc == EPERM && allow_other) rc = create(false);
  if (rc != 0) return make_error("cannot start the {} thread: {}", name, std::strerror(rc));
  started_ = true;
  return Ok{};
}

void WokenThread::run() {
  wake_.attach();
  while (!stop_.load(std::memory_order_acquire)) {
    if (wake_.busy() == 0) {
      // Wait for the next wake, without a timer of any CPU on the path.
      wake_.idle();
      fd_set set;
      FD_ZERO(&set);
      FD_SET(wake_.fd(), &set);
      ::select(wake_.fd() + 1, &set, nullptr, nullptr, nullptr);
      continue;
    }
    if (stop_.load(std::memory_order_acquire)) break;
    if (!spread_.empty()) (void)spread_thread(0, spread_);  // on a running CPU: no move needed
    serve();
  }
}

bool WokenThread::stop(std::int64_t deadline_ns) {
  if (!started_) return true;
  started_ = false;
  stop_.store(true, std::memory_order_release);
  // The last check may have moved it to a CPU that is stalled now: it could neither exit nor
  // let the process be reaped. The CPU running this stop is demonstrably running. The move is
  // made by a helper: a thread running in a driver on a stalled CPU would make it wait.
  const std::int64_t now = mono_now_ns();
  if (const int cpu = sched_getcpu(); cpu >= 0 && wake_.tid() > 0)
    (void)move_threads_until({static_cast<pid_t>(wake_.tid())}, {cpu},
                             std::min(deadline_ns, now + 100'000'000));
  wake_.wake();
  if (join_until(thread_, deadline_ns)) return true;
  pthread_detach(thread_);
  return false;
}

}  // namespace stallwatch::daemon
