// SPDX-License-Identifier: GPL-2.0-or-later
#include "stallwatch/rt_wake.h"

#include <sched.h>
#include <sys/eventfd.h>
#include <unistd.h>

namespace stallwatch {

RtWake::RtWake() : fd_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {}

void RtWake::attach() noexcept { tid_.store(static_cast<int>(::gettid()), std::memory_order_release); }

void RtWake::idle() noexcept { idle_.store(true, std::memory_order_seq_cst); }

std::uint64_t RtWake::busy(bool* moved) noexcept {
  idle_.store(false, std::memory_order_seq_cst);
  const bool m = moved_.exchange(false, std::memory_order_acq_rel);
  if (moved != nullptr) *moved = m;
  std::uint64_t n = 0;
  if (::read(fd_.get(), &n, sizeof n) != static_cast<ssize_t>(sizeof n)) n = 0;
  return n;
}

void RtWake::wake_on(int cpu) noexcept {
  const int tid = tid_.load(std::memory_order_acquire);
  constexpr int kMaxCpus = 8192;  // a mask on the stack: no allocation on the real-time path
  if (tid > 0 && cpu >= 0 && cpu < kMaxCpus && idle_.load(std::memory_order_seq_cst)) {
    unsigned long bits[kMaxCpus / (8 * sizeof(unsigned long))] = {};
    auto* set = reinterpret_cast<cpu_set_t*>(bits);
    const std::size_t size = CPU_ALLOC_SIZE(cpu + 1);
    CPU_SET_S(static_cast<unsigned>(cpu), size, set);
    if (::sched_setaffinity(tid, size, set) == 0) moved_.store(true, std::memory_order_release);
  }
  wake();
}

void RtWake::wake() noexcept {
  const std::uint64_t one = 1;
  (void)!::write(fd_.get(), &one, sizeof one);
}

}  // namespace stallwatch
