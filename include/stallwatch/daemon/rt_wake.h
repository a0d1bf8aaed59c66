// SPDX-License-Identifier: GPL-2.0-or-later
// RtWake: how the real-time check wakes a helper thread (the dispatcher, the watchdog feeder) so
// that the helper runs on the checking CPU, whatever CPU it last ran on, and without the check
// ever waiting for another CPU or calling sched_setaffinity() itself.
//
// Why: a sleeping thread is woken onto the CPU the scheduler picks, usually the one it last ran
// on. When that CPU is stuck in a hard-IRQ handler or spins with interrupts off, the wakeup is
// queued there (the remote-wakeup IPI is never taken) and the helper does not run until the
// stall ends: the stall report, the counter baseline and the feed would all wait for the stall.
// So the helper is moved to the checking CPU (running right now) before it is woken. Moving a
// thread is a call the real-time path must not make (it can wait for the thread's CPU, and
// allocates in the kernel: thread_move.h), so wake_on(cpu) hands both steps to the relay of
// that CPU (heartbeat.h): one atomic OR and one eventfd write on the check's side; the relay,
// pinned there and woken locally, makes the move and the wakeup.
//
// The move is made only while the helper has declared itself idle (about to wait, or waiting):
// then it is immediate; a helper caught by a freezing CPU mid-work is left where it is and only
// woken (it could not be moved anyway, and a relay waiting for it would wait for the stall).
// Threads: attach()/idle()/busy() on the helper; wake_on() from the check; move_and_wake() from
// a relay; wake() from any thread; route() once by the owner before the checks start.
#pragma once

#include <atomic>
#include <cstdint>

#include "stallwatch/core/heartbeat.h"
#include "stallwatch/core/unique_fd.h"

namespace stallwatch::daemon {

class RtWake final : public RelayTarget {
 public:
  RtWake();  // creates the non-blocking eventfd; valid() says whether it could
  RtWake(const RtWake&) = delete;
  RtWake& operator=(const RtWake&) = delete;

  bool valid() const { return fd_.valid(); }
  int fd() const { return fd_.get(); }
  int tid() const { return tid_.load(std::memory_order_acquire); }

  // Wakes from the check go through the relays of relays (which must outlive every check and
  // relay thread; this object must outlive them too). Without it, wake_on() only wakes.
  void route(HeartbeatManager& relays);

  // Helper side.
  void attach() noexcept;  // on the helper thread, once: records its thread id
  void idle() noexcept;    // about to wait on fd()
  // Woke up: reads the eventfd counter (0 if none) and leaves the idle state. *moved says
  // whether a relay pinned this thread to its CPU since idle() (the helper may widen it again).
  std::uint64_t busy(bool* moved = nullptr) noexcept;

  // From the check on cpu: the relay of cpu moves the helper there and wakes it. Real-time safe.
  void wake_on(int cpu) noexcept;
  // On the relay of cpu (RelayTarget): at most one sched_setaffinity (only while the helper is
  // idle) and one eventfd write.
  void move_and_wake(int cpu) noexcept override;
  void wake() noexcept;  // without moving (non-real-time callers; no relay for the CPU)

 private:
  UniqueFd fd_;
  std::atomic<HeartbeatManager*> relays_{nullptr};
  std::atomic<int> index_{-1};
  std::atomic<int> tid_{0};
  std::atomic<bool> idle_{false};
  std::atomic<bool> moved_{false};
};

}  // namespace stallwatch::daemon
