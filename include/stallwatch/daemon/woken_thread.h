// SPDX-License-Identifier: GPL-2.0-or-later
// WokenThread: the shape of a daemon helper the check wakes (the watchdog feeder, the escalation
// actor). One SCHED_FIFO thread (SCHED_OTHER if that is refused and allowed), asleep on its
// RtWake's eventfd with no timer of any CPU on the path; the check wakes it through the checking
// CPU's relay, which first moves it there while it is idle (RtWake, heartbeat.h). Woken, it may
// run on any of the spread CPUs again (thread_move.h, spread_thread), so work that sleeps (a
// keepalive in a slow driver, a bounded persist) is not stranded if a hog takes that CPU; then
// serve() runs. stop() is bounded: the thread is moved off a CPU that may be stalled by a helper,
// woken, and joined until the deadline, else detached (the owner must then keep the object).
// Threads: wake_on() from the check (non-blocking); serve() on the thread; the rest from the
// supervisor. A derived class calls stop() in its own destructor (serve() uses its members).
#pragma once

#include <pthread.h>

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "stallwatch/core/result.h"
#include "stallwatch/daemon/rt_wake.h"

namespace stallwatch::daemon {

class WokenThread {
 public:
  WokenThread() = default;
  virtual ~WokenThread() = default;
  WokenThread(const WokenThread&) = delete;
  WokenThread& operator=(const WokenThread&) = delete;

  Status start(const std::string& name, int priority, bool allow_other);
  void route(HeartbeatManager& relays) { wake_.route(relays); }
  // The CPUs it may run on once woken (the process's CPUs). Before start().
  void set_spread(std::vector<int> cpus) { spread_ = std::move(cpus); }
  bool stop(std::int64_t deadline_ns);
  int tid() const { return wake_.tid(); }  // 0 until the thread runs

 protected:
  void wake_on(int cpu) noexcept { wake_.wake_on(cpu); }
  virtual void serve() = 0;  // one wakeup's work, on the thread

 private:
  void run();
  std::vector<int> spread_;
  RtWake wake_;
  std::atomic<bool> stop_{false};
  pthread_t thread_{};
  bool started_ = false;
};

}  // namespace stallwatch::daemon
