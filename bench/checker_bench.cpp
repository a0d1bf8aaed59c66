// Cost of one checker tick and of one heartbeat stamp (the work the monitor adds per wakeup
// beyond the sleep and the clock read).
#include <benchmark/benchmark.h>

#include <memory>

#include "stallwatch/checker.h"

namespace {

using stallwatch::Checker;
using stallwatch::CheckerSettings;
using stallwatch::HeartbeatSlot;

void BM_CheckerTick(benchmark::State& state) {
  const int cpus = static_cast<int>(state.range(0));
  std::unique_ptr<HeartbeatSlot[]> slots(new HeartbeatSlot[static_cast<std::size_t>(cpus)]);
  CheckerSettings s;
  Checker checker(slots.get(), cpus, s);
  std::int64_t now = 1'000'000'000;
  for (int c = 0; c < cpus; ++c) checker.set_monitored(c, true, now);
  for (auto _ : state) {
    now += s.interval_ns;
    for (int c = 0; c < cpus; ++c) slots[c].last_ns.store(now, std::memory_order_relaxed);
    auto events = checker.tick(now, now);
    benchmark::DoNotOptimize(events);
  }
}
BENCHMARK(BM_CheckerTick)->Arg(2)->Arg(64)->Arg(512);

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
