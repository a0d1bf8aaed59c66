// SPDX-License-Identifier: GPL-2.0-or-later
// StallCounters: the counts behind the stall metrics that only the report worker can make (the
// class of a stall is known once its evidence is in) or that must survive episodes (seconds
// stalled, escalations); global pauses are counted by the check itself (PublishedState).
// Fixed-size arrays of relaxed atomics sized at start, so the writer never allocates or locks
// and the reader never waits for it.
// Owned by MetricsPublisher (shared with its sink). Threads: count() on the report worker (via
// the sink); the getters on the dispatcher, the status writer (stall_ns_total() is single-reader:
// it keeps a high-water mark); count_reload_failure() from any thread.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string_view>

#include "stallwatch/core/sink.h"

namespace stallwatch::metrics {

// The evidence classes (StallReport::stall_class); anything else counts as "unknown".
inline constexpr std::array<std::string_view, 7> kStallClasses = {
    "global-pause",          "hypervisor-steal", "interrupts-off", "irq-storm",
    "kernel-nonpreemptible", "rt-hog",           "unknown"};

class StallCounters {
 public:
  explicit StallCounters(int cpu_slots);

  // Report worker: one call per event, after evidence.
  void count(const StallEvent& event, const StallReport* report);
  void count_reload_failure() {
    reload_failures_.fetch_add(1, std::memory_order_relaxed);
    generation_.fetch_add(1, std::memory_order_release);
  }
  // Moves whenever a count does: the textfile is then rewritten without waiting for its interval.
  std::uint64_t generation() const { return generation_.load(std::memory_order_acquire); }

  int cpu_slots() const { return slots_; }
  std::uint64_t stalls(int cpu, std::size_t class_index) const;
  // Seconds stalled, in ns: finished episodes plus the current one (current_episode_ns, from the
  // checker). Never decreases, though a finished episode is counted by the report worker a little
  // after the checker ends it.
  std::int64_t stall_ns_total(int cpu, std::int64_t current_episode_ns);
  std::uint64_t escalations() const { return escalations_.load(std::memory_order_relaxed); }
  std::uint64_t reload_failures() const { return reload_failures_.load(std::memory_order_relaxed); }

  static std::size_t class_index(std::string_view stall_class);

 private:
  int slots_;
  std::unique_ptr<std::atomic<std::uint64_t>[]> stalls_;      // slots_ x kStallClasses.size()
  std::unique_ptr<std::atomic<std::int64_t>[]> finished_ns_;  // per CPU
  std::unique_ptr<std::int64_t[]> high_water_ns_;             // per CPU, reader-owned
  std::atomic<std::uint64_t> escalations_{0};
  std::atomic<std::uint64_t> reload_failures_{0};
  std::atomic<std::uint64_t> generation_{0};
};

// The EventSink that feeds StallCounters from the report worker's CompositeSink; on_count (may be
// empty) is called after each count, to wake the status writer.
class CountingSink final : public EventSink {
 public:
  explicit CountingSink(std::shared_ptr<StallCounters> counters,
                        std::function<void()> on_count = {})
      : counters_(std::move(counters)), on_count_(std::move(on_count)) {}
  void fire(const StallEvent& event, const StallReport* report) override {
    counters_->count(event, report);
    if (on_count_) on_count_();
  }

 private:
  std::shared_ptr<StallCounters> counters_;
  std::function<void()> on_count_;
};

}  // namespace stallwatch::metrics
