// SPDX-License-Identifier: GPL-2.0-or-later
// Doctor context: what the audit items read that is not a plain file -- the configuration, the
// kernel log since boot and a /proc/stat sampling window.
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include <cstring>

#include <fmt/format.h>
#include <thread>

#include "stallwatch/core/clock.h"
#include "stallwatch/core/unique_fd.h"
#include "stallwatch/ctl/doctor/doctor.h"
#include "stallwatch/ctl/doctor/parse.h"
#include "stallwatch/evidence/kmsg_parse.h"

namespace stallwatch::ctl {

namespace {

void add_record(std::string_view data, KernelLog* log) {
  auto rec = evidence::parse_kmsg_record(data);
  // Only the kernel's own records (facility 0) are kernel verdicts; userspace may write anything
  // to /dev/kmsg.
  if (!rec || rec->facility != 0) return;
  log->messages.push_back(evidence::unescape_kmsg(rec->text));
}

constexpr std::size_t kMaxRecords = 200'000;  // the ring holds fewer; a bound on a file fixture

}  // namespace

std::optional<std::int64_t> read_int(const DoctorContext& ctx, Finding& r, std::string_view path) {
  auto v = read_trimmed(ctx.root, path);
  r.add(std::string(path), v ? *v : "absent");
  return v ? parse_integer(*v) : std::nullopt;
}

KernelLog read_kernel_log(const Sysroot& root) {
  KernelLog log;
  const std::string path = root.path("/dev/kmsg");
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    log.error = fmt::format("/dev/kmsg: {}", std::strerror(errno));
    return log;
  }
  if (S_ISREG(st.st_mode)) {  // a captured `cat /dev/kmsg` in a fixture tree
    auto text = read_file_capped(path, 16 << 20);
    if (!text) {
      log.error = text.error().message;
      return log;
    }
    for (auto rec : evidence::split_kmsg_records(*text)) add_record(rec, &log);
    log.readable = true;
    return log;
  }
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC));
  if (!fd.valid()) {
    const int err = errno;
    log.error = fmt::format("{}/dev/kmsg: {}", err == EPERM || err == EACCES ? "needs root: " : "",
                            std::strerror(err));
    return log;
  }
  // Each read() returns one record; EAGAIN means we are at the end; EPIPE means records were
  // overwritten while reading (the next read resumes at the oldest one left).
  std::string buf(16 * 1024, '\0');
  while (log.messages.size() < kMaxRecords) {
    const ssize_t n = ::read(fd.get(), buf.data(), buf.size());
    if (n > 0) {
      add_record(std::string_view(buf.data(), static_cast<std::size_t>(n)), &log);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EPIPE) continue;
    if (n < 0 && errno != EAGAIN) {
      const int err = errno;
      if (log.messages.empty()) {
        log.error =
            fmt::format("{}/dev/kmsg: {}", err == EPERM || err == EACCES ? "needs root: " : "",
                        std::strerror(err));
        return log;
      }
    }
    break;
  }
  log.readable = true;
  return log;
}

DoctorContext load_doctor_context(const Sysroot& root, const std::string& config_path,
                                  bool config_explicit) {
  DoctorContext ctx;
  ctx.root = root;
  ctx.euid = static_cast<int>(::geteuid());
  utsname u{};
  if (::uname(&u) == 0) ctx.machine = u.machine;
  // A configuration named with --config is a real path; the default one lives in the sysroot.
  ctx.config_path = config_explicit ? config_path : root.path(kDefaultConfigPath);
  ctx.config_found = ::access(ctx.config_path.c_str(), F_OK) == 0;
  auto cfg = load_config(ctx.config_path, config_explicit);
  if (cfg)
    ctx.config = std::move(*cfg);
  else
    ctx.config_error = cfg.error().message;
  ctx.kmsg = read_kernel_log(root);
  ctx.stat_before = root.read_file("/proc/stat").value_or(std::string());
  ctx.stat_after = ctx.stat_before;
  return ctx;
}

DoctorContext collect_doctor_context(const DoctorOptions& options) {
  Sysroot root(options.sysroot);
  DoctorContext ctx = load_doctor_context(root, options.config_path, !options.config_path.empty());
  if (options.window_ms > 0) {
    const std::int64_t t0 = mono_now_ns();
    ctx.stat_before = root.read_file("/proc/stat").value_or(std::string());
    std::this_thread::sleep_for(std::chrono::milliseconds(options.window_ms));
    ctx.stat_after = root.read_file("/proc/stat").value_or(std::string());
    ctx.window_ms = (mono_now_ns() - t0) / 1'000'000;
  }
  ctx.now_mono_ns = mono_now_ns();
  ctx.now_unix_ms = real_now_ns() / 1'000'000;
  return ctx;
}

}  // namespace stallwatch::ctl
