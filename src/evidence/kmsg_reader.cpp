// SPDX-License-Identifier: GPL-2.0-or-later
#include "stallwatch/evidence/kmsg_reader.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <spdlog/spdlog.h>

#include "stallwatch/core/sanitize.h"
#include "stallwatch/core/thread_start.h"
#include "stallwatch/evidence/proc_parse.h"

namespace stallwatch::evidence {

KmsgReader::KmsgReader(Sysroot root, std::size_t max_verdicts, std::size_t context_records)
    : root_(std::move(root)), max_verdicts_(max_verdicts), context_records_(context_records) {}

KmsgReader::~KmsgReader() { stop(); }

Status KmsgReader::start(std::size_t stack_bytes) {
  if (running_) return Ok{};
  std::string path = root_.path("/dev/kmsg");
  kmsg_fd_.reset(::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC));
  if (!kmsg_fd_.valid()) return make_error("{}: {}", path, std::strerror(errno));
  stop_fd_.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!stop_fd_.valid()) return make_error("eventfd: {}", std::strerror(errno));
  Status s = start_background_thread(&thread_, &thread_entry<KmsgReader, &KmsgReader::run>, this,
                                     stack_bytes, "sw-kmsg");
  if (!s) return s;
  running_ = true;
  return Ok{};
}

void KmsgReader::stop() {
  if (!running_) return;
  std::uint64_t one = 1;
  [[maybe_unused]] ssize_t n = ::write(stop_fd_.get(), &one, sizeof one);
  pthread_join(thread_, nullptr);
  running_ = false;
  kmsg_fd_.reset();
  stop_fd_.reset();
}

void KmsgReader::run() {
  // One record per read(); records are at most ~8 KiB of text plus dictionary.
  static constexpr std::size_t kBuf = 16384;
  std::string buf(kBuf, '\0');
  for (;;) {
    pollfd fds[2] = {{kmsg_fd_.get(), POLLIN, 0}, {stop_fd_.get(), POLLIN, 0}};
    int rc = ::poll(fds, 2, -1);  // a record or the stop eventfd; no idle wakeups
    if (rc < 0 && errno != EINTR) {
      spdlog::warn("kmsg reader: poll: {}", std::strerror(errno));
      return;
    }
    if (fds[1].revents != 0) return;
    for (int i = 0; i < 256; ++i) {  // bounded burst, then check the stop fd again
      ssize_t n = ::read(kmsg_fd_.get(), buf.data(), buf.size());
      if (n > 0) {
        process_read(std::string_view(buf.data(), static_cast<std::size_t>(n)));
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && errno == EAGAIN) break;
      if (n < 0 && errno == EPIPE) {
        process_error(EPIPE);
        continue;
      }
      if (n < 0 && errno == EINVAL) {
        // A record larger than the buffer is never consumed: skip to the end.
        process_error(EINVAL);
        ::lseek(kmsg_fd_.get(), 0, SEEK_END);
        break;
      }
      spdlog::warn("kmsg reader: read: {}", n < 0 ? std::strerror(errno) : "end of file");
      return;
    }
  }
}

void KmsgReader::process_read(std::string_view data) {
  auto rec = parse_kmsg_record(data);
  std::lock_guard lock(mu_);
  ++records_;
  if (!rec) return;
  if (have_seq_ && rec->seq > last_seq_ + 1) lost_ += rec->seq - last_seq_ - 1;
  last_seq_ = rec->seq;
  have_seq_ = true;
  // Verdicts and their context only from the kernel: a user process may write to /dev/kmsg
  // (facility user by default) and must not plant a verdict.
  if (rec->facility != kKernelFacility) return;
  // Untrusted (a comm inside a kernel line): one sanitized form, reversible by unescape_text().
  std::string text = sanitize_text(unescape_kmsg(rec->text));
  std::int64_t mono_ns = rec->usec * 1000;
  if (auto m = match_verdict(text)) {
    KernelVerdict v;
    v.match = *m;
    v.seq = rec->seq;
    v.mono_ns = mono_ns;
    v.text = text;
    if (m->cpu >= 0) v.cpus.push_back(m->cpu);
    verdicts_.push_back(std::move(v));
    while (verdicts_.size() > max_verdicts_) verdicts_.pop_front();
    context_left_ = context_records_;
    return;
  }
  if (context_left_ == 0 || verdicts_.empty()) return;
  KernelVerdict& v = verdicts_.back();
  // The dump that follows a verdict comes within a few seconds; later records are unrelated.
  if (mono_ns - v.mono_ns > 5'000'000'000) {
    context_left_ = 0;
    return;
  }
  std::string_view t = trim(text);
  // A sysrq dump is not part of the verdict's own report.
  if (t.substr(0, 7) == "sysrq: " || t.substr(0, 7) == "SysRq :") {
    context_left_ = 0;
    return;
  }
  --context_left_;
  // RCU names the stalled CPUs on the lines after "rcu: INFO: ... stall" ("rcu: \x091-....:"),
  // and a self-detected stall dumps the stalled CPU's registers ("CPU: 1 PID: ...") next.
  if (v.match.kind == VerdictKind::kRcuStall) {
    int cpu = follow_up_cpu(rec->text);
    bool cpu_line = t.substr(0, 5) == "CPU: ";
    if (cpu >= 0 && (!cpu_line || !v.saw_cpu_line) &&
        std::find(v.cpus.begin(), v.cpus.end(), cpu) == v.cpus.end())
      v.cpus.push_back(cpu);
    if (cpu_line) v.saw_cpu_line = true;
  }
  if (v.rip.empty() && t.substr(0, 5) == "RIP: ") {
    std::string_view r = t.substr(5);
    auto colon = r.find(':');
    v.kernel_rip = colon != std::string_view::npos && r.substr(0, colon) == "0010";
    v.rip = std::string(colon == std::string_view::npos ? r : r.substr(colon + 1));
  }
  v.context.push_back(std::move(text));
}

void KmsgReader::process_error(int err) {
  std::lock_guard lock(mu_);
  if (err == EPIPE) ++overruns_;
  if (context_left_ > 0 && !verdicts_.empty()) {
    verdicts_.back().context.emplace_back("[kmsg records lost]");
    context_left_ = 0;
  }
}

std::vector<KernelVerdict> KmsgReader::verdicts_for(int cpu, std::int64_t from_ns,
                                                    std::int64_t to_ns) const {
  std::lock_guard lock(mu_);
  std::vector<KernelVerdict> out;
  for (const auto& v : verdicts_) {
    if (v.mono_ns < from_ns || v.mono_ns > to_ns) continue;
    bool mine = v.cpus.empty() || std::find(v.cpus.begin(), v.cpus.end(), cpu) != v.cpus.end();
    if (mine) out.push_back(v);
  }
  return out;
}

std::uint64_t KmsgReader::lost_records() const {
  std::lock_guard lock(mu_);
  return lost_;
}

std::uint64_t KmsgReader::overruns() const {
  std::lock_guard lock(mu_);
  return overruns_;
}

std::uint64_t KmsgReader::records_read() const {
  std::lock_guard lock(mu_);
  return records_;
}

}  // namespace stallwatch::evidence
