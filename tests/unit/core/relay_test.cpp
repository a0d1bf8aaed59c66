// SPDX-License-Identifier: GPL-2.0-or-later
// The relays of HeartbeatManager (heartbeat.h) with real threads: a wake posted for a CPU is
// served on that CPU by its relay (not by the caller, not by the heartbeat), and a heartbeat moved
// off its CPU is put back by its relay. No sleeps: the test waits on a condition, bounded.
#include <gtest/gtest.h>
#include <pthread.h>
#include <sched.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <fstream>
#include <mutex>
#include <string>

#include "stallwatch/core/heartbeat.h"
#include "stallwatch/core/thread_move.h"

namespace stallwatch {
namespace {

std::string comm_of_self() {
  char name[32] = {};
  pthread_getname_np(pthread_self(), name, sizeof name);
  return name;
}

class Recorder final : public RelayTarget {
 public:
  void move_and_wake(int cpu) noexcept override {
    std::lock_guard lock(mu_);
    calls_++;
    asked_cpu_ = cpu;
    ran_on_ = sched_getcpu();
    comm_ = comm_of_self();
    cv_.notify_all();
  }
  bool wait_calls(int n) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, std::chrono::seconds(10), [&] { return calls_ >= n; });
  }
  std::mutex mu_;
  std::condition_variable cv_;
  int calls_ = 0;
  int asked_cpu_ = -1;
  int ran_on_ = -1;
  std::string comm_;
};

HeartbeatParams params() {
  HeartbeatParams p;
  p.interval_ns = 10'000'000;
  p.allow_degraded = true;  // SCHED_OTHER when the test may not use SCHED_FIFO
  p.priority = 1;
  p.stack_bytes = 64 * 1024;
  return p;
}

std::vector<int> allowed_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  sched_getaffinity(0, sizeof set, &set);
  std::vector<int> cpus;
  for (int c = 0; c < CPU_SETSIZE; ++c)
    if (CPU_ISSET(c, &set)) cpus.push_back(c);
  return cpus;
}

TEST(Relay, WakeIsServedOnTheCheckingCpuByItsRelay) {
  const std::vector<int> cpus = allowed_cpus();
  const int cpu = cpus.back();
  HeartbeatManager hb(cpu + 1);
  Recorder target;
  const int index = hb.add_relay_target(&target);
  ASSERT_EQ(index, 0);
  EXPECT_FALSE(hb.relay(cpu, index)) << "no heartbeat, no relay: the caller wakes by itself";
  ASSERT_TRUE(hb.start(cpu, params()));
  ASSERT_TRUE(hb.relay(cpu, index));
  ASSERT_TRUE(target.wait_calls(1));
  {
    std::lock_guard lock(target.mu_);
    EXPECT_EQ(target.asked_cpu_, cpu);
    EXPECT_EQ(target.ran_on_, cpu) << "the relay is pinned to its CPU";
    EXPECT_EQ(target.comm_, "sw-relay/" + std::to_string(cpu));
  }
  EXPECT_GT(hb.relay_tid(cpu), 0);
  EXPECT_NE(hb.relay_tid(cpu), static_cast<pid_t>(::gettid()));
  EXPECT_EQ(hb.stop_all(std::chrono::duration_cast<std::chrono::nanoseconds>(
                            std::chrono::steady_clock::now().time_since_epoch())
                            .count() +
                        2'000'000'000),
            0);
  EXPECT_FALSE(hb.relay(cpu, index)) << "stopped: no relay serves the CPU any more";
}

TEST(Relay, TargetsAreBounded) {
  HeartbeatManager hb(1);
  Recorder t;
  for (int i = 0; i < HeartbeatManager::kMaxRelayTargets; ++i)
    EXPECT_EQ(hb.add_relay_target(&t), i);
  EXPECT_EQ(hb.add_relay_target(&t), -1);
  EXPECT_EQ(hb.add_relay_target(nullptr), -1);
}

TEST(Relay, MovedHeartbeatIsPutBackByItsRelay) {
  const std::vector<int> cpus = allowed_cpus();
  if (cpus.size() < 2) GTEST_SKIP() << "needs two CPUs";
  const int cpu = cpus[1];
  const int elsewhere = cpus[0];
  HeartbeatManager hb(cpu + 1);
  ASSERT_TRUE(hb.start(cpu, params()));
  HeartbeatSlot& slot = hb.slots()[cpu];
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (slot.tid.load() == 0 && std::chrono::steady_clock::now() < until) sched_yield();
  ASSERT_GT(slot.tid.load(), 0);
  ASSERT_TRUE(pin_thread(slot.tid.load(), elsewhere));  // what taskset -p does
  // Found elsewhere (displaced), then back home: placed by the relay, stamping on its CPU again.
  while (slot.displacements.load() == 0 && std::chrono::steady_clock::now() < until) sched_yield();
  ASSERT_EQ(slot.displacements.load(), 1U);
  while ((slot.placed_ns.load() == 0 || slot.displaced_on.load() != kOnItsCpu) &&
         std::chrono::steady_clock::now() < until)
    sched_yield();
  EXPECT_GT(slot.placed_ns.load(), 0) << "the relay put it back";
  EXPECT_EQ(slot.displaced_on.load(), kOnItsCpu);
  const std::uint64_t seq = slot.seq.load();
  while (slot.seq.load() == seq && std::chrono::steady_clock::now() < until) sched_yield();
  EXPECT_EQ(slot.on_cpu.load(), cpu);
}

}  // namespace
}  // namespace stallwatch
