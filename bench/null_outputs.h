// SPDX-License-Identifier: GPL-2.0-or-later
// NullOutputs: the check's outputs for benchmarks. Nothing is sent, every ping "succeeds", the
// feeder is never used, and CLOCK_BOOTTIME is whatever the benchmark sets in `now`, so a figure
// is the check's own work. Shared by checker_bench and hold_bench (one thread each).
#pragma once

#include <cstdint>

#include "stallwatch/daemon/check_runner.h"

namespace stallwatch::bench {

struct NullOutputs final : daemon::RtOutputs {
  void wake_dispatcher(int) noexcept override {}
  bool watchdog_ping() noexcept override { return true; }
  bool request_feed(int) noexcept override { return false; }
  std::int64_t boot_ns() noexcept override { return now; }
  std::int64_t now = 0;
};

}  // namespace stallwatch::bench
