// SPDX-License-Identifier: GPL-2.0-or-later
// ThisCpu: the CPU the calling thread runs on, read from its rseq area (glibc >= 2.35 registers
// one per thread; the kernel writes cpu_id before every return to user space after the thread
// moved or was scheduled in). One load from the thread's own control block, which the kernel has
// just written, instead of sched_getcpu(): glibc's sched_getcpu reads the same field, but through
// the PLT into a libc code page of its own. On a heartbeat's wakeup that is two cache lines and
// one page fewer to fetch with cold caches (docs/performance.md, "2026-12-04, midnight").
//
// Built on the thread that reads it (the rseq area is per thread). Falls back to sched_getcpu()
// where rseq is not registered (glibc.pthread.rseq=0, a kernel without rseq, registration
// failed: cpu_id is then negative).
#pragma once

#include <sched.h>
#include <sys/rseq.h>

#include <cstddef>
#include <cstdint>

namespace stallwatch {

class ThisCpu {
 public:
  // On the thread that will call get().
  ThisCpu() noexcept
      : area_(__rseq_size >= 8 ? reinterpret_cast<const volatile std::int32_t*>(
                                     static_cast<const char*>(__builtin_thread_pointer()) +
                                     __rseq_offset + offsetof(struct rseq, cpu_id))
                               : nullptr) {}

  int get() const noexcept {
    if (area_ != nullptr) {
      const int cpu = *area_;
      if (cpu >= 0) return cpu;
    }
    return ::sched_getcpu();
  }

  bool from_rseq() const noexcept { return area_ != nullptr && *area_ >= 0; }

 private:
  const volatile std::int32_t* area_;
};

}  // namespace stallwatch
