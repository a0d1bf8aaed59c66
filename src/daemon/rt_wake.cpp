// SPDX-License-Identifier: GPL-2.0-or-later
#include "stallwatch/daemon/rt_wake.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include "stallwatch/core/thread_move.h"

namespace stallwatch::daemon {

RtWake::RtWake() : fd_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {}

void RtWake::route(HeartbeatManager& relays) {
  const int index = relays.add_relay_target(this);
  if (index < 0) return;
  index_.store(index, std::memory_order_relaxed);
  relays_.store(&relays, std::memory_order_release);
}

void RtWake::attach() noexcept {
  tid_.store(static_cast<int>(::gettid()), std::memory_order_release);
}

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
  HeartbeatManager* relays = relays_.load(std::memory_order_acquire);
  if (relays != nullptr && relays->relay(cpu, index_.load(std::memory_order_relaxed))) return;
  wake();
}

void RtWake::move_and_wake(int cpu) noexcept {
  const int tid = tid_.load(std::memory_order_acquire);
  if (tid > 0 && idle_.load(std::memory_order_seq_cst) && pin_thread(tid, cpu))
    moved_.store(true, std::memory_order_release);
  wake();
}

void RtWake::wake() noexcept {
  const std::uint64_t one = 1;
  (void)!::write(fd_.get(), &one, sizeof one);
}

}  // namespace stallwatch::daemon
