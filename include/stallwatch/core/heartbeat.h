// SPDX-License-Identifier: GPL-2.0-or-later
// HeartbeatManager: owns the per-CPU heartbeat threads and their slots. Each heartbeat is pinned
// to its CPU, runs SCHED_FIFO at the configured priority on a small explicit stack, sleeps to
// absolute CLOCK_MONOTONIC deadlines and stamps its slot. After each stamp it reads the shared
// check deadline (CheckGate) and, when the deadline passed (or its own wakeup was late: a
// blackout to look into) and it wins the claim, runs the check through CheckHook on its own CPU
// (see check_gate.h). A stamp counts only when made on the heartbeat's own CPU: a heartbeat that
// wakes elsewhere (something outside changed its affinity) marks its slot displaced and asks its
// relay to put it back (at most once a second).
//
// The relay: beside each heartbeat, a second thread pinned to the same CPU at the same policy
// and priority, asleep on an eventfd. It does, for the heartbeat, what a real-time path must not
// do: sched_setaffinity() (which can wait for another CPU or for reclaim; thread_move.h). The
// check wakes a helper (the dispatcher, the watchdog feeder) through its own CPU's relay: the
// relay is pinned there, so the eventfd write enqueues it locally (no IPI, no other CPU), and
// being FIFO at the heartbeat's priority it runs as soon as the heartbeat sleeps, moves the
// helper to that CPU (running, so not stalled) and wakes it there. If a move waits, only the
// relay waits; the heartbeat stamps and checks on.
//
// The manager is driven by the supervisor (main thread: start/stop on hotplug and reload); the
// heartbeat threads touch only their slot, their relay's pending bits and eventfd, their own stop
// flag, the gate and, while they own it, the check.
#pragma once

#include <pthread.h>

#include <sys/types.h>

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "stallwatch/core/check_gate.h"
#include "stallwatch/core/heartbeat_slot.h"
#include "stallwatch/core/result.h"

namespace stallwatch {

// One check as a heartbeat runs it.
struct CheckCall {
  int cpu = -1;                 // the heartbeat's CPU (where the check runs)
  std::int64_t now_ns = 0;      // its wakeup
  std::int64_t planned_ns = 0;  // the deadline it found
  std::int64_t late_ns = 0;     // how late its wakeup was (a blackout when every one was late)
  std::uint64_t claim = 0;      // the CheckGate claim word it holds
  int took_over_from = -1;      // the CPU of an owner that froze mid-check, if this is a takeover
  bool attention = false;       // its slot asked for a check (check its own CPU's group)
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

// A helper thread the check wakes through the checking CPU's relay (RtWake in the daemon).
class RelayTarget {
 public:
  virtual ~RelayTarget() = default;
  // On the relay of cpu (pinned there; not the heartbeat): make the helper run on cpu and wake
  // it. May wait in sched_setaffinity(): only the relay waits.
  virtual void move_and_wake(int cpu) noexcept = 0;
};

struct HeartbeatParams {
  std::int64_t interval_ns = 500'000'000;
  // Phase of this CPU's first deadline within the interval (staggered heartbeats: CPU k of N at
  // k x interval / N), so that some heartbeat wakes every interval / N.
  std::int64_t phase_ns = 0;
  int priority = 99;
  bool allow_degraded = false;          // fall back to SCHED_OTHER when SCHED_FIFO is not permitted
  std::size_t stack_bytes = 16 * 1024;  // raised to the libc minimum where that is larger
  CheckGate* gate = nullptr;            // optional (tests); both must outlive the heartbeats
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

  // The deepest stack any heartbeat and any relay of this manager used (their stack canary,
  // thread_start.h), measured by each thread at its exit and gathered when it is joined (reap(),
  // stop_all()); an abandoned thread reports nothing. Supervisor thread only.
  struct StackHighWater {
    std::size_t heartbeat_bytes = 0;         // the most any joined heartbeat used
    std::size_t heartbeat_stack_bytes = 0;   // the stack size it was given
    std::size_t heartbeat_locked_bytes = 0;  // of which locked (kLockedStackBytes; 0 unlocked)
    int heartbeats = 0;                      // how many reported
    std::size_t relay_bytes = 0;
    std::size_t relay_stack_bytes = 0;
    std::size_t relay_locked_bytes = 0;
    int relays = 0;
  };
  const StackHighWater& stack_high_water() const { return high_water_; }
  // The relay's stack: the smallest glibc allows (min_thread_stack_bytes() where that is larger).
  // It sleeps in read() and moves threads (a 1 KiB CPU mask on its stack).
  static constexpr std::size_t kRelayStackBytes = 16 * 1024;
  // The part of a heartbeat's or relay's stack kept locked and resident (from its top, where
  // glibc also keeps the thread's descriptor and static TLS); the rest is an unlocked reserve
  // (ThreadOptions::locked_stack_bytes). Measured high-water on their deepest paths (a stall
  // escalated, WATCHDOG pings, a blackout, a reload, a taskset move, a stop signal's frame):
  // 7.8 KiB for a heartbeat, 5.8 KiB for a relay; host_stack_high_water keeps both within
  // two thirds of it and the reserve untouched.
  static constexpr std::size_t kLockedStackBytes = 12 * 1024;

  // Registers a helper that checks wake through relays; returns its index for relay(), or -1
  // when kMaxRelayTargets are registered. A target is never unregistered: it must outlive every
  // heartbeat and relay thread (stop_all() joined them, or they were abandoned with it).
  static constexpr int kMaxRelayTargets = 8;
  int add_relay_target(RelayTarget* target);
  // Real-time safe (the check calls it): asks cpu's relay to move target onto cpu and wake it:
  // one atomic OR and one eventfd write. False when cpu has no running relay (the caller then
  // wakes the target without moving it).
  bool relay(int cpu, int target) noexcept;
  // Thread id of cpu's relay (0 when none).
  pid_t relay_tid(int cpu) const;

 private:
  // One per CPU, allocated once: the check reads it without the supervisor's vector of workers.
  struct alignas(64) RelayBox {
    std::atomic<int> efd{-1};          // blocking eventfd the relay reads; kept open for the
                                       // manager's life (never reused while a check may write it)
    std::atomic<bool> running{false};  // a relay thread serves it
    std::atomic<std::uint32_t> pending{0};  // bit i: wake target i; kPutBack: re-pin the heartbeat
  };
  static constexpr std::uint32_t kPutBack = 1U << 31;
  struct Worker {
    // Read at every wakeup, so in one cache line: the stop flag and the generation.
    alignas(64) std::atomic<bool> stop{false};
    std::atomic<std::uint32_t> generation{0};  // bumped by update(): re-read interval and phase
    int cpu = -1;
    std::atomic<std::int64_t> interval_ns{0};
    std::atomic<std::int64_t> phase_ns{0};
    int priority = 0;
    bool fifo = true;
    HeartbeatSlot* slot = nullptr;
    CheckGate* gate = nullptr;
    CheckHook* hook = nullptr;
    RelayBox* box = nullptr;
    const std::atomic<RelayTarget*>* targets = nullptr;
    std::atomic<bool> exited{false};
    pthread_t thread{};
    std::atomic<bool> has_relay{false};
    std::atomic<bool> relay_exited{false};
    std::atomic<pid_t> relay_tid{0};
    pthread_t relay{};
    // Stack sizes given and their high-water, written by each thread before its exited flag.
    std::size_t stack_bytes = 0;
    std::size_t relay_stack_bytes = 0;
    std::size_t stack_used = 0;
    std::size_t relay_stack_used = 0;
  };
  static void* run(void* arg);
  static void displaced(Worker& w, HeartbeatSlot& slot, int on, std::int64_t now,
                        std::int64_t& next_put_back);
  static void* run_relay(void* arg);
  Status start_relay(Worker& w);
  static void post(RelayBox& box, std::uint32_t bits) noexcept;
  void note_stack_use(const Worker& w, bool heartbeat, bool relay);

  int slot_count_;
  std::unique_ptr<HeartbeatSlot[]> slots_;
  std::vector<std::unique_ptr<Worker>> workers_;  // by cpu; null when none
  std::unique_ptr<RelayBox[]> boxes_;             // by cpu
  std::array<std::atomic<RelayTarget*>, kMaxRelayTargets> targets_{};
  std::atomic<int> target_count_{0};
  bool degraded_ = false;
  bool leak_ = false;  // a heartbeat was abandoned: slots_ and its worker must stay valid
  StackHighWater high_water_;
};

}  // namespace stallwatch
