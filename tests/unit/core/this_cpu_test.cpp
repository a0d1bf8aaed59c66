// SPDX-License-Identifier: GPL-2.0-or-later
// ThisCpu: the CPU read from the thread's rseq area is the CPU the thread runs on, on every CPU
// this test may use, and a thread's reader is its own.
#include "stallwatch/core/this_cpu.h"

#include <gtest/gtest.h>
#include <sched.h>

#include <thread>

namespace stallwatch {
namespace {

// Pins the calling thread to each CPU it may use in turn; restores its mask at the end.
class PinEach {
 public:
  PinEach() { sched_getaffinity(0, sizeof saved_, &saved_); }
  ~PinEach() { sched_setaffinity(0, sizeof saved_, &saved_); }
  template <typename F>
  int for_each(F f) {
    int n = 0;
    for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
      if (!CPU_ISSET(cpu, &saved_)) continue;
      cpu_set_t one;
      CPU_ZERO(&one);
      CPU_SET(cpu, &one);
      if (sched_setaffinity(0, sizeof one, &one) != 0) continue;  // offline meanwhile
      f(cpu);
      ++n;
    }
    return n;
  }

 private:
  cpu_set_t saved_{};
};

TEST(ThisCpu, ReadsTheCpuTheThreadRunsOn) {
  const ThisCpu here;
  PinEach pin;
  const int cpus = pin.for_each([&](int cpu) {
    EXPECT_EQ(here.get(), cpu);
    EXPECT_EQ(here.get(), sched_getcpu());
  });
  EXPECT_GE(cpus, 1);
  // glibc >= 2.35 registers rseq for every thread unless told not to: the fast path is taken.
  if (__rseq_size >= 8) {
    EXPECT_TRUE(here.from_rseq());
  } else {
    GTEST_LOG_(INFO) << "rseq not registered here: ThisCpu falls back to sched_getcpu()";
  }
}

TEST(ThisCpu, EachThreadReadsItsOwnArea) {
  int seen = -2, expected = -3;
  std::thread t([&] {
    PinEach pin;
    pin.for_each([&](int cpu) {
      const ThisCpu mine;
      seen = mine.get();
      expected = cpu;
    });
  });
  t.join();
  EXPECT_EQ(seen, expected);
}

}  // namespace
}  // namespace stallwatch
