// SPDX-License-Identifier: GPL-2.0-or-later
// HeartbeatManager: owns the per-CPU heartbeat threads and their slots. Each heartbeat is pinned
// to its CPU, runs SCHED_FIFO at the configured priority on a small explicit stack, sleeps to
// absolute CLOCK_MONOTONIC deadlines and stamps its slot. After each stamp it reads the shared
// check deadline (CheckGate) and, when the deadline passed (or its own wakeup was late: a
// blackout to look into) and it wins the claim, runs the check through CheckHook on its own CPU
// (see check_gate.h). A stamp counts only when made on the heartbeat's own CPU: a heartbeat that
// wakes elsewhere (something outside changed its affinity) marks its slot displaced and puts
// itself back (one sched_setaffinity of itself, at most once a second). The manager is driven by the supervisor
// (main thread: start/stop on hotplug and reload); the heartbeat threads touch only their slot,
// their own stop flag, the gate and, while they own it, the check.
#pragma once

#include <pthread.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "stallwatch/check_gate.h"
#include "stallwatch/heartbeat_slot.h"
#include "stallwatch/result.h"

namespace stallwatch {

// One check as a heartbeat runs it.
struct CheckCall {
  int cpu = -1;                 // the heartbeat's CPU (where the check runs)
  std::int64_t now_ns = 0;      // its wakeup
  std::int64_t planned_ns = 0;  // the deadline it found
  std::int64_t late_ns = 0;     // how late its wakeup was (a blackout when every one was late)
  std::uint64_t claim = 0;      // the CheckGate claim word it holds
  int took_over_from = -1;      // the CPU of an owner that froze mid-check, if this is a takeover
};

// Runs one check on the calling heartbeat's thread. Must not block, lock, allocate or log.
class CheckHook {
 public:
  virtual ~CheckHook() = default;
  // The caller owns the gate's claim (call.claim); the hook releases it with the next deadline.
  virtual void run_check(const CheckCall& call) noexcept = 0;
  // How long a claim may be held before a bystander takes it over.
  virtual std::int64_t takeover_after_ns() const noexcept = 0;
};

// The check side of one heartbeat wakeup (after its stamp): claims or takes over the gate and
// runs the check when it is due, asked for, or this wakeup was late_bound late (a blackout to
// look into). What every heartbeat calls; tests drive the CheckRunner through it too.
void check_on_wakeup(CheckGate& gate, CheckHook& hook, HeartbeatSlot& slot, int cpu,
                     std::int64_t now_ns, std::int64_t late_ns, std::int64_t late_bound_ns);

struct HeartbeatParams {
  std::int64_t interval_ns = 500'000'000;
  // Phase of this CPU's first deadline within the interval (staggered heartbeats: CPU k of N at
  // k x interval / N), so that some heartbeat wakes every interval / N.
  std::int64_t phase_ns = 0;
  int priority = 99;
  bool allow_degraded = false;  // fall back to SCHED_OTHER when SCHED_FIFO is not permitted
  std::size_t stack_bytes = 64 * 1024;
  CheckGate* gate = nullptr;    // optional (tests); both must outlive the heartbeats
  CheckHook* hook = nullptr;
};

class HeartbeatManager {
 public:
  explicit HeartbeatManager(int slot_count);
  ~HeartbeatManager();
  HeartbeatManager(const HeartbeatManager&) = delete;
  HeartbeatManager& operator=(const HeartbeatManager&) = delete;

  HeartbeatSlot* slots() { return slots_.get(); }
  const HeartbeatSlot* slots() const { return slots_.get(); }
  int slot_count() const { return slot_count_; }

  // Starts the heartbeat of cpu (its slot is reset first). Fails with a message naming the
  // missing capability when SCHED_FIFO is refused and degraded mode is not allowed. A previous
  // thread for the cpu must have exited (see reap()).
  Status start(int cpu, const HeartbeatParams& params);
  // A reload: the running heartbeat of cpu takes the new interval and phase at its next wakeup
  // and the new priority now. Never waits for the heartbeat (its CPU may be stalled), so a
  // stall's episode goes on through a reload. Non-RT caller.
  Status update(int cpu, const HeartbeatParams& params);
  // Asks the cpu's heartbeat to stop; it exits within one interval. Non-blocking.
  void request_stop(int cpu);
  // Joins heartbeats that have exited. Non-blocking. Returns true if cpu has no thread left.
  bool reap(int cpu);
  bool has_thread(int cpu) const;
  // Its thread has exited (after request_stop) and can be reaped.
  bool exited(int cpu) const;
  // Requests every heartbeat to stop and joins those that exit before deadline_ns
  // (CLOCK_MONOTONIC). A heartbeat that cannot run (its CPU is stalled) is abandoned: it keeps
  // its slot, which this manager then never frees. Returns the number abandoned.
  int stop_all(std::int64_t deadline_ns);

  bool degraded() const { return degraded_; }

 private:
  struct Worker {
    int cpu = -1;
    std::atomic<std::int64_t> interval_ns{0};
    std::atomic<std::int64_t> phase_ns{0};
    std::atomic<std::uint32_t> generation{0};  // bumped by update(): re-read interval and phase
    int priority = 0;
    bool fifo = true;
    HeartbeatSlot* slot = nullptr;
    CheckGate* gate = nullptr;
    CheckHook* hook = nullptr;
    std::atomic<bool> stop{false};
    std::atomic<bool> exited{false};
    pthread_t thread{};
  };
  static void* run(void* arg);

  int slot_count_;
  std::unique_ptr<HeartbeatSlot[]> slots_;
  std::vector<std::unique_ptr<Worker>> workers_;  // by cpu; null when none
  bool degraded_ = false;
  bool leak_ = false;  // a heartbeat was abandoned: slots_ and its worker must stay valid
};

}  // namespace stallwatch
