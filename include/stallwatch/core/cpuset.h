// SPDX-License-Identifier: GPL-2.0-or-later
// CPU lists: parsing the kernel's cpulist format ("0-3,8") and choosing the monitored set.
// Pure functions, any thread.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "stallwatch/core/result.h"
#include "stallwatch/core/sysroot.h"

namespace stallwatch {

using CpuList = std::vector<int>;  // sorted, unique

// Parses "0-3,8", "0-7:2" (stride), "" and "(null)" (empty). Whitespace/newline tolerated.
Result<CpuList> parse_cpulist(std::string_view text);
std::string format_cpulist(const CpuList& cpus);

CpuList cpu_union(const CpuList& a, const CpuList& b);
CpuList cpu_difference(const CpuList& a, const CpuList& b);
CpuList cpu_intersection(const CpuList& a, const CpuList& b);

struct CpuTopology {
  CpuList possible;
  CpuList online;
  CpuList isolated;  // isolcpus
  CpuList nohz_full;
};

// Reads /sys/devices/system/cpu/{possible,online,isolated,nohz_full}; missing optional files are
// empty sets.
Result<CpuTopology> read_cpu_topology(const Sysroot& root);
Result<CpuList> read_online_cpus(const Sysroot& root);

// The CPUs to monitor: the configured set ("all" = possible) minus isolated and nohz_full CPUs
// unless include_isolated. Result may include CPUs that are offline now.
Result<CpuList> select_monitored_cpus(const std::string& cpus_setting, bool include_isolated,
                                      const CpuTopology& topo);

}  // namespace stallwatch
