// SPDX-License-Identifier: GPL-2.0-or-later
// Feeder: the small thread that pets the hardware watchdog. Some drivers sleep in the keepalive
// (ipmi_watchdog waits for the BMC, I2C/SPI watchdogs for their bus), so no heartbeat does it.
// The check decides a feed is due and calls request(cpu): the feeder is moved to that CPU (whose
// heartbeat is running right now, so a stalled CPU never holds the feeder) and woken, by that
// CPU's relay (RtWake). Woken, it lets itself run anywhere again before the keepalive
// (WokenThread::set_spread): a keepalive that sleeps while a hog takes that CPU is not stranded
// there. It serves the request and reports it to the CheckRunner, which counts requests that
// were still unserved at the next check. SCHED_FIFO.
// Threads: request() from the check (non-blocking: RtWake::wake_on, once per feed period); the
// feeder thread itself; route()/start()/stop() from the supervisor (woken_thread.h).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>

#include "stallwatch/daemon/woken_thread.h"

namespace stallwatch::daemon {

class Feeder final : public WokenThread {
 public:
  // feed() does the keepalive and returns whether the device was fed; served(n) reports that
  // request n was handled.
  Feeder(std::function<bool()> feed, std::function<void(std::uint64_t)> served);
  ~Feeder() override;

  Status start(int priority, bool allow_other) {
    return WokenThread::start("sw-feeder", priority, allow_other);
  }
  void request(int cpu) noexcept;
  std::uint64_t failures() const { return failures_.load(std::memory_order_relaxed); }

 private:
  void serve() override;
  std::function<bool()> feed_;
  std::function<void(std::uint64_t)> served_;
  std::atomic<std::uint64_t> requested_{0};
  std::atomic<std::uint64_t> failures_{0};
};

}  // namespace stallwatch::daemon
