// SPDX-License-Identifier: GPL-2.0-or-later
// The one way to read a clock: nanoseconds of CLOCK_MONOTONIC, CLOCK_BOOTTIME or CLOCK_REALTIME,
// and the function-pointer seam (NowFn) through which code that must be tested with a fake clock
// takes its "now". Async-signal-safe and allocation-free (clock_gettime through the vDSO); any
// thread, including the real-time heartbeats.
#pragma once

#include <cstdint>
#include <ctime>

namespace stallwatch {

using NowFn = std::int64_t (*)();

inline std::int64_t clock_ns(clockid_t id) noexcept {
  timespec ts{};
  ::clock_gettime(id, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}
inline std::int64_t mono_now_ns() noexcept { return clock_ns(CLOCK_MONOTONIC); }
inline std::int64_t boot_now_ns() noexcept { return clock_ns(CLOCK_BOOTTIME); }
inline std::int64_t real_now_ns() noexcept { return clock_ns(CLOCK_REALTIME); }

}  // namespace stallwatch
