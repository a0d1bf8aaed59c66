// SPDX-License-Identifier: GPL-2.0-or-later
// stallwatchctl doctor: the audit item registry, running, exit status and the two output forms.
#include "stallwatch/ctl/doctor/doctor.h"

#include <algorithm>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace stallwatch::ctl {

std::string_view to_string(FindingStatus status) {
  switch (status) {
    case FindingStatus::kOk: return "ok";
    case FindingStatus::kUnknown: return "unknown";
    case FindingStatus::kWarn: return "warn";
    case FindingStatus::kFail: return "fail";
  }
  return "unknown";
}

const std::vector<AuditItem>& audit_items() {
  static const std::vector<AuditItem> kItems = {
      {"kernel-softlockup-detector", "Detectors", audit_softlockup_detector},
      {"kernel-hardlockup-detector", "Detectors", audit_hardlockup_detector},
      {"stallwatch", "Detectors", audit_stallwatch},
      {"isolated-cpus", "Detectors", audit_isolated_cpus},
      {"panic-policy", "Recovery", audit_panic_policy},
      {"crash-dump", "Recovery", audit_crash_dump},
      {"sysrq", "Recovery", audit_sysrq},
      {"hardware-watchdog", "Recovery", audit_hardware_watchdog},
      {"protection-ladder", "Recovery", audit_protection_ladder},
      {"clocksource", "Known causes", audit_clocksource},
      {"cpu-idle", "Known causes", audit_cpu_idle},
      {"steal", "Known causes", audit_steal},
      {"rt-throttling", "Known causes", audit_rt_throttling},
      {"thermal-throttling", "Known causes", audit_thermal_throttling},
      {"machine-checks", "Known causes", audit_machine_checks},
      {"kernel-taint", "This boot", audit_kernel_taint},
      {"past-lockups", "This boot", audit_past_lockups},
      {"flight-recorder", "Evidence", audit_flight_recorder},
  };
  return kItems;
}

std::vector<Finding> run_doctor(const DoctorContext& ctx) {
  std::vector<Finding> out;
  for (const auto& spec : audit_items()) {
    Finding r = spec.run(ctx);
    r.id = spec.id;
    out.push_back(std::move(r));
  }
  return out;
}

Finding run_audit_item(const DoctorContext& ctx, std::string_view id) {
  for (const auto& spec : audit_items()) {
    if (id != spec.id) continue;
    Finding r = spec.run(ctx);
    r.id = spec.id;
    return r;
  }
  Finding r;
  r.id = std::string(id);
  r.summary = "no such check";
  return r;
}

int doctor_exit_status(const std::vector<Finding>& results) {
  int rc = 0;
  for (const auto& r : results) {
    if (r.status == FindingStatus::kFail) rc = 2;
    if (r.status == FindingStatus::kWarn) rc = std::max(rc, 1);
  }
  return rc;
}

namespace {

const char* group_of(const std::string& id) {
  for (const auto& spec : audit_items())
    if (id == spec.id) return spec.group;
  return "Other";
}

}  // namespace

std::string format_doctor(const std::vector<Finding>& results) {
  std::string out;
  std::string group;
  int counts[4] = {};
  for (const auto& r : results) {
    ++counts[static_cast<int>(r.status)];
    const std::string g = group_of(r.id);
    if (g != group) {
      out += fmt::format("{}{}:\n", out.empty() ? "" : "\n", g);
      group = g;
    }
    out += fmt::format("  [{:<7}] {:<27} {}\n", to_string(r.status), r.id, r.summary);
    if (r.status == FindingStatus::kWarn || r.status == FindingStatus::kFail ||
        r.status == FindingStatus::kUnknown) {
      for (const auto& [source, value] : r.evidence)
        out += fmt::format("{:>14}{}: {}\n", "", source, value);
      if (!r.fix.empty()) out += fmt::format("{:>14}fix: {}\n", "", r.fix);
    }
  }
  out += fmt::format("\n{} ok, {} warn, {} fail, {} unknown\n", counts[0], counts[2], counts[3],
                     counts[1]);
  return out;
}

std::string format_doctor_json(const std::vector<Finding>& results) {
  using nlohmann::ordered_json;
  ordered_json checks = ordered_json::array();
  int counts[4] = {};
  for (const auto& r : results) {
    ++counts[static_cast<int>(r.status)];
    ordered_json ev = ordered_json::object();
    for (const auto& [source, value] : r.evidence) ev[source] = value;
    checks.push_back(ordered_json{{"id", r.id},
                                  {"status", std::string(to_string(r.status))},
                                  {"summary", r.summary},
                                  {"evidence", std::move(ev)},
                                  {"fix", r.fix},
                                  {"group", group_of(r.id)},
                                  {"needs_root", r.needs_root}});
  }
  ordered_json j;
  j["checks"] = std::move(checks);
  j["counts"] = ordered_json{
      {"ok", counts[0]}, {"warn", counts[2]}, {"fail", counts[3]}, {"unknown", counts[1]}};
  j["exit_status"] = doctor_exit_status(results);
  return j.dump(2, ' ', false, ordered_json::error_handler_t::replace) + "\n";
}

}  // namespace stallwatch::ctl
