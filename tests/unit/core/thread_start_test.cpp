// SPDX-License-Identifier: GPL-2.0-or-later
// start_thread's stack canary (thread_start.h) with real threads: a painted thread's high-water
// covers what it wrote on its stack, and no more than glibc's part and a little; an unpainted
// thread reports 0; a stack below the libc minimum is refused (EINVAL), not silently replaced by
// the 8 MiB default.
#include <alloca.h>
#include <gtest/gtest.h>
#include <pthread.h>

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
};

[[gnu::noinline]] void use_stack(std::size_t bytes) {
  auto* p = static_cast<volatile char*>(alloca(bytes));
  for (std::size_t i = 0; i < bytes; ++i) p[i] = static_cast<char>(i);
}

void* probe_main(void* arg) {
  auto* probe = static_cast<Probe*>(arg);
  if (probe->use_bytes > 0) use_stack(probe->use_bytes);
  probe->high_water = stack_high_water_bytes();
  return nullptr;
}

std::size_t run_probe(std::size_t use_bytes, bool paint) {
  Probe probe;
  probe.use_bytes = use_bytes;
  ThreadOptions options;
  options.name = "sw-test-stack";
  options.stack_bytes = kStack;
  options.paint_stack = paint;
  pthread_t t;
  EXPECT_EQ(start_thread(&t, &probe_main, &probe, options), 0);
  pthread_join(t, nullptr);
  return probe.high_water;
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

}  // namespace
}  // namespace stallwatch
