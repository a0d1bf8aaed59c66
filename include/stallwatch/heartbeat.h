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

struct HeartbeatParams {
  std::int64_t interval_ns = 500'000'000;
  int priority = 99;
  bool allow_degraded = false;  // fall back to SCHED_OTHER when SCHED_FIFO is not permitted
  std::size_t stack_bytes = 64 * 1024;
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
