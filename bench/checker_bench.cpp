// SPDX-License-Identifier: GPL-2.0-or-later
// Cost of one check and of one heartbeat stamp: the work the monitor adds to a heartbeat wakeup
// beyond the sleep and the clock read. BM_CheckerTick/N is the pure decision over N CPUs;
// BM_RunnerCheck/N is the whole check a heartbeat runs when it wins the claim (settings and
// monitoring requests, tick, ring, published state, feed/ping decisions, next deadline).
#include <benchmark/benchmark.h>

#include <memory>
#include <vector>

#include "null_outputs.h"
#include "stallwatch/core/checker.h"
#include "stallwatch/daemon/check_runner.h"

namespace {

using namespace stallwatch;
using namespace stallwatch::daemon;

void BM_CheckerTick(benchmark::State& state) {
  const int cpus = static_cast<int>(state.range(0));
  std::unique_ptr<HeartbeatSlot[]> slots(new HeartbeatSlot[static_cast<std::size_t>(cpus)]);
  CheckerSettings s;
  Checker checker(slots.get(), cpus, s);
  std::int64_t now = 1'000'000'000;
  for (int c = 0; c < cpus; ++c) checker.set_monitored(c, true, now);
  for (int c = 0; c < cpus; ++c) slots[c].stamp(now, 0, c);
  std::vector<CheckEvent> out;
  out.reserve(checker.max_events());
  for (auto _ : state) {
    now += 1000;  // every CPU stays healthy: the common case
    out.clear();
    checker.tick_into(now, now, now, out);
    benchmark::DoNotOptimize(out.data());
  }
  state.counters["ns_per_cpu"] =
      benchmark::Counter(static_cast<double>(cpus), benchmark::Counter::kIsIterationInvariantRate |
                                                        benchmark::Counter::kInvert);
}
BENCHMARK(BM_CheckerTick)->Arg(2)->Arg(64)->Arg(512)->Arg(4096);

using bench::NullOutputs;

void BM_RunnerCheck(benchmark::State& state) {
  const int cpus = static_cast<int>(state.range(0));
  std::unique_ptr<HeartbeatSlot[]> slots(new HeartbeatSlot[static_cast<std::size_t>(cpus)]);
  CheckGate gate;
  EventRing<CheckEvent> ring(1024);
  NullOutputs out;
  RunnerSettings rs;
  rs.ping_period_ns = 1'000'000'000;
  CheckRunner runner(slots.get(), cpus, rs, gate, ring, out);
  std::int64_t now = 1'000'000'000;
  for (int c = 0; c < cpus; ++c) runner.post_monitor(c, true, now);
  for (int c = 0; c < cpus; ++c) slots[c].stamp(now, 0, c);
  for (auto _ : state) {
    now += 1000;
    out.now = now;
    CheckCall call;
    call.cpu = 0;
    call.now_ns = now;
    call.planned_ns = now;
    call.claim = gate.try_claim(0, now);
    runner.run_check(call);
  }
}
BENCHMARK(BM_RunnerCheck)->Arg(2)->Arg(64)->Arg(512)->Arg(4096);

void BM_HeartbeatStamp(benchmark::State& state) {
  HeartbeatSlot slot;
  std::int64_t now = 0;
  for (auto _ : state) {
    now += 500'000'000;
    slot.stamp(now, 12'345, 0);
  }
  benchmark::DoNotOptimize(slot.seq.load());
}
BENCHMARK(BM_HeartbeatStamp);

}  // namespace

BENCHMARK_MAIN();
