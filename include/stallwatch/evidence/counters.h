// SPDX-License-Identifier: GPL-2.0-or-later
// Counter baselines: samples of /proc/stat, /proc/interrupts and /proc/softirqs taken about once
// a second by the engine's sampler thread and kept in a bounded ring (CounterHistory, guarded by
// its own mutex: the sampler pushes, the report worker reads), so that when a stall is detected a
// sample from inside (or just before) the stall exists to subtract. Deltas are pure functions.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "stallwatch/core/sysroot.h"
#include "stallwatch/evidence/evidence.h"
#include "stallwatch/evidence/hw_counters.h"
#include "stallwatch/evidence/proc_parse.h"

namespace stallwatch::evidence {

struct CounterSample {
  std::int64_t mono_ns = 0;
  bool have_stat = false;
  bool have_interrupts = false;
  bool have_softirqs = false;
  std::vector<CpuTimes> stat;
  CounterTable interrupts;
  CounterTable softirqs;
  std::vector<ThermalCount> thermal;  // empty where the kernel has no thermal_throttle counters
  std::size_t approx_bytes() const;
};
using SamplePtr = std::shared_ptr<const CounterSample>;

// Reads and parses the three files; a file that fails is left out and named in *errors.
CounterSample read_counter_sample(const Sysroot& root, std::int64_t mono_ns,
                                  std::vector<std::string>* errors);

// A sample taken at least this long after the last heartbeat stamp is inside the stall (the
// heartbeat's next stamp was due within one interval; 500 ms is the default interval).
inline constexpr std::int64_t kInsideStallMarginNs = 500'000'000;
// Shortest window worth computing shares over.
inline constexpr std::int64_t kMinWindowNs = 400'000'000;

// Picks the baseline among sample times (ascending): the earliest sample at or after
// stall_start + kInsideStallMarginNs that leaves a window of kMinWindowNs before now
// ("inside-stall"); else the latest sample at or before the stall start ("before-stall"); else the
// oldest sample before now ("after-stall-start"). Returns -1 when none is usable.
int select_baseline(const std::vector<std::int64_t>& times_ns, std::int64_t stall_start_ns,
                    std::int64_t now_ns, std::string* kind);

// Deltas for one CPU between two samples. clk_tck converts /proc/stat ticks (USER_HZ).
CounterEvidence compute_counter_delta(const CounterSample& base, const CounterSample& now, int cpu,
                                      long clk_tck);

class CounterHistory {
 public:
  explicit CounterHistory(std::size_t max_samples = 64, std::size_t max_bytes = 8u << 20)
      : max_samples_(max_samples), max_bytes_(max_bytes) {}
  void push(SamplePtr sample);
  // See select_baseline(); null when the ring is empty.
  SamplePtr baseline_for(std::int64_t stall_start_ns, std::int64_t now_ns, std::string* kind) const;
  SamplePtr latest() const;
  std::size_t size() const;

 private:
  mutable std::mutex mu_;
  std::deque<SamplePtr> ring_;
  std::size_t bytes_ = 0;
  std::size_t max_samples_;
  std::size_t max_bytes_;
};

}  // namespace stallwatch::evidence
