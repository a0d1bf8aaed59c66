// SPDX-License-Identifier: GPL-2.0-or-later
// stallwatchctl doctor: the check registry, running, exit status and the two output forms.
#include "stallwatch/ctl/doctor.h"

#include <algorithm>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace stallwatch::ctl {

std::string_view to_string(CheckStatus status) {
  switch (status) {
    case CheckStatus::kOk: return "ok";
    case CheckStatus::kUnknown: return "unknown";
    case CheckStatus::kWarn: return "warn";
    case CheckStatus::kFail: return "fail";
  }
  return "unknown";
}

const std::vector<CheckSpec>& doctor_checks() {
  static const std::vector<CheckSpec> kChecks = {
      {"kernel-softlockup-detector", "Detectors", check_softlockup_detector},
      {"kernel-hardlockup-detector", "Detectors", check_hardlockup_detector},
      {"stallwatch", "Detectors", check_stallwatch},
      {"isolated-cpus", "Detectors", check_isolated_cpus},
      {"panic-policy", "Recovery", check_panic_policy},
      {"crash-dump", "Recovery", check_crash_dump},
      {"sysrq", "Recovery", check_sysrq},
      {"hardware-watchdog", "Recovery", check_hardware_watchdog},
      {"protection-ladder", "Recovery", check_protection_ladder},
      {"clocksource", "Known causes", check_clocksource},
      {"cpu-idle", "Known causes", check_cpu_idle},
      {"steal", "Known causes", check_steal},
      {"rt-throttling", "Known causes", check_rt_throttling},
      {"thermal-throttling", "Known causes", check_thermal_throttling},
      {"machine-checks", "Known causes", check_machine_checks},
      {"kernel-taint", "This boot", check_kernel_taint},
      {"past-lockups", "This boot", check_past_lockups},
  };
  return kChecks;
}

std::vector<CheckResult> run_doctor(const DoctorContext& ctx) {
  std::vector<CheckResult> out;
  for (const auto& spec : doctor_checks()) {
    CheckResult r = spec.run(ctx);
    r.id = spec.id;
    out.push_back(std::move(r));
  }
  return out;
}

CheckResult run_check(const DoctorContext& ctx, std::string_view id) {
  for (const auto& spec : doctor_checks()) {
    if (id != spec.id) continue;
    CheckResult r = spec.run(ctx);
    r.id = spec.id;
    return r;
  }
  CheckResult r;
  r.id = std::string(id);
  r.summary = "no such check";
  return r;
}

int doctor_exit_status(const std::vector<CheckResult>& results) {
  int rc = 0;
  for (const auto& r : results) {
    if (r.status == CheckStatus::kFail) rc = 2;
    if (r.status == CheckStatus::kWarn) rc = std::max(rc, 1);
  }
  return rc;
}

namespace {

const char* group_of(const std::string& id) {
  for (const auto& spec : doctor_checks())
    if (id == spec.id) return spec.group;
  return "Other";
}

}  // namespace

std::string format_doctor(const std::vector<CheckResult>& results) {
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
    if (r.status == CheckStatus::kWarn || r.status == CheckStatus::kFail ||
        r.status == CheckStatus::kUnknown) {
      for (const auto& [source, value] : r.evidence)
        out += fmt::format("{:>14}{}: {}\n", "", source, value);
      if (!r.fix.empty()) out += fmt::format("{:>14}fix: {}\n", "", r.fix);
    }
  }
  out += fmt::format("\n{} ok, {} warn, {} fail, {} unknown\n", counts[0], counts[2], counts[3],
                     counts[1]);
  return out;
}

std::string format_doctor_json(const std::vector<CheckResult>& results) {
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
  j["counts"] = ordered_json{{"ok", counts[0]}, {"warn", counts[2]}, {"fail", counts[3]},
                             {"unknown", counts[1]}};
  j["exit_status"] = doctor_exit_status(results);
  return j.dump(2, ' ', false, ordered_json::error_handler_t::replace) + "\n";
}

}  // namespace stallwatch::ctl
