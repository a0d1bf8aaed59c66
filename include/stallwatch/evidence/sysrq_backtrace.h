// SPDX-License-Identifier: GPL-2.0-or-later
// SysrqBacktrace: one all-CPU backtrace request. trigger() opens /dev/kmsg, seeks it to the end
// (so only what follows is read back) and writes 'l' to /proc/sysrq-trigger through a BoundedIo
// (the kernel may busy-wait there for CPUs that ignore the NMI); read_until() then reads the
// records back into a SysrqDumpAssembler until every online CPU's section is complete or the
// deadline passes. Used by EvidenceEngine::collect() on the report worker thread; rate limiting
// and caching are the engine's business.
#pragma once

#include <chrono>
#include <cstdint>
#include <vector>

#include "stallwatch/core/sysroot.h"
#include "stallwatch/core/unique_fd.h"
#include "stallwatch/evidence/bounded_io.h"
#include "stallwatch/evidence/sysrq_parse.h"
#include "stallwatch/evidence/task_scan.h"

namespace stallwatch::evidence {

class SysrqBacktrace {
 public:
  explicit SysrqBacktrace(const Sysroot& root) : root_(root) {}

  bool available() const { return root_.exists("/proc/sysrq-trigger"); }
  // Seeks /dev/kmsg to its end, then writes 'l'. write_timeout bounds the write itself.
  Status trigger(BoundedIo& io, std::chrono::nanoseconds write_timeout);
  // Reads records until complete_for(cpus) or deadline_ns; a quiet gap of quiet_ns after every
  // CPU's section has started closes the last one (user-mode dumps have no end marker).
  void read_until(const std::vector<int>& cpus, std::int64_t deadline_ns, NowFn now,
                  std::int64_t quiet_ns = 50'000'000);

  const SysrqDumpAssembler& dump() const { return dump_; }
  std::uint64_t overruns() const { return overruns_; }

 private:
  const Sysroot& root_;
  UniqueFd kmsg_;
  SysrqDumpAssembler dump_;
  std::uint64_t overruns_ = 0;
};

}  // namespace stallwatch::evidence
