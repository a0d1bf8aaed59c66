// SPDX-License-Identifier: GPL-2.0-or-later
// CheckGate: how the stall check travels with the heartbeats. No thread of its own and no
// timer runs the check: every heartbeat, after stamping, reads the shared deadline of the next
// check (one relaxed load of a line nobody writes between checks). The heartbeat that finds it
// passed and wins the claim (one CAS) runs the whole check right there, on its own CPU, which is
// demonstrably running. A stalled CPU's heartbeat cannot win, and no timer of a stalled CPU is on
// the path, so no single CPU can blind detection (ARCHITECTURE.md, "How a check happens").
//
// The claim is one 64-bit word: the owner's CPU + 1 in the low 20 bits, the claim time (ms of
// CLOCK_MONOTONIC) above. One word, so a bystander never pairs a new owner with an old time. An
// owner that froze mid-check (a hard-IRQ handler that does not return, an SMI, a higher class
// taking its CPU) would otherwise stop every later check: a heartbeat that finds the claim held
// past the takeover bound replaces the word (CAS) and runs the check itself. The frozen owner,
// if it ever resumes, finds the word changed: it drops the rest of its check (owns() is asked
// before every output) and never releases what it no longer owns.
//
// A request for a check (settings, monitoring changes, a verdict) is a separate flag, so the
// owner's release, which writes the next deadline, cannot lose it.
// Shared by all heartbeat threads; the daemon creates it and outlives them.
#pragma once

#include <atomic>
#include <cstdint>

namespace stallwatch {

struct alignas(64) CheckGate {
  static constexpr int kOwnerBits = 20;
  static constexpr std::uint64_t kOwnerMask = (std::uint64_t{1} << kOwnerBits) - 1;

  // CLOCK_MONOTONIC ns at which the next check is due; 0 = at once.
  std::atomic<std::int64_t> next_check_ns{0};
  // Set by request_check_now(); the next owner clears it before it reads what was requested.
  std::atomic<bool> requested{false};
  // Set while the daemon stops: no heartbeat claims a check any more.
  std::atomic<bool> closed{false};
  // 0 = free; else (claim ms << kOwnerBits) | (owner CPU + 1).
  std::atomic<std::uint64_t> claim{0};
  std::atomic<std::uint64_t> takeovers{0};

  static std::uint64_t word(int cpu, std::int64_t now_ns) {
    const auto ms = static_cast<std::uint64_t>(now_ns / 1'000'000);
    return (ms << kOwnerBits) | (static_cast<std::uint64_t>(cpu + 1) & kOwnerMask);
  }
  static int owner_of(std::uint64_t w) { return static_cast<int>(w & kOwnerMask) - 1; }
  static std::int64_t claimed_ns_of(std::uint64_t w) {
    return static_cast<std::int64_t>(w >> kOwnerBits) * 1'000'000;
  }

  bool due(std::int64_t now_ns) const {
    return now_ns >= next_check_ns.load(std::memory_order_relaxed) ||
           requested.load(std::memory_order_relaxed);
  }

  // Returns the claim word (0 = not claimed). The caller passes it to owns() and release().
  std::uint64_t try_claim(int cpu, std::int64_t now_ns) {
    if (closed.load(std::memory_order_relaxed)) return 0;
    std::uint64_t expected = 0;
    const std::uint64_t mine = word(cpu, now_ns);  // never 0: the owner part is CPU + 1
    if (!claim.compare_exchange_strong(expected, mine, std::memory_order_acquire,
                                       std::memory_order_relaxed))
      return 0;
    return mine;
  }

  // The claim has been held past bound_ns by an owner that froze: replace it. Returns the new
  // word, or 0 when the claim is free, fresh, or another bystander took it first.
  std::uint64_t try_take_over(int cpu, std::int64_t now_ns, std::int64_t bound_ns) {
    if (closed.load(std::memory_order_relaxed)) return 0;
    std::uint64_t held = claim.load(std::memory_order_relaxed);
    if (held == 0 || now_ns - claimed_ns_of(held) <= bound_ns) return 0;
    std::uint64_t mine = word(cpu, now_ns);
    if (mine == held) return 0;
    if (!claim.compare_exchange_strong(held, mine, std::memory_order_acquire,
                                       std::memory_order_relaxed))
      return 0;
    takeovers.fetch_add(1, std::memory_order_relaxed);
    return mine;
  }

  bool owns(std::uint64_t mine) const { return claim.load(std::memory_order_relaxed) == mine; }

  // The owner publishes the next deadline and releases the claim (its writes to the check state
  // become visible to the next owner through this release). An owner that was taken over does
  // neither: the deadline belongs to whoever owns the claim now.
  bool release(std::uint64_t mine, std::int64_t next_ns) {
    if (!owns(mine)) return false;
    next_check_ns.store(next_ns, std::memory_order_relaxed);
    return claim.compare_exchange_strong(mine, 0, std::memory_order_release,
                                         std::memory_order_relaxed);
  }

  // Any thread: the next heartbeat to wake runs a check, whatever the deadline says.
  void request_check_now() { requested.store(true, std::memory_order_release); }
  // The owner, before it reads what was requested.
  bool take_request() {
    return requested.load(std::memory_order_relaxed) &&
           requested.exchange(false, std::memory_order_acquire);
  }
};

}  // namespace stallwatch
