// HeartbeatManager: owns the per-CPU heartbeat threads and their slots. Each heartbeat is pinned
// to its CPU, runs SCHED_FIFO at the configured priority on a small explicit stack, sleeps to
// absolute CLOCK_MONOTONIC deadlines and stamps its slot. The manager is driven by the checker
// thread only (start/stop on hotplug and reload); the heartbeat threads touch only their slot and
// their own stop flag.
#pragma once

#include <pthread.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "stallwatch/heartbeat_slot.h"
#include "stallwatch/result.h"

namespace stallwatch {

// CheckerBeacon: the checker's last tick time and thread id, read by every heartbeat after its
// stamp (one relaxed load on the hot path). A checker woken on a CPU that is spinning in
// non-preemptible kernel code stays queued there: the scheduler's RT push logic does not move a
// queued RT task off a CPU whose current task has lower priority, expecting a preemption that
// never comes. The first heartbeat that sees the checker overdue moves it to its own CPU, which
// is demonstrably running; this is the one syscall a heartbeat may make, and only then.
struct alignas(64) CheckerBeacon {
  std::atomic<std::int64_t> last_tick_ns{0};
  std::atomic<std::int64_t> overdue_ns{0};  // 0 = rescue off
  std::atomic<int> tid{0};
  std::atomic<int> rescued_by{-1};          // CPU whose heartbeat moved the checker; -1 none
};

struct HeartbeatParams {
  std::int64_t interval_ns = 500'000'000;
  int priority = 99;
  bool allow_degraded = false;  // fall back to SCHED_OTHER when SCHED_FIFO is not permitted
  std::size_t stack_bytes = 64 * 1024;
  CheckerBeacon* beacon = nullptr;  // optional; must outlive the heartbeats
};

class HeartbeatManager {
 public:
  explicit HeartbeatManager(int slot_count);
  ~HeartbeatManager();
  HeartbeatManager(const HeartbeatManager&) = delete;
  HeartbeatManager& operator=(const HeartbeatManager&) = delete;

  HeartbeatSlot* slots() { return slots_.get(); }
  int slot_count() const { return slot_count_; }

  // Starts the heartbeat of cpu (its slot is reset first). Fails with a message naming the
  // missing capability when SCHED_FIFO is refused and degraded mode is not allowed. A previous
  // thread for the cpu must have exited (see reap()).
  Status start(int cpu, const HeartbeatParams& params);
  // Asks the cpu's heartbeat to stop; it exits within one interval. Non-blocking.
  void request_stop(int cpu);
  // Joins heartbeats that have exited. Non-blocking. Returns true if cpu has no thread left.
  bool reap(int cpu);
  bool has_thread(int cpu) const;
  void stop_all();  // request + join all (blocks up to one interval)

  bool degraded() const { return degraded_; }

 private:
  struct Worker {
    int cpu = -1;
    std::int64_t interval_ns = 0;
    HeartbeatSlot* slot = nullptr;
    CheckerBeacon* beacon = nullptr;
    std::atomic<bool> stop{false};
    std::atomic<bool> exited{false};
    pthread_t thread{};
  };
  static void* run(void* arg);

  int slot_count_;
  std::unique_ptr<HeartbeatSlot[]> slots_;
  std::vector<std::unique_ptr<Worker>> workers_;  // by cpu; null when none
  bool degraded_ = false;
};

}  // namespace stallwatch
