// SPDX-License-Identifier: GPL-2.0-or-later
// Where the real-time check's helpers run: RtWake moves a waiting helper to the waker's CPU, and
// ThreadPlacement's pure parts choose the CPUs and the threads.
#include <gtest/gtest.h>
#include <pthread.h>
#include <sched.h>
#include <sys/select.h>

#include <atomic>

#include "stallwatch/daemon/rt_wake.h"
#include "stallwatch/daemon/thread_placement.h"

namespace stallwatch::daemon {
namespace {

TEST(PlacementCpus, SuspectCpusAreLeftOut) {
  EXPECT_EQ(placement_cpus({0, 1, 2, 3}, {false, true, false, true}), (std::vector<int>{0, 2}));
  EXPECT_EQ(placement_cpus({0, 1, 2, 3}, {false, false, false, false}),
            (std::vector<int>{0, 1, 2, 3}));
  // Only the process's CPUs (CPUAffinity=) count; CPUs past the published slots are kept.
  EXPECT_EQ(placement_cpus({2, 3, 5}, {false, false, true, false}), (std::vector<int>{3, 5}));
}

TEST(PlacementCpus, EveryCpuSuspectKeepsThemAll) {
  // A frozen machine: nowhere is better, and an empty mask would be refused by the kernel.
  EXPECT_EQ(placement_cpus({0, 1}, {true, true}), (std::vector<int>{0, 1}));
}

TEST(PlacedThread, HeartbeatsAndFeederStayWhereTheyAre) {
  EXPECT_FALSE(placed_thread("sw-hb/0"));
  EXPECT_FALSE(placed_thread("sw-hb/127"));
  EXPECT_FALSE(placed_thread("sw-feeder"));
  EXPECT_FALSE(placed_thread("sw-relay/0"));
  EXPECT_FALSE(placed_thread("sw-relay/4095"));
  EXPECT_FALSE(placed_thread("sw-mover"));
  EXPECT_TRUE(placed_thread("sw-dispatch"));
  EXPECT_TRUE(placed_thread("sw-counters"));
  EXPECT_TRUE(placed_thread("stallwatchd"));
  EXPECT_TRUE(placed_thread(""));
}

struct Helper {
  RtWake wake;
  std::atomic<bool> waiting{false};
  bool moved = false;
  int cpu = -1;
};

void* helper_main(void* arg) {
  auto* h = static_cast<Helper*>(arg);
  h->wake.attach();
  while (h->wake.busy(&h->moved) == 0) {
    h->wake.idle();
    h->waiting.store(true);
    fd_set set;
    FD_ZERO(&set);
    FD_SET(h->wake.fd(), &set);
    ::select(h->wake.fd() + 1, &set, nullptr, nullptr, nullptr);
  }
  h->cpu = sched_getcpu();
  return nullptr;
}

// wake_on(cpu) from this thread (the helper): one wake counted, this thread's mask unchanged.
void expect_woken_not_moved(Helper& h, int cpu) {
  cpu_set_t before;
  ASSERT_EQ(sched_getaffinity(0, sizeof before, &before), 0);
  h.wake.wake_on(cpu);
  cpu_set_t after;
  ASSERT_EQ(sched_getaffinity(0, sizeof after, &after), 0);
  EXPECT_TRUE(CPU_EQUAL(&before, &after));
  bool moved = true;
  EXPECT_EQ(h.wake.busy(&moved), 1u);
  EXPECT_FALSE(moved);
}

// What a heartbeat's relay thread does for a routed RtWake: it moves an idle
// helper to the relay's CPU, then wakes it (wake_on() itself never moves).
TEST(RtWake, AnIdleHelperMovedByTheRelayRunsOnItsCpu) {
  cpu_set_t mine;
  ASSERT_EQ(sched_getaffinity(0, sizeof mine, &mine), 0);
  if (CPU_COUNT(&mine) < 2) GTEST_SKIP() << "needs two CPUs";
  int first = -1, last = -1;
  for (int c = 0; c < CPU_SETSIZE; ++c)
    if (CPU_ISSET(c, &mine)) {
      if (first < 0) first = c;
      last = c;
    }
  Helper h;
  ASSERT_TRUE(h.wake.valid());
  // The helper starts on one CPU, the waker sits on another.
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  cpu_set_t start;
  CPU_ZERO(&start);
  CPU_SET(first, &start);
  pthread_attr_setaffinity_np(&attr, sizeof start, &start);
  pthread_t t;
  ASSERT_EQ(pthread_create(&t, &attr, helper_main, &h), 0);
  pthread_attr_destroy(&attr);
  while (!h.waiting.load()) sched_yield();
  h.wake.move_and_wake(last);
  pthread_join(t, nullptr);
  EXPECT_TRUE(h.moved);
  EXPECT_EQ(h.cpu, last);
}

TEST(RtWake, WithoutRelaysAWakeNeverMovesTheHelper) {
  Helper h;
  h.wake.attach();
  h.wake.idle();  // idle, yet no relay is routed: the real-time caller only wakes
  cpu_set_t before;
  ASSERT_EQ(sched_getaffinity(0, sizeof before, &before), 0);
  int other = -1;
  for (int c = 0; c < CPU_SETSIZE; ++c)
    if (CPU_ISSET(c, &before) && c != sched_getcpu()) other = c;
  expect_woken_not_moved(h, other < 0 ? 0 : other);
}

TEST(RtWake, ABusyHelperIsOnlyWoken) {
  Helper h;
  h.wake.attach();  // this thread plays the helper, busy (never idle()): no move
  expect_woken_not_moved(h, 0);
  bool moved = true;
  EXPECT_EQ(h.wake.busy(&moved), 0u);
}

}  // namespace
}  // namespace stallwatch::daemon
