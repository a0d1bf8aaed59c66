// SPDX-License-Identifier: GPL-2.0-or-later
// RtWake: how the real-time check wakes a helper thread (the dispatcher, the watchdog feeder) so
// that the helper runs on the checking CPU, whatever CPU it last ran on, and without the check
// ever waiting for another CPU.
//
// Why: a sleeping thread is woken onto the CPU the scheduler picks, usually the one it last ran
// on. When that CPU is stuck in a hard-IRQ handler or spins with interrupts off, the wakeup is
// queued there (the remote-wakeup IPI is never taken) and the helper does not run until the
// stall ends: the stall report, the counter baseline and the feed would all wait for the stall.
// wake_on(cpu) first restricts the helper to the checking CPU (running right now) and then wakes
// it, so the kernel enqueues it locally.
//
// Moving a thread is immediate while it sleeps or waits on a run queue; it waits for the thread's
// CPU only when the thread is running there. So the move is made only while the helper has
// declared itself idle (about to wait, or waiting), never while it works: a helper caught by a
// freezing CPU mid-work is left where it is and only woken (it could not be moved anyway). The
// remaining window is the instant between idle() and the wait itself.
// Threads: attach()/idle()/busy() on the helper; wake_on()/wake() from any thread.
#pragma once

#include <atomic>
#include <cstdint>

#include "stallwatch/unique_fd.h"

namespace stallwatch {

class RtWake {
 public:
  RtWake();  // creates the non-blocking eventfd; valid() says whether it could
  RtWake(const RtWake&) = delete;
  RtWake& operator=(const RtWake&) = delete;

  bool valid() const { return fd_.valid(); }
  int fd() const { return fd_.get(); }

  // Helper side.
  void attach() noexcept;  // on the helper thread, once: records its thread id
  void idle() noexcept;    // about to wait on fd()
  // Woke up: reads the eventfd counter (0 if none) and leaves the idle state. *moved says
  // whether a waker pinned this thread to its CPU since idle() (the helper may widen it again).
  std::uint64_t busy(bool* moved = nullptr) noexcept;

  // Waker side. Non-blocking: at most one sched_setaffinity (only while the helper is idle) and
  // one eventfd write.
  void wake_on(int cpu) noexcept;
  void wake() noexcept;  // without moving (non-real-time callers)

 private:
  UniqueFd fd_;
  std::atomic<int> tid_{0};
  std::atomic<bool> idle_{false};
  std::atomic<bool> moved_{false};
};

}  // namespace stallwatch
