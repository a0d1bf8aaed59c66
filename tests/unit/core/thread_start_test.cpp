// SPDX-License-Identifier: GPL-2.0-or-later
// start_thread's stack canary (thread_start.h) with real threads: a painted thread's high-water
// covers what it wrote on its stack, and no more than glibc's part and a little; an unpainted
// thread reports 0; a stack below the libc minimum is refused (EINVAL), not silently replaced by
// the 8 MiB default. A stack split into a locked top and a reserve: the reserve is dropped at
// the thread's start and a thread that goes down into it is counted to its deepest page.
#include <alloca.h>
#include <gtest/gtest.h>
#include <pthread.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>

#include "stallwatch/core/thread_start.h"

namespace stallwatch {
namespace {

constexpr std::size_t kStack = 64 * 1024;
constexpr std::size_t kDeep = 24 * 1024;

struct Probe {
  std::size_t use_bytes = 0;  // written on the stack (alloca: on the real stack under ASan too)
  std::size_t high_water = 0;
  std::size_t resident_at_start = 0;  // of the stack's lowest `reserve` bytes, before any use
  std::size_t reserve = 0;
};

std::size_t resident_low_bytes(std::size_t bytes) {
  pthread_attr_t attr;
  void* low = nullptr;
  std::size_t size = 0;
  if (pthread_getattr_np(pthread_self(), &attr) != 0) return 0;
  pthread_attr_getstack(&attr, &low, &size);
  pthread_attr_destroy(&attr);
  const auto page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  std::size_t n = 0;
  for (std::size_t off = 0; off < bytes; off += page) {
    unsigned char v = 0;
    if (::mincore(static_cast<char*>(low) + off, page, &v) == 0 && (v & 1) != 0) n += page;
  }
  return n;
}

[[gnu::noinline]] void use_stack(std::size_t bytes) {
  auto* p = static_cast<volatile char*>(alloca(bytes));
  for (std::size_t i = 0; i < bytes; ++i) p[i] = static_cast<char>(i);
}

void* probe_main(void* arg) {
  auto* probe = static_cast<Probe*>(arg);
  if (probe->reserve > 0) probe->resident_at_start = resident_low_bytes(probe->reserve);
  if (probe->use_bytes > 0) use_stack(probe->use_bytes);
  probe->high_water = stack_high_water_bytes();
  return nullptr;
}

Probe run_probe_with(std::size_t use_bytes, bool paint, std::size_t locked) {
  Probe probe;
  probe.use_bytes = use_bytes;
  probe.reserve = locked > 0 ? kStack - locked - 4096 : 0;  // below the page-rounded split
  ThreadOptions options;
  options.name = "sw-test-stack";
  options.stack_bytes = kStack;
  options.paint_stack = paint;
  options.locked_stack_bytes = locked;
  pthread_t t;
  EXPECT_EQ(start_thread(&t, &probe_main, &probe, options), 0);
  pthread_join(t, nullptr);
  return probe;
}

std::size_t run_probe(std::size_t use_bytes, bool paint) {
  return run_probe_with(use_bytes, paint, 0).high_water;
}

TEST(StackCanary, HighWaterCoversWhatTheThreadWrote) {
  const std::size_t shallow = run_probe(0, true);
  const std::size_t deep = run_probe(kDeep, true);
  EXPECT_GT(shallow, 0u);
  EXPECT_LT(shallow, kDeep / 2) << "a thread that did nothing used at most glibc's part";
  EXPECT_GE(deep, kDeep);
  EXPECT_LE(deep, kDeep + shallow + 4096) << "glibc's part, the frames and the margin, no more";
  EXPECT_LT(deep, kStack);
}

TEST(StackCanary, UnpaintedThreadReportsNothing) { EXPECT_EQ(run_probe(kDeep, false), 0u); }

TEST(StackCanary, StackBelowTheLibcMinimumIsRefused) {
  ASSERT_GT(min_thread_stack_bytes(), 4096u);
  ThreadOptions options;
  options.stack_bytes = min_thread_stack_bytes() - 4096;
  Probe probe;
  pthread_t t;
  EXPECT_EQ(start_thread(&t, &probe_main, &probe, options), EINVAL);
  options.stack_bytes = min_thread_stack_bytes();
  options.paint_stack = true;
  ASSERT_EQ(start_thread(&t, &probe_main, &probe, options), 0);
  pthread_join(t, nullptr);
  EXPECT_GT(probe.high_water, 0u);
  EXPECT_LT(probe.high_water, min_thread_stack_bytes() / 2);
}

TEST(StackCanary, AReserveBelowTheLockedPartIsDroppedAndCountedWhenUsed) {
  // As after mlockall: the daemon's heartbeats and relays keep 12 KiB of 16 locked. (This test
  // process has no mlockall: the munlock is a no-op, the drop and the accounting are the same.)
  note_memory_locked();
  constexpr std::size_t kLocked = 16 * 1024;
  const Probe shallow = run_probe_with(0, true, kLocked);
  EXPECT_EQ(shallow.resident_at_start, 0u) << "the reserve is dropped before the function runs";
  EXPECT_GT(shallow.high_water, 0u);
  EXPECT_LT(shallow.high_water, kLocked);
  const Probe deep = run_probe_with(kDeep, true, kLocked);
  EXPECT_EQ(deep.resident_at_start, 0u);
  EXPECT_GE(deep.high_water, kDeep) << "use down in the reserve is counted, to its deepest page";
  EXPECT_LE(deep.high_water, kDeep + shallow.high_water + 2 * 4096);
}

}  // namespace
}  // namespace stallwatch
