// SPDX-License-Identifier: GPL-2.0-or-later
// "0-3,8" CPU lists (/sys/devices/system/cpu/online, isolated, nohz_full, heartbeat.cpus).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "stallwatch/core/cpuset.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  (void)stallwatch::parse_cpulist(std::string_view(reinterpret_cast<const char*>(data), size));
  return 0;
}
