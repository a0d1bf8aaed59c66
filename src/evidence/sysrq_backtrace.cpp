// SPDX-License-Identifier: GPL-2.0-or-later
#include "stallwatch/evidence/sysrq_backtrace.h"

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>

#include "stallwatch/evidence/kmsg_parse.h"

namespace stallwatch::evidence {

Status SysrqBacktrace::trigger(BoundedIo& io, std::chrono::nanoseconds write_timeout) {
  std::string kmsg = root_.path("/dev/kmsg");
  kmsg_.reset(::open(kmsg.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC));
  if (!kmsg_.valid()) return make_error("{}: {}", kmsg, std::strerror(errno));
  if (::lseek(kmsg_.get(), 0, SEEK_END) < 0)
    return make_error("{}: lseek(SEEK_END): {}", kmsg, std::strerror(errno));
  return io.write(root_.path("/proc/sysrq-trigger"), "l", write_timeout);
}

void SysrqBacktrace::read_until(const std::vector<int>& cpus, std::int64_t deadline_ns, NowFn now,
                                std::int64_t quiet_ns) {
  if (!kmsg_.valid()) return;
  std::string buf(16384, '\0');
  std::int64_t last_record_ns = now();
  for (;;) {
    // Drain what is there.
    for (;;) {
      ssize_t n = ::read(kmsg_.get(), buf.data(), buf.size());
      if (n > 0) {
        last_record_ns = now();
        // Only kernel-facility records: a user process can write to /dev/kmsg too.
        if (auto rec = parse_kmsg_record(std::string_view(buf.data(), static_cast<std::size_t>(n)));
            rec && rec->facility == kKernelFacility)
          dump_.add_line(rec->text);
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && errno == EPIPE) {  // overwritten before we read it: go on with what follows
        ++overruns_;
        continue;
      }
      break;  // EAGAIN, or an error: stop draining
    }
    if (dump_.complete_for(cpus)) return;
    std::int64_t t = now();
    bool all_started =
        std::all_of(cpus.begin(), cpus.end(), [&](int c) { return dump_.section(c) != nullptr; });
    if (all_started && t - last_record_ns >= quiet_ns) {
      dump_.finish();
      return;
    }
    if (t >= deadline_ns) return;
    std::int64_t wait_ns = deadline_ns - t;
    if (all_started) wait_ns = std::min(wait_ns, quiet_ns - (t - last_record_ns));
    pollfd pfd{kmsg_.get(), POLLIN, 0};
    int ms = static_cast<int>(std::max<std::int64_t>(1, (wait_ns + 999'999) / 1'000'000));
    ::poll(&pfd, 1, ms);
  }
}

}  // namespace stallwatch::evidence
