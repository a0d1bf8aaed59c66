// SPDX-License-Identifier: GPL-2.0-or-later
// Doctor, report group Known causes: audit items for hardware causes of stalls: thermal throttling
// and machine checks.
#include <fmt/format.h>

#include "stallwatch/core/cpuset.h"
#include "stallwatch/ctl/doctor/doctor.h"
#include "stallwatch/ctl/doctor/parse.h"
#include "stallwatch/evidence/proc_parse.h"

namespace stallwatch::ctl {

namespace {

std::uint64_t read_count(const Sysroot& root, const std::string& path, bool* present) {
  auto v = read_trimmed(root, path);
  if (!v) return 0;
  auto n = parse_integer(*v);
  if (!n || *n < 0) return 0;
  *present = true;
  return static_cast<std::uint64_t>(*n);
}

std::uint64_t row_total(const evidence::CounterTable& t, std::string_view name, bool* present) {
  const auto* row = t.find(name);
  if (row == nullptr) return 0;
  *present = true;
  std::uint64_t sum = 0;
  for (auto c : row->counts) sum += c;
  return sum;
}

}  // namespace

Finding audit_thermal_throttling(const DoctorContext& ctx) {
  Finding r;
  const std::string base = "/sys/devices/system/cpu/";
  auto names = ctx.root.list_dir(base);
  bool any = false;
  CpuList throttled;
  std::uint64_t core_total = 0, package_total = 0;
  for (const auto& n : names ? *names : std::vector<std::string>{}) {
    if (n.size() < 4 || n.compare(0, 3, "cpu") != 0) continue;
    auto cpu = parse_integer(std::string_view(n).substr(3));
    if (!cpu) continue;
    bool present = false;
    const std::string d = base + n + "/thermal_throttle/";
    const auto core = read_count(ctx.root, d + "core_throttle_count", &present);
    const auto package = read_count(ctx.root, d + "package_throttle_count", &present);
    if (!present) continue;
    any = true;
    core_total += core;
    package_total += package;
    if (core + package > 0) {
      throttled = cpu_union(throttled, CpuList{static_cast<int>(*cpu)});
      r.add(d + "{core,package}_throttle_count", fmt::format("{} {}", core, package));
    }
  }
  if (!any) {
    r.status = FindingStatus::kUnknown;
    r.add(base + "cpu*/thermal_throttle", "absent");
    r.summary = "no thermal_throttle counters (not an Intel CPU with thermal monitoring, or a VM)";
    return r;
  }
  r.add(base + "cpu*/thermal_throttle",
        fmt::format("core {}, package {} in total", core_total, package_total));
  if (!throttled.empty()) {
    r.status = FindingStatus::kWarn;
    r.summary = fmt::format("CPUs {} were thermally throttled since boot ({} core, {} package "
                            "throttle events)",
                            format_cpulist(throttled), core_total, package_total);
    r.fix = "check cooling (fans, heatsinks, airflow), power limits and the firmware's thermal "
            "settings; turbostat or sensors show temperatures";
    return r;
  }
  r.status = FindingStatus::kOk;
  r.summary = "no thermal throttling since boot";
  return r;
}

Finding audit_machine_checks(const DoctorContext& ctx) {
  Finding r;
  bool have_mce = false, have_mcp = false, have_dfr = false, have_thr = false;
  std::uint64_t mce = 0, mcp = 0, dfr = 0, thr = 0;
  if (auto text = ctx.root.read_file("/proc/interrupts")) {
    if (auto t = evidence::parse_interrupts(*text)) {
      mce = row_total(*t, "MCE", &have_mce);
      mcp = row_total(*t, "MCP", &have_mcp);
      dfr = row_total(*t, "DFR", &have_dfr);
      thr = row_total(*t, "THR", &have_thr);
    }
  }
  auto show = [](bool have, std::uint64_t v) { return have ? std::to_string(v) : "absent"; };
  r.add("/proc/interrupts MCE (machine check exceptions)", show(have_mce, mce));
  r.add("/proc/interrupts MCP (machine check polls)", show(have_mcp, mcp));
  r.add("/proc/interrupts DFR (deferred errors)", show(have_dfr, dfr));
  r.add("/proc/interrupts THR (threshold interrupts)", show(have_thr, thr));
  bool have_edac = false;
  std::uint64_t ce = 0, ue = 0;
  const std::string edac = "/sys/devices/system/edac/mc";
  if (auto mcs = ctx.root.list_dir(edac)) {
    for (const auto& m : *mcs) {
      if (m.rfind("mc", 0) != 0) continue;
      ce += read_count(ctx.root, edac + "/" + m + "/ce_count", &have_edac);
      ue += read_count(ctx.root, edac + "/" + m + "/ue_count", &have_edac);
    }
  }
  r.add(edac + "/mc*/{ce,ue}_count", have_edac ? fmt::format("{} {}", ce, ue) : "absent");
  if (!have_mce && !have_edac) {
    r.status = FindingStatus::kUnknown;
    r.summary = "no machine-check counters (no MCE row in /proc/interrupts, no EDAC)";
    return r;
  }
  r.fix = "read the records (journalctl -k | grep -i -e mce -e 'hardware error'; rasdaemon: "
          "ras-mc-ctl --errors), then replace the failing DIMM or CPU or update the firmware";
  if (mce > 0 || ue > 0) {
    r.status = FindingStatus::kFail;
    r.summary = fmt::format("hardware errors since boot: {} machine check exceptions, {} "
                            "uncorrected memory errors",
                            mce, ue);
    return r;
  }
  if (dfr > 0 || thr > 0 || ce > 0) {
    r.status = FindingStatus::kWarn;
    r.summary = fmt::format("corrected hardware errors since boot: {} deferred-error and {} "
                            "threshold interrupts, {} corrected memory errors",
                            dfr, thr, ce);
    return r;
  }
  r.status = FindingStatus::kOk;
  r.fix.clear();
  r.summary =
      fmt::format("no machine check exceptions or memory errors since boot ({} polls)", mcp);
  return r;
}

}  // namespace stallwatch::ctl
