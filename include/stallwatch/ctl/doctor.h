// SPDX-License-Identifier: GPL-2.0-or-later
// Doctor: `stallwatchctl doctor`, a read-only audit of a host for the known causes of CPU stalls
// and for its protection ladder (kernel detectors, panic policy, kdump, hardware watchdog,
// stallwatch). DoctorContext holds everything read from the host (all paths through a Sysroot,
// the kernel log and two /proc/stat samples already taken); each check is a pure function of it,
// so unit tests run them on fixture trees. Owned by stallwatchctl; single-threaded.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "stallwatch/core/config.h"
#include "stallwatch/core/sysroot.h"

namespace stallwatch::ctl {

enum class CheckStatus { kOk, kUnknown, kWarn, kFail };  // in order of severity
std::string_view to_string(CheckStatus status);

struct CheckResult {
  std::string id;
  CheckStatus status = CheckStatus::kUnknown;
  std::string summary;  // one line
  std::vector<std::pair<std::string, std::string>> evidence;  // what was read: source -> value
  std::string fix;      // the exact sysctl, boot parameter or config change; "" when ok
  bool needs_root = false;  // a root-only source was involved

  void add(std::string source, std::string value) {
    evidence.emplace_back(std::move(source), std::move(value));
  }
};

// The kernel log since boot, kernel-facility records only (facility 0), unescaped texts.
struct KernelLog {
  bool readable = false;
  std::string error;  // why not ("needs root: /dev/kmsg: Permission denied")
  std::vector<std::string> messages;
};

struct DoctorContext {
  Sysroot root;
  std::string machine;          // uname -m ("x86_64")
  std::string config_path;      // as read (through root unless given explicitly)
  Config config;                // the defaults when missing or invalid
  bool config_found = false;
  std::string config_error;     // load_config()'s message, "" when valid
  KernelLog kmsg;
  // /proc/stat at the start and end of the sampling window (equal texts: no window).
  std::string stat_before;
  std::string stat_after;
  std::int64_t window_ms = 0;
  std::int64_t now_mono_ns = 0;   // for status.json freshness
  std::int64_t now_unix_ms = 0;
};

struct DoctorOptions {
  std::string sysroot;          // "" = the real root
  std::string config_path;      // "" = kDefaultConfigPath under the sysroot
  std::int64_t window_ms = 300; // /proc/stat sampling window; 0 = none
};

// Reads the configuration, the kernel log (/dev/kmsg non-blocking, from the start; a regular
// file in a fixture tree is read as captured `cat /dev/kmsg` output) and samples /proc/stat
// twice, window_ms apart. The only function here that sleeps.
DoctorContext collect_doctor_context(const DoctorOptions& options);
// The same without sampling or clocks (tests): stat_after = stat_before, times 0.
DoctorContext load_doctor_context(const Sysroot& root, const std::string& config_path,
                                  bool config_explicit);
// The kernel log as above; exposed for tests.
KernelLog read_kernel_log(const Sysroot& root);

// Every check, in output order, each with its fixed id and group.
struct CheckSpec {
  const char* id;
  const char* group;
  CheckResult (*run)(const DoctorContext&);
};
const std::vector<CheckSpec>& doctor_checks();
std::vector<CheckResult> run_doctor(const DoctorContext& ctx);
// Runs the one check with this id (tests); an unknown id is a programming error (status unknown).
CheckResult run_check(const DoctorContext& ctx, std::string_view id);

// 0 all ok or unknown, 1 any warn, 2 any fail.
int doctor_exit_status(const std::vector<CheckResult>& results);
std::string format_doctor(const std::vector<CheckResult>& results);
std::string format_doctor_json(const std::vector<CheckResult>& results);

// Reads a sysctl-like file into the result's evidence ("absent" when missing); its integer value,
// nullopt when absent or not an integer.
std::optional<std::int64_t> read_int(const DoctorContext& ctx, CheckResult& r,
                                     std::string_view path);

// The checks, by group (doctor_checks_*.cpp, doctor_ladder.cpp).
CheckResult check_softlockup_detector(const DoctorContext& ctx);
CheckResult check_hardlockup_detector(const DoctorContext& ctx);
CheckResult check_stallwatch(const DoctorContext& ctx);
CheckResult check_isolated_cpus(const DoctorContext& ctx);
CheckResult check_panic_policy(const DoctorContext& ctx);
CheckResult check_crash_dump(const DoctorContext& ctx);
CheckResult check_sysrq(const DoctorContext& ctx);
CheckResult check_hardware_watchdog(const DoctorContext& ctx);
CheckResult check_protection_ladder(const DoctorContext& ctx);
CheckResult check_clocksource(const DoctorContext& ctx);
CheckResult check_cpu_idle(const DoctorContext& ctx);
CheckResult check_steal(const DoctorContext& ctx);
CheckResult check_rt_throttling(const DoctorContext& ctx);
CheckResult check_thermal_throttling(const DoctorContext& ctx);
CheckResult check_machine_checks(const DoctorContext& ctx);
CheckResult check_kernel_taint(const DoctorContext& ctx);
CheckResult check_past_lockups(const DoctorContext& ctx);

}  // namespace stallwatch::ctl
