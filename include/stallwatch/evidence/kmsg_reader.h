// SPDX-License-Identifier: GPL-2.0-or-later
// KmsgReader: the background /dev/kmsg reader. Its thread (started by EvidenceEngine::start(),
// SCHED_OTHER, small stack) reads every kernel record as it arrives, handles EPIPE (records
// overwritten before we read them) and keeps the recent stall verdicts -- soft lockup, hard
// LOCKUP, RCU stall, hung task, RT throttling, unstable clocksource -- with the records that
// followed each one, in a bounded ring guarded by a mutex. The report worker thread asks for the
// verdicts that concern one CPU and time window. process_read()/process_error() are the seam the
// thread and the unit tests (replaying captured read traces) share.
#pragma once

#include <pthread.h>

#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "stallwatch/core/sysroot.h"
#include "stallwatch/core/unique_fd.h"
#include "stallwatch/evidence/evidence.h"

namespace stallwatch::evidence {

class KmsgReader {
 public:
  explicit KmsgReader(Sysroot root, std::size_t max_verdicts = 128,
                      std::size_t context_records = 48);
  ~KmsgReader();
  KmsgReader(const KmsgReader&) = delete;
  KmsgReader& operator=(const KmsgReader&) = delete;

  // Opens /dev/kmsg (from its oldest record) and starts the thread. An error means "kernel
  // verdicts unavailable"; the daemon goes on without them.
  Status start(std::size_t stack_bytes = 128 * 1024);
  void stop();  // prompt: the thread polls an eventfd

  // One successful read() (exactly one record) / one failed read() with its errno.
  void process_read(std::string_view data);
  void process_error(int err);

  // Verdicts whose timestamp lies in [from_ns, to_ns] and that name cpu or no CPU at all.
  std::vector<KernelVerdict> verdicts_for(int cpu, std::int64_t from_ns, std::int64_t to_ns) const;
  std::uint64_t lost_records() const;  // records skipped (sequence gaps)
  std::uint64_t overruns() const;      // EPIPE results
  std::uint64_t records_read() const;
  bool running() const { return running_; }

 private:
  void run();

  Sysroot root_;
  std::size_t max_verdicts_;
  std::size_t context_records_;
  mutable std::mutex mu_;
  std::deque<KernelVerdict> verdicts_;
  std::size_t context_left_ = 0;  // records still to append to verdicts_.back()
  std::uint64_t last_seq_ = 0;
  bool have_seq_ = false;
  std::uint64_t lost_ = 0;
  std::uint64_t overruns_ = 0;
  std::uint64_t records_ = 0;

  UniqueFd kmsg_fd_;
  UniqueFd stop_fd_;
  pthread_t thread_{};
  bool running_ = false;
};

}  // namespace stallwatch::evidence
