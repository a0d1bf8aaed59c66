// SPDX-License-Identifier: GPL-2.0-or-later
// EventRing: a bounded, lock-free multi-producer / single-consumer queue of trivially copyable
// records (Vyukov's bounded queue). The real-time side (the heartbeat that runs a check, or one
// that finds a check owner stuck) pushes without ever blocking or allocating; a full ring drops
// the record and counts it. The consumer is the non-RT dispatcher thread, which reports the
// drop count when it catches up. Capacity is fixed at construction (a power of two).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <type_traits>

namespace stallwatch {

template <class T>
class EventRing {
  static_assert(std::is_trivially_copyable_v<T>, "records cross threads by copy");

 public:
  explicit EventRing(std::size_t capacity_pow2)
      : mask_(capacity_pow2 - 1), cells_(new Cell[capacity_pow2]) {
    for (std::size_t i = 0; i < capacity_pow2; ++i)
      cells_[i].seq.store(i, std::memory_order_relaxed);
  }
  EventRing(const EventRing&) = delete;
  EventRing& operator=(const EventRing&) = delete;

  // Any thread. Never blocks; false (and counted) when full.
  bool push(const T& value) {
    std::size_t pos = head_.load(std::memory_order_relaxed);
    for (;;) {
      Cell& c = cells_[pos & mask_];
      const std::size_t seq = c.seq.load(std::memory_order_acquire);
      const auto diff = static_cast<std::intptr_t>(seq) - static_cast<std::intptr_t>(pos);
      if (diff == 0) {
        if (head_.compare_exchange_weak(pos, pos + 1, std::memory_order_relaxed)) {
          c.value = value;
          c.seq.store(pos + 1, std::memory_order_release);
          return true;
        }
      } else if (diff < 0) {
        dropped_.fetch_add(1, std::memory_order_relaxed);
        return false;
      } else {
        pos = head_.load(std::memory_order_relaxed);
      }
    }
  }

  // Consumer thread only.
  bool pop(T& out) {
    Cell& c = cells_[tail_ & mask_];
    const std::size_t seq = c.seq.load(std::memory_order_acquire);
    if (static_cast<std::intptr_t>(seq) - static_cast<std::intptr_t>(tail_ + 1) < 0) return false;
    out = c.value;
    c.seq.store(tail_ + mask_ + 1, std::memory_order_release);
    ++tail_;
    return true;
  }

  std::uint64_t dropped() const { return dropped_.load(std::memory_order_relaxed); }
  std::size_t capacity() const { return mask_ + 1; }

 private:
  struct Cell {
    std::atomic<std::size_t> seq{0};
    T value{};
  };
  const std::size_t mask_;
  std::unique_ptr<Cell[]> cells_;
  alignas(64) std::atomic<std::size_t> head_{0};
  alignas(64) std::size_t tail_ = 0;
  alignas(64) std::atomic<std::uint64_t> dropped_{0};
};

}  // namespace stallwatch
