// SPDX-License-Identifier: GPL-2.0-or-later
// Thermal-throttle counts and the hardware deltas over a stall window (see hw_counters.h).
#include "stallwatch/evidence/hw_counters.h"

#include <algorithm>
#include <string>

#include "stallwatch/evidence/counters.h"
#include "stallwatch/evidence/proc_parse.h"

namespace stallwatch::evidence {

namespace {

bool read_u64(const Sysroot& root, const std::string& path, std::uint64_t* out) {
  auto text = root.read_file(path, 64);
  return text && parse_u64(trim(*text), out);
}

const ThermalCount* find_thermal(const std::vector<ThermalCount>& v, int cpu) {
  for (const auto& t : v)
    if (t.cpu == cpu) return &t;
  return nullptr;
}

bool row_count(const CounterTable& t, const char* name, int cpu, std::uint64_t* out) {
  const CounterRow* row = t.find(name);
  return row != nullptr && t.count(*row, cpu, out);
}

}  // namespace

std::vector<ThermalCount> read_thermal_counts(const Sysroot& root) {
  std::vector<ThermalCount> out;
  const std::string base = "/sys/devices/system/cpu/";
  // Either every CPU has the directory or none does: one check spares a VM the directory scan.
  if (!root.exists(base + "cpu0/thermal_throttle")) return out;
  auto names = root.list_dir(base);
  if (!names) return out;
  for (const auto& n : *names) {
    int cpu = -1;
    if (n.size() < 4 || n.compare(0, 3, "cpu") != 0 || !parse_int(n.substr(3), &cpu)) continue;
    ThermalCount t;
    t.cpu = cpu;
    const std::string d = base + n + "/thermal_throttle/";
    const bool core = read_u64(root, d + "core_throttle_count", &t.core);
    const bool package = read_u64(root, d + "package_throttle_count", &t.package);
    if (core || package) out.push_back(t);
  }
  std::sort(out.begin(), out.end(),
            [](const ThermalCount& a, const ThermalCount& b) { return a.cpu < b.cpu; });
  return out;
}

void add_hw_deltas(const CounterSample& base, const CounterSample& now, int cpu,
                   CounterEvidence* ev) {
  const ThermalCount* a = find_thermal(base.thermal, cpu);
  const ThermalCount* b = find_thermal(now.thermal, cpu);
  if (a != nullptr && b != nullptr) {
    ev->have_thermal = true;
    ev->core_throttle_delta = b->core >= a->core ? b->core - a->core : 0;
    ev->package_throttle_delta = b->package >= a->package ? b->package - a->package : 0;
  }
  std::uint64_t x = 0, y = 0;
  if (base.have_interrupts && now.have_interrupts && row_count(base.interrupts, "MCE", cpu, &x) &&
      row_count(now.interrupts, "MCE", cpu, &y)) {
    ev->have_machine_checks = true;
    ev->mce_delta = y >= x ? y - x : 0;
    if (row_count(base.interrupts, "MCP", cpu, &x) && row_count(now.interrupts, "MCP", cpu, &y))
      ev->mcp_delta = y >= x ? y - x : 0;
  }
}

}  // namespace stallwatch::evidence
