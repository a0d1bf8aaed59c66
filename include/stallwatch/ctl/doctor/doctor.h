// SPDX-License-Identifier: GPL-2.0-or-later
// Doctor: `stallwatchctl doctor`, a read-only audit of a host for the known causes of CPU stalls
// and for its protection ladder (kernel detectors, panic policy, kdump, hardware watchdog,
// stallwatch). DoctorContext holds everything read from the host (all paths through a Sysroot,
// the kernel log and two /proc/stat samples already taken); each audit item is a pure function of
// it that returns a Finding, so unit tests run them on fixture trees. (The report calls an item a
// "check", as its JSON keys do; in code "check" is the stall check alone.) Owned by
// stallwatchctl; single-threaded.
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

enum class FindingStatus { kOk, kUnknown, kWarn, kFail };  // in order of severity
std::string_view to_string(FindingStatus status);

struct Finding {
  std::string id;
  FindingStatus status = FindingStatus::kUnknown;
  std::string summary;                                        // one line
  std::vector<std::pair<std::string, std::string>> evidence;  // what was read: source -> value
  std::string fix;          // the exact sysctl, boot parameter or config change; "" when ok
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
  std::string machine;      // uname -m ("x86_64")
  std::string config_path;  // as read (through root unless given explicitly)
  Config config;            // the defaults when missing or invalid
  bool config_found = false;
  std::string config_error;  // load_config()'s message, "" when valid
  KernelLog kmsg;
  // /proc/stat at the start and end of the sampling window (equal texts: no window).
  std::string stat_before;
  std::string stat_after;
  std::int64_t window_ms = 0;
  std::int64_t now_mono_ns = 0;  // for status.json freshness
  std::int64_t now_unix_ms = 0;
  int euid = -1;  // doctor's own (tracefs is root's, mode 0700)
};

struct DoctorOptions {
  std::string sysroot;           // "" = the real root
  std::string config_path;       // "" = kDefaultConfigPath under the sysroot
  std::int64_t window_ms = 300;  // /proc/stat sampling window; 0 = none
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

// Every audit item, in output order, each with its fixed id and report group.
struct AuditItem {
  const char* id;
  const char* group;
  Finding (*run)(const DoctorContext&);
};
const std::vector<AuditItem>& audit_items();
std::vector<Finding> run_doctor(const DoctorContext& ctx);
// Runs the one item with this id (tests); an unknown id is a programming error (status unknown).
Finding run_audit_item(const DoctorContext& ctx, std::string_view id);

// 0 all ok or unknown, 1 any warn, 2 any fail.
int doctor_exit_status(const std::vector<Finding>& results);
std::string format_doctor(const std::vector<Finding>& results);
std::string format_doctor_json(const std::vector<Finding>& results);

// Reads a sysctl-like file into the result's evidence ("absent" when missing); its integer value,
// nullopt when absent or not an integer.
std::optional<std::int64_t> read_int(const DoctorContext& ctx, Finding& r, std::string_view path);

// The items, by report group: Detectors (detectors.cpp); Recovery (recovery.cpp,
// recovery_watchdog.cpp, recovery_ladder.cpp); Known causes (known_causes_*.cpp); This boot
// (this_boot.cpp); Evidence (evidence.cpp).
Finding audit_softlockup_detector(const DoctorContext& ctx);
Finding audit_hardlockup_detector(const DoctorContext& ctx);
Finding audit_stallwatch(const DoctorContext& ctx);
Finding audit_isolated_cpus(const DoctorContext& ctx);
Finding audit_panic_policy(const DoctorContext& ctx);
Finding audit_crash_dump(const DoctorContext& ctx);
Finding audit_sysrq(const DoctorContext& ctx);
Finding audit_hardware_watchdog(const DoctorContext& ctx);
Finding audit_protection_ladder(const DoctorContext& ctx);
Finding audit_clocksource(const DoctorContext& ctx);
Finding audit_cpu_idle(const DoctorContext& ctx);
Finding audit_steal(const DoctorContext& ctx);
Finding audit_rt_throttling(const DoctorContext& ctx);
Finding audit_thermal_throttling(const DoctorContext& ctx);
Finding audit_machine_checks(const DoctorContext& ctx);
Finding audit_kernel_taint(const DoctorContext& ctx);
Finding audit_past_lockups(const DoctorContext& ctx);
Finding audit_flight_recorder(const DoctorContext& ctx);

}  // namespace stallwatch::ctl
