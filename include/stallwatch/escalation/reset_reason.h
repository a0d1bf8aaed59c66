// SPDX-License-Identifier: GPL-2.0-or-later
// ResetReason: why stallwatch escalated, persisted in <state_dir>/reset-reason.json before the
// action so the next boot can say how the previous one ended. The file holds the last
// escalation, a running counter and whether the record was already reported ("consumed").
// Encoding/decoding and the startup report are pure; ResetReasonStore does the (atomic,
// fsync'ed) file I/O. Used by the escalation sink (report worker) and at startup (main thread),
// never concurrently.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "stallwatch/core/result.h"
#include "stallwatch/core/sysroot.h"

namespace stallwatch::escalation {

inline constexpr const char* kResetReasonFile = "reset-reason.json";
inline constexpr int kResetReasonVersion = 1;

struct ResetReason {
  std::int64_t time_realtime_ns = 0;
  std::string boot_id;  // /proc/sys/kernel/random/boot_id of the boot that escalated
  int cpu = -1;
  std::int64_t stall_ns = 0;
  std::string stall_class = "unknown";
  std::string culprit_comm;  // "" when unknown
  int culprit_pid = 0;       // 0 when unknown
  std::string action;        // "watchdog-device", "systemd", "panic"
  std::uint64_t episode = 0;
};

struct ResetReasonFile {
  std::uint64_t escalations_total = 0;  // every escalation ever recorded here
  bool consumed = true;                 // the last record was reported (or there is none)
  std::optional<ResetReason> last;
  std::string reported_boot_id;  // boot whose startup report was already made
};

std::string encode_reset_reason_file(const ResetReasonFile& file);
Result<ResetReasonFile> decode_reset_reason_file(std::string_view json);

// "61s", "2.4s": whole seconds from 10s on, like the kernel's soft-lockup line.
std::string format_stall_seconds(std::int64_t stall_ns);
// "CPU#1 stuck for 61s [spin:412] class=kernel-nonpreemptible, action=watchdog-device"
std::string describe_reset_reason(const ResetReason& reason);
// "2026-11-21T19:43:05Z"
std::string format_utc(std::int64_t realtime_ns);

// Trimmed /proc/sys/kernel/random/boot_id.
Result<std::string> read_boot_id(const Sysroot& root);

class ResetReasonStore {
 public:
  explicit ResetReasonStore(std::string state_dir) : state_dir_(std::move(state_dir)) {}

  std::string path() const { return state_dir_ + "/" + kResetReasonFile; }
  // Missing file: an empty ResetReasonFile (nothing recorded yet).
  Result<ResetReasonFile> load() const;
  // Atomically replaces the file: temp file, write, fsync, rename, fsync the directory.
  // Creates the state directory if needed.
  Status save(const ResetReasonFile& file) const;
  // load + bump the counter + store reason unconsumed + save. Returns the new counter.
  // A corrupt file is replaced (the counter restarts from the value it could read, or 0).
  Result<std::uint64_t> record(const ResetReason& reason) const;

 private:
  std::string state_dir_;
};

// What to say at startup about the previous boot (pure decision).
struct PreviousBootReport {
  bool report = false;  // send a journald event
  int priority = 4;
  std::string cause;    // "stallwatch-escalation", "watchdog-reset", "escalation-this-boot"
  std::string message;  // MESSAGE=
  std::optional<ResetReason> reason;
  bool mark_consumed = false;  // set consumed and reported_boot_id, then save
};

// file: the loaded state; current_boot_id: this boot; bootstatus: the device's WDIOF_* boot
// status if a device is configured; device: its path (for the message).
PreviousBootReport decide_previous_boot_report(const ResetReasonFile& file,
                                               std::string_view current_boot_id,
                                               std::optional<std::uint32_t> bootstatus,
                                               std::string_view device);

}  // namespace stallwatch::escalation
