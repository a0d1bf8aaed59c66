// SPDX-License-Identifier: GPL-2.0-or-later
#include "stallwatch/metrics/stall_counters.h"

#include <algorithm>

namespace stallwatch::metrics {

StallCounters::StallCounters(int cpu_slots)
    : slots_(std::max(cpu_slots, 1)),
      stalls_(
          new std::atomic<std::uint64_t>[static_cast<std::size_t>(slots_) * kStallClasses.size()]),
      finished_ns_(new std::atomic<std::int64_t>[static_cast<std::size_t>(slots_)]),
      high_water_ns_(new std::int64_t[static_cast<std::size_t>(slots_)]) {
  for (std::size_t i = 0; i < static_cast<std::size_t>(slots_) * kStallClasses.size(); ++i)
    stalls_[i].store(0, std::memory_order_relaxed);
  for (std::size_t i = 0; i < static_cast<std::size_t>(slots_); ++i) {
    finished_ns_[i].store(0, std::memory_order_relaxed);
    high_water_ns_[i] = 0;
  }
}

std::size_t StallCounters::class_index(std::string_view stall_class) {
  auto it = std::find(kStallClasses.begin(), kStallClasses.end(), stall_class);
  if (it == kStallClasses.end())
    it = std::find(kStallClasses.begin(), kStallClasses.end(), "unknown");
  return static_cast<std::size_t>(it - kStallClasses.begin());
}

void StallCounters::count(const StallEvent& event, const StallReport* report) {
  const bool has_cpu = event.cpu >= 0 && event.cpu < slots_;
  const auto cpu = static_cast<std::size_t>(event.cpu);
  switch (event.kind) {
    case EventKind::kStall:
      if (has_cpu)
        stalls_[cpu * kStallClasses.size() + class_index(report ? report->stall_class : "unknown")]
            .fetch_add(1, std::memory_order_relaxed);
      break;
    case EventKind::kRecovered:
      if (has_cpu)
        finished_ns_[cpu].fetch_add(std::max<std::int64_t>(event.stall_ns, 0),
                                    std::memory_order_relaxed);
      break;
    case EventKind::kEscalation: escalations_.fetch_add(1, std::memory_order_relaxed); break;
    default:  // ongoing (same episode), global pause (counted by the check)
      return;
  }
  generation_.fetch_add(1, std::memory_order_release);
}

std::uint64_t StallCounters::stalls(int cpu, std::size_t class_index) const {
  if (cpu < 0 || cpu >= slots_ || class_index >= kStallClasses.size()) return 0;
  return stalls_[static_cast<std::size_t>(cpu) * kStallClasses.size() + class_index].load(
      std::memory_order_relaxed);
}

std::int64_t StallCounters::stall_ns_total(int cpu, std::int64_t current_episode_ns) {
  if (cpu < 0 || cpu >= slots_) return 0;
  const auto i = static_cast<std::size_t>(cpu);
  const std::int64_t now = finished_ns_[i].load(std::memory_order_relaxed) +
                           std::max<std::int64_t>(current_episode_ns, 0);
  high_water_ns_[i] = std::max(high_water_ns_[i], now);
  return high_water_ns_[i];
}

}  // namespace stallwatch::metrics
