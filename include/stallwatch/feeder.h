// SPDX-License-Identifier: GPL-2.0-or-later
// Feeder: the small thread that pets the hardware watchdog. Some drivers sleep in the keepalive
// (ipmi_watchdog waits for the BMC, I2C/SPI watchdogs for their bus), so no heartbeat does it.
// The check decides a feed is due and calls request(cpu): the feeder is moved to that CPU (whose
// heartbeat is running right now, so a stalled CPU never holds the feeder) and woken, by that
// CPU's relay (RtWake). Woken, it lets itself run anywhere again before the keepalive
// (set_spread): a keepalive that sleeps while a hog takes that CPU is not stranded there. It serves the request and reports it to the CheckRunner, which counts
// requests that were still unserved at the next check. SCHED_FIFO, unpinned otherwise.
// Threads: request() from the check (non-blocking: RtWake::wake_on, once per feed period); the
// feeder thread itself; route()/start()/stop() from the supervisor.
#pragma once

#include <pthread.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <vector>

#include "stallwatch/result.h"
#include "stallwatch/rt_wake.h"

namespace stallwatch {

class Feeder {
 public:
  // feed() does the keepalive and returns whether the device was fed; served(n) reports that
  // request n was handled.
  Feeder(std::function<bool()> feed, std::function<void(std::uint64_t)> served);
  ~Feeder();
  Feeder(const Feeder&) = delete;
  Feeder& operator=(const Feeder&) = delete;

  Status start(int priority, bool allow_other);
  // Requests go through the relays of relays (RtWake::route), which must outlive this feeder's
  // use by the checks.
  void route(HeartbeatManager& relays) { wake_.route(relays); }
  void request(int cpu) noexcept;
  // The CPUs the feeder may run on while it feeds (the process's CPUs): it spreads itself over
  // them before each keepalive, so a keepalive that sleeps in the driver while a real-time hog
  // takes its CPU resumes on another one (thread_move.h, spread_thread). Before start().
  void set_spread(std::vector<int> cpus) { spread_ = std::move(cpus); }
  // Bounded: the thread is abandoned (left blocked in a driver) after deadline_ns; then false,
  // and the owner must keep this object alive (leak it) since the thread may still use it.
  bool stop(std::int64_t deadline_ns);
  std::uint64_t failures() const { return failures_.load(std::memory_order_relaxed); }
  int tid() const { return wake_.tid(); }  // 0 until the thread runs

 private:
  void run();
  std::function<bool()> feed_;
  std::function<void(std::uint64_t)> served_;
  std::vector<int> spread_;
  RtWake wake_;
  std::atomic<std::uint64_t> requested_{0};
  std::atomic<std::uint64_t> failures_{0};
  std::atomic<bool> stop_{false};
  std::atomic<bool> exited_{false};
  pthread_t thread_{};
  bool started_ = false;
};

}  // namespace stallwatch
