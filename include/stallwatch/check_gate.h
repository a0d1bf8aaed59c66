// SPDX-License-Identifier: GPL-2.0-or-later
// CheckGate: how the stall check travels with the heartbeats. There is no checker thread and no
// checker timer: every heartbeat, after stamping, reads the shared deadline of the next check
// (one relaxed load). The heartbeat that finds it passed and wins the claim (one CAS) runs the
// whole check right there, on its own CPU, which is demonstrably running. A stalled CPU's
// heartbeat cannot win, and no timer of a stalled CPU is on the path, so no single CPU can blind
// detection (DESIGN.md §6). A heartbeat that finds the claim held far longer than a check takes
// knows the owner's CPU froze mid-check and reports that CPU itself (see CheckRunner).
// Shared by all heartbeat threads; the daemon creates it and outlives them.
#pragma once

#include <atomic>
#include <cstdint>
#include <limits>

namespace stallwatch {

struct alignas(64) CheckGate {
  // CLOCK_MONOTONIC ns at which the next check is due; 0 = at once.
  std::atomic<std::int64_t> next_check_ns{0};
  // 0 = free; otherwise CPU + 1 of the heartbeat running the check.
  std::atomic<int> owner{0};
  std::atomic<std::int64_t> claimed_ns{0};
  // claimed_ns of the last claim already reported as stuck (one report per frozen claim).
  std::atomic<std::int64_t> stuck_reported_for{0};
  // Set while the daemon stops: no heartbeat claims a check any more.
  std::atomic<bool> closed{false};

  bool due(std::int64_t now_ns) const { return now_ns >= next_check_ns.load(std::memory_order_relaxed); }

  bool try_claim(int cpu, std::int64_t now_ns) {
    if (closed.load(std::memory_order_relaxed)) return false;
    int expected = 0;
    if (!owner.compare_exchange_strong(expected, cpu + 1, std::memory_order_acquire,
                                       std::memory_order_relaxed))
      return false;
    claimed_ns.store(now_ns, std::memory_order_relaxed);
    return true;
  }

  // The owner publishes the next deadline and releases the claim (its writes to the check state
  // become visible to the next owner through this release).
  void release(std::int64_t next_ns) {
    next_check_ns.store(next_ns, std::memory_order_relaxed);
    owner.store(0, std::memory_order_release);
  }

  void request_check_now() { next_check_ns.store(0, std::memory_order_relaxed); }
};

}  // namespace stallwatch
