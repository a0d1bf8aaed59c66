// SPDX-License-Identifier: GPL-2.0-or-later
// Hardware counters for stall evidence: per-CPU thermal-throttle counts
// (/sys/devices/system/cpu/cpuN/thermal_throttle/{core,package}_throttle_count), read with every
// counter sample by the engine's sampler thread, and the deltas over a stall window of those and
// of the machine-check rows of /proc/interrupts (MCE exceptions, MCP polls), so a report can say
// "CPU 3 was throttled 40 times during the stall". Pure functions apart from the reader; any
// thread.
#pragma once

#include <cstdint>
#include <vector>

#include "stallwatch/core/sysroot.h"

namespace stallwatch::evidence {

struct ThermalCount {
  int cpu = -1;
  std::uint64_t core = 0;
  std::uint64_t package = 0;
};

// Every CPU's counts, by CPU; empty (after one failed stat) where the kernel has none (VMs,
// non-Intel CPUs).
std::vector<ThermalCount> read_thermal_counts(const Sysroot& root);

struct CounterSample;
struct CounterEvidence;
// Fills the thermal-throttle and machine-check deltas of `ev` for `cpu` (left unset, have_* false,
// where either sample lacks them).
void add_hw_deltas(const CounterSample& base, const CounterSample& now, int cpu,
                   CounterEvidence* ev);

}  // namespace stallwatch::evidence
