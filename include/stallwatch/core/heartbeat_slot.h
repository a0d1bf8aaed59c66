// SPDX-License-Identifier: GPL-2.0-or-later
// HeartbeatSlot: one per CPU, written only by that CPU's heartbeat thread (attention: also by
// the check), read by the check (and the status writer, the blackout judge). Cache-line aligned so
// heartbeats on different CPUs never share a line. seq is published with release and read with
// acquire before last_ns; the counters are relaxed: a reader may see them a wakeup behind, which is
// fine for statistics.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>

namespace stallwatch {

// Wakeup lateness histogram: bucket k counts lateness in [2^k, 2^(k+1)) ns; bucket 0 also holds 0.
inline constexpr int kLatenessBuckets = 40;  // up to 2^40 ns ~ 18 min

inline int lateness_bucket(std::int64_t late_ns) {
  if (late_ns <= 1) return 0;
  int b = 63 - __builtin_clzll(static_cast<unsigned long long>(late_ns));
  return b < kLatenessBuckets ? b : kLatenessBuckets - 1;
}

// displaced_on: kOnItsCpu while its heartbeat runs on its own CPU; the CPU it was found on
// when something outside moved it (taskset -a, tuna, a cpuset rewrite); kReturning once the
// heartbeat has put itself back (placed_ns says when) and not yet stamped there.
inline constexpr int kOnItsCpu = -1;
inline constexpr int kReturning = -2;

struct alignas(64) HeartbeatSlot {
  std::atomic<std::int64_t> last_ns{0};       // CLOCK_MONOTONIC of the last stamp; 0 = not yet
  std::atomic<std::uint64_t> seq{0};          // stamps so far; published last (release)
  std::atomic<std::int64_t> last_late_ns{0};  // lateness of the last stamp's wakeup
  std::atomic<std::int64_t> late_max_ns{0};
  std::atomic<int> on_cpu{-1};  // CPU the heartbeat last ran on
  std::atomic<int> displaced_on{kOnItsCpu};
  std::atomic<int> moved_to{-1};                // the CPU it was last found on, elsewhere
  std::atomic<std::uint32_t> displacements{0};  // times it was found elsewhere
  std::atomic<std::int64_t> placed_ns{0};       // when a displaced heartbeat put itself back
  std::atomic<int> tid{0};  // the heartbeat thread (schedstat evidence of a blackout)
  // Set by the check when it declares this CPU stalled; the heartbeat's next stamp (the CPU is
  // back) then asks for a check at once, so recovery is reported without waiting for a deadline.
  // Set by reset() too: a new heartbeat's first stamp is checked at once, so its CPU counts as
  // started (READY=1, status) without waiting for the next deadline.
  std::atomic<int> attention{0};
  std::array<std::atomic<std::uint64_t>, kLatenessBuckets> late_hist{};

  // Heartbeat side: called once per wakeup made on the slot's own CPU (a stamp made elsewhere
  // does not count: see displaced_on). Single writer, so plain load/store, no RMW. last_ns is
  // written before seq and seq is published with release: a reader that loads seq (acquire)
  // first never pairs a new seq with an old last_ns, which would hide a recovery.
  void stamp(std::int64_t now_ns, std::int64_t late_ns, int cpu) {
    if (late_ns < 0) late_ns = 0;
    auto& bucket = late_hist[static_cast<std::size_t>(lateness_bucket(late_ns))];
    bucket.store(bucket.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    if (late_ns > late_max_ns.load(std::memory_order_relaxed))
      late_max_ns.store(late_ns, std::memory_order_relaxed);
    on_cpu.store(cpu, std::memory_order_relaxed);
    last_late_ns.store(late_ns, std::memory_order_relaxed);
    last_ns.store(now_ns, std::memory_order_relaxed);
    seq.store(seq.load(std::memory_order_relaxed) + 1, std::memory_order_release);
  }

  // Owner side, only while no heartbeat thread runs for this slot.
  void reset() {
    last_ns.store(0, std::memory_order_relaxed);
    seq.store(0, std::memory_order_relaxed);
    last_late_ns.store(0, std::memory_order_relaxed);
    late_max_ns.store(0, std::memory_order_relaxed);
    on_cpu.store(-1, std::memory_order_relaxed);
    displaced_on.store(kOnItsCpu, std::memory_order_relaxed);
    moved_to.store(-1, std::memory_order_relaxed);
    displacements.store(0, std::memory_order_relaxed);
    placed_ns.store(0, std::memory_order_relaxed);
    tid.store(0, std::memory_order_relaxed);
    attention.store(1, std::memory_order_relaxed);
    for (auto& b : late_hist) b.store(0, std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_release);
  }
};

static_assert(sizeof(HeartbeatSlot) % 64 == 0);

// Percentile (0..1) of a lateness histogram, as the upper bound of the bucket it falls in (ns).
std::int64_t lateness_percentile_ns(const HeartbeatSlot& slot, double q);

}  // namespace stallwatch
