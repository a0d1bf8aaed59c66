// SPDX-License-Identifier: GPL-2.0-or-later
#include "stallwatch/escalation/reset_reason.h"

#include <fcntl.h>
#include <linux/watchdog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include "stallwatch/core/fs_util.h"
#include "stallwatch/core/text.h"
#include "stallwatch/core/unique_fd.h"
#include "stallwatch/escalation/watchdog_sysfs.h"

namespace stallwatch::escalation {

using nlohmann::json;

std::string format_stall_seconds(std::int64_t stall_ns) {
  if (stall_ns >= 10'000'000'000) return fmt::format("{}s", stall_ns / 1'000'000'000);
  return fmt::format("{:.1f}s", static_cast<double>(stall_ns) / 1e9);
}

std::string describe_reset_reason(const ResetReason& r) {
  std::string culprit = r.culprit_pid > 0 ? fmt::format("{}:{}", r.culprit_comm, r.culprit_pid)
                                          : std::string("unknown");
  return fmt::format("CPU#{} stuck for {} [{}] class={}, action={}", r.cpu,
                     format_stall_seconds(r.stall_ns), culprit, r.stall_class, r.action);
}

std::string format_utc(std::int64_t realtime_ns) {
  std::time_t secs = static_cast<std::time_t>(realtime_ns / 1'000'000'000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string encode_reset_reason_file(const ResetReasonFile& f) {
  json j;
  j["version"] = kResetReasonVersion;
  j["escalations_total"] = f.escalations_total;
  j["consumed"] = f.consumed;
  j["reported_boot_id"] = f.reported_boot_id;
  if (f.last) {
    const ResetReason& r = *f.last;
    j["last"] = {
        {"time_realtime_ns", r.time_realtime_ns},
        {"time_utc", format_utc(r.time_realtime_ns)},
        {"boot_id", r.boot_id},
        {"cpu", r.cpu},
        {"stall_ns", r.stall_ns},
        {"class", r.stall_class},
        {"culprit", {{"comm", r.culprit_comm}, {"pid", r.culprit_pid}}},
        {"action", r.action},
        {"episode", r.episode},
    };
  } else {
    j["last"] = nullptr;
  }
  return j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

Result<ResetReasonFile> decode_reset_reason_file(std::string_view text) {
  json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return make_error("not a JSON object");
  try {
    int version = j.value("version", 0);
    if (version != kResetReasonVersion)
      return make_error("unsupported version {} (expected {})", version, kResetReasonVersion);
    ResetReasonFile f;
    f.escalations_total = j.value("escalations_total", std::uint64_t{0});
    f.consumed = j.value("consumed", true);
    f.reported_boot_id = j.value("reported_boot_id", std::string());
    if (j.contains("last") && j["last"].is_object()) {
      const json& l = j["last"];
      ResetReason r;
      r.time_realtime_ns = l.value("time_realtime_ns", std::int64_t{0});
      r.boot_id = l.value("boot_id", std::string());
      r.cpu = l.value("cpu", -1);
      r.stall_ns = l.value("stall_ns", std::int64_t{0});
      r.stall_class = l.value("class", std::string("unknown"));
      if (l.contains("culprit") && l["culprit"].is_object()) {
        r.culprit_comm = l["culprit"].value("comm", std::string());
        r.culprit_pid = l["culprit"].value("pid", 0);
      }
      r.action = l.value("action", std::string());
      r.episode = l.value("episode", std::uint64_t{0});
      f.last = r;
    }
    return f;
  } catch (const json::exception& e) {
    return make_error("bad field: {}", e.what());
  }
}

Result<std::string> read_boot_id(const Sysroot& root) {
  auto r = root.read_file("/proc/sys/kernel/random/boot_id", 128);
  if (!r.ok()) return r.error();
  std::string id(trim(*r));
  if (id.size() != 36 && id.size() != 32)
    return make_error("{}: unexpected boot id \"{}\"", root.path("/proc/sys/kernel/random/boot_id"),
                      id);
  return id;
}

Result<ResetReasonFile> ResetReasonStore::load() const {
  std::string p = path();
  if (::access(p.c_str(), F_OK) != 0 && errno == ENOENT) return ResetReasonFile{};
  auto text = read_file_capped(p, 1 << 16);
  if (!text.ok()) return text.error();
  auto f = decode_reset_reason_file(*text);
  if (!f.ok()) return make_error("{}: {}", p, f.error().message);
  return f;
}

namespace {

Status fsync_path(const std::string& p, int flags) {
  UniqueFd fd(::open(p.c_str(), flags | O_CLOEXEC));
  if (!fd.valid()) return make_error("{}: {}", p, std::strerror(errno));
  if (::fsync(fd.get()) != 0) return make_error("fsync {}: {}", p, std::strerror(errno));
  return Ok{};
}

}  // namespace

Status ResetReasonStore::save(const ResetReasonFile& file) const {
  if (state_dir_.empty()) return make_error("daemon.state_dir is empty");
  if (auto st = make_dirs(state_dir_, 0755); !st.ok()) return st;
  const std::string final_path = path();
  const std::string tmp = state_dir_ + "/." + kResetReasonFile + ".tmp";
  const std::string data = encode_reset_reason_file(file);
  {
    // Never through a planted link: a stale temp file goes, the new one is created exclusively.
    if (::unlink(tmp.c_str()) != 0 && errno != ENOENT)
      return make_error("{}: {}", tmp, std::strerror(errno));
    UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644));
    if (!fd.valid()) return make_error("{}: {}", tmp, std::strerror(errno));
    std::size_t done = 0;
    while (done < data.size()) {
      ssize_t n = ::write(fd.get(), data.data() + done, data.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return make_error("write {}: {}", tmp, std::strerror(errno));
      done += static_cast<std::size_t>(n);
    }
    if (::fsync(fd.get()) != 0) return make_error("fsync {}: {}", tmp, std::strerror(errno));
    if (::close(fd.release()) != 0) return make_error("close {}: {}", tmp, std::strerror(errno));
  }
  if (::rename(tmp.c_str(), final_path.c_str()) != 0)
    return make_error("rename {} -> {}: {}", tmp, final_path, std::strerror(errno));
  // The rename is durable only once the directory is synced.
  return fsync_path(state_dir_, O_RDONLY | O_DIRECTORY);
}

Result<std::uint64_t> ResetReasonStore::record(const ResetReason& reason) const {
  ResetReasonFile f;
  if (auto loaded = load(); loaded.ok()) {
    f = std::move(loaded).value();
  } else {
    spdlog::warn("replacing unreadable reset reason: {}", loaded.error().message);
  }
  f.escalations_total += 1;
  f.consumed = false;
  f.last = reason;
  if (auto st = save(f); !st.ok()) return st.error();
  return f.escalations_total;
}

PreviousBootReport decide_previous_boot_report(const ResetReasonFile& file,
                                               std::string_view current_boot_id,
                                               std::optional<std::uint32_t> bootstatus,
                                               std::string_view device) {
  PreviousBootReport out;
  std::string boot_note;
  if (bootstatus)
    boot_note =
        fmt::format("; watchdog {} bootstatus {}", device, describe_watchdog_flags(*bootstatus));
  const bool card_reset = bootstatus && (*bootstatus & WDIOF_CARDRESET) != 0;

  if (!file.consumed && file.last) {
    const ResetReason& r = *file.last;
    out.reason = r;
    out.report = true;
    out.mark_consumed = true;
    std::string when =
        fmt::format("escalated at {} (boot {}, {} escalation(s) so far){}",
                    format_utc(r.time_realtime_ns), r.boot_id, file.escalations_total, boot_note);
    if (r.boot_id != current_boot_id) {
      out.cause = "stallwatch-escalation";
      out.priority = 4;
      out.message = fmt::format("previous boot ended by stallwatch escalation: {}\n{}",
                                describe_reset_reason(r), when);
    } else {
      // Same boot: the daemon was restarted after escalating and the machine survived.
      out.cause = "escalation-this-boot";
      out.priority = 5;
      out.message = fmt::format(
          "an escalation earlier in this boot did not end it (stallwatchd was restarted): {}\n{}",
          describe_reset_reason(r), when);
    }
    return out;
  }
  if (card_reset && file.reported_boot_id != current_boot_id) {
    out.report = true;
    out.mark_consumed = true;
    out.cause = "watchdog-reset";
    out.priority = 4;
    out.message = fmt::format(
        "previous boot ended by a hardware watchdog reset without a stallwatch escalation: the "
        "watchdog was not fed (stallwatchd hung or was killed, or the whole machine froze){}",
        boot_note);
  }
  return out;
}

}  // namespace stallwatch::escalation
