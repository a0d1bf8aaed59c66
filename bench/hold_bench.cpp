// SPDX-License-Identifier: GPL-2.0-or-later
// How long a heartbeat wakeup holds its CPU at real-time priority, with cold caches, at 2, 64,
// 512 and 4096 monitored CPUs: the noise a real-time task sharing that CPU can see.
//
// In production each slot was last written by its own heartbeat on another CPU, and the check's
// state was last touched by whichever heartbeat ran the previous check, elsewhere: every line a
// check reads is a miss. So before each measured wakeup this program stamps every slot (as the
// heartbeats do) and then evicts, with clflush, every slot and every per-CPU and per-group array
// of the check (CheckRunner::for_each_state), and the gate. The code stays in the cache (a
// heartbeat on this CPU ran it half a second ago; a CPU that never ran it pays more).
//
// Three kinds of wakeup, timed from the wakeup's clock read to the end of its work, as the
// daemon counts check_hold_ns:
//   nothing - no work between the two clock reads: the floor, what the machine itself adds (in
//            a VM, the host taking the vCPU away for tens of microseconds now and then);
//   plain  - stamp, and find no check due (most wakeups);
//   check  - stamp, then the check of one group of CPUs (the daemon's design);
//   every  - stamp, then one check of every CPU (the design before groups, for comparison);
//   spin   - no work, but as long as the group check's p50 (the row above it): the floor of a
//            window that long. A VM's host takes a vCPU away now and then for tens of
//            microseconds, unseen by steal accounting (2026-12-04: single check samples of
//            10-28 us with no interrupt and no steal, p99 2.3 us); this row says whether a
//            window of the check's length, doing nothing, meets the same.
// Each row also counts its samples over 5 us (of the ones kept).
// It runs pinned, SCHED_FIFO 99 when permitted, memory locked; prints p50/p99/max in us. A
// sample during which this CPU took an interrupt (its /proc/interrupts column moved: a timer
// tick, an IPI) measures the kernel, not the check: such samples are counted and shown apart
// (max of all samples, and the figures of the others). In a VM the host can also take the vCPU
// away: the guest kernel counts that as steal time (paravirtual steal clock) and leaves it out of
// the thread's CPU time, so a sample whose wall time around it exceeds the thread's CPU time
// around it by more than kStolenNs was the host's; such samples are set apart too, with their
// own count. Without steal accounting (bare metal, a kernel without
// CONFIG_PARAVIRT_TIME_ACCOUNTING) none is.
// Usage: hold_bench [samples per figure, default 2000]. Prints figures, asserts nothing.
#include <immintrin.h>
#include <sched.h>
#include <sys/mman.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "null_outputs.h"
#include "stallwatch/core/check_gate.h"
#include "stallwatch/core/checker.h"
#include "stallwatch/core/clock.h"
#include "stallwatch/core/heartbeat.h"
#include "stallwatch/daemon/check_runner.h"

namespace {

using namespace stallwatch;
using namespace stallwatch::daemon;

constexpr std::int64_t kMs = 1'000'000;

using bench::NullOutputs;

void flush(const void* p, std::size_t bytes) {
  const auto* c = static_cast<const char*>(p);
  for (std::size_t off = 0; off < bytes; off += 64) _mm_clflush(c + off);
  if (bytes > 0) _mm_clflush(c + bytes - 1);
}

// A sample during which the thread was off its CPU for longer than this (wall time minus the
// thread's CPU time, both read around it) was taken away by the host.
constexpr std::int64_t kStolenNs = 2000;

struct Figures {
  double p50, p99, max;  // samples neither an interrupt nor the host hit
  int over5 = 0;         // of those, samples over 5 us
  double max_all;        // every sample
  int hit = 0;           // samples an interrupt hit
  int stolen = 0;        // samples the host took the vCPU away during (and no interrupt hit)
};

std::int64_t thread_cpu_ns() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return std::int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

Figures summarize(std::vector<std::int64_t>& ns) {
  std::sort(ns.begin(), ns.end());
  auto at = [&](double q) {
    const auto i =
        std::min(ns.size() - 1, static_cast<std::size_t>(q * static_cast<double>(ns.size())));
    return static_cast<double>(ns[i]) / 1000.0;
  };
  Figures f{at(0.5), at(0.99), static_cast<double>(ns.back()) / 1000.0, 0, 0, 0, 0};
  f.over5 = static_cast<int>(std::count_if(ns.begin(), ns.end(), [](auto v) { return v > 5000; }));
  return f;
}

// This CPU's interrupts so far: the sum of its column in /proc/interrupts.
std::uint64_t interrupts_here(int cpu) {
  std::ifstream in("/proc/interrupts");
  std::string line;
  if (!std::getline(in, line)) return 0;  // the header: one column per online CPU
  int column = -1, k = 0;
  std::istringstream header(line);
  for (std::string name; header >> name; ++k)
    if (name == "CPU" + std::to_string(cpu)) column = k;
  if (column < 0) return 0;
  std::uint64_t sum = 0;
  while (std::getline(in, line)) {
    std::istringstream row(line);
    std::string label;
    row >> label;
    std::uint64_t v = 0;
    for (int i = 0; i <= column && row >> v; ++i) {}
    if (row) sum += v;
  }
  return sum;
}

enum class Kind { kNothing, kPlain, kCheck, kSpin, kEvery };

Figures measure(int cpus, Kind kind, int samples, int here, std::int64_t spin_ns = 0) {
  std::unique_ptr<HeartbeatSlot[]> slots(new HeartbeatSlot[static_cast<std::size_t>(cpus)]);
  CheckGate gate;
  EventRing<CheckEvent> ring(1024);
  NullOutputs out;
  RunnerSettings rs;
  rs.checker.interval_ns = 1000 * kMs;
  rs.checker.threshold_ns = 2000 * kMs;
  rs.checker.heartbeat_interval_ns = 500 * kMs;
  CheckRunner runner(slots.get(), cpus, rs, gate, ring, out);
  Checker every(slots.get(), cpus, rs.checker, cpus);  // one group: a check of every CPU
  std::vector<CheckEvent> events;
  events.reserve(every.max_events());
  std::int64_t now = 1000 * kMs;
  for (int c = 0; c < cpus; ++c) {
    runner.post_monitor(c, true, now);
    every.set_monitored(c, true, now);
  }
  const int self = cpus / 2;  // the heartbeat that wakes
  std::vector<std::int64_t> hold, all;
  hold.reserve(static_cast<std::size_t>(samples));
  int hit = 0;
  int stolen = 0;
  for (int i = -50; i < samples; ++i) {  // 50 unmeasured rounds: every group checked once
    // A heartbeat interval passes: every CPU stamps (as its heartbeat would, elsewhere).
    now += kind == Kind::kPlain ? 500 * kMs : 1000 * kMs;
    out.now = now;
    for (int c = 0; c < cpus; ++c) slots[c].stamp(now - 100 * kMs, 0, c);
    if (kind == Kind::kPlain) gate.next_check_ns.store(now + 10 * kMs);  // no check due
    // ... and the caches forget it all.
    for (int c = 0; c < cpus; ++c) flush(&slots[c], sizeof(HeartbeatSlot));
    runner.for_each_state(flush);
    every.for_each_state(flush);
    flush(&gate, sizeof gate);
    flush(&ring, sizeof ring);
    const std::uint64_t irq0 = interrupts_here(here);
    const std::int64_t wall0 = mono_now_ns();
    const std::int64_t cpu0 = thread_cpu_ns();
    for (int c = 0; c < cpus; ++c) flush(&slots[c], sizeof(HeartbeatSlot));  // and what it read
    _mm_mfence();
    const std::int64_t t0 = mono_now_ns();
    if (kind != Kind::kNothing && kind != Kind::kSpin) slots[self].stamp(now, 1000, self);
    if (kind == Kind::kNothing) {
      // The floor: two clock reads and nothing between (what the machine itself adds).
    } else if (kind == Kind::kSpin) {
      while (mono_now_ns() - t0 < spin_ns) _mm_pause();
    } else if (kind == Kind::kEvery) {
      events.clear();
      every.tick_into(now, now, now, events, CheckContext{self, 1000});
    } else {
      check_on_wakeup(gate, runner, slots[self], self, now, 1000,
                      Checker::late_bound_ns(rs.checker.heartbeat_interval_ns));
    }
    const std::int64_t t1 = mono_now_ns();
    const std::int64_t cpu1 = thread_cpu_ns();
    const std::int64_t wall1 = mono_now_ns();
    const bool quiet = interrupts_here(here) == irq0;
    const bool taken = (wall1 - wall0) - (cpu1 - cpu0) > kStolenNs;
    if (i < 0) continue;
    all.push_back(t1 - t0);
    if (!quiet)
      ++hit;
    else if (taken)
      ++stolen;
    else
      hold.push_back(t1 - t0);
  }
  if (hold.empty()) hold = all;
  Figures f = summarize(hold);
  f.max_all = static_cast<double>(*std::max_element(all.begin(), all.end())) / 1000.0;
  f.hit = hit;
  f.stolen = stolen;
  return f;
}

}  // namespace

int main(int argc, char** argv) {
  const int samples = argc > 1 ? std::max(100, std::atoi(argv[1])) : 2000;
  cpu_set_t set;
  CPU_ZERO(&set);
  const int here = sched_getcpu();
  CPU_SET(here, &set);
  (void)sched_setaffinity(0, sizeof set, &set);
  sched_param sp{};
  sp.sched_priority = 99;
  const bool fifo = sched_setscheduler(0, SCHED_FIFO, &sp) == 0;
  const bool locked = mlockall(MCL_CURRENT | MCL_FUTURE) == 0;
  std::printf("real-time hold of one heartbeat wakeup, caches evicted before each (%d samples; %s, "
              "%s)\n",
              samples, fifo ? "SCHED_FIFO 99" : "SCHED_OTHER: not permitted",
              locked ? "memory locked" : "memory not locked");
  std::printf("%6s  %-30s %9s %9s %9s %6s   %s\n", "cpus", "wakeup", "p50 us", "p99 us", "max us",
              ">5us", "(samples an interrupt hit, samples the host took, max with them)");
  for (int cpus : {2, 64, 512, 4096}) {
    struct Row {
      Kind kind;
      const char* name;
    };
    std::int64_t check_p50_ns = 0;
    for (Row r : {Row{Kind::kNothing, "nothing (the machine's floor)"},
                  Row{Kind::kPlain, "plain (stamp, no check)"},
                  Row{Kind::kCheck, "check of one group (32 CPUs)"},
                  Row{Kind::kSpin, "nothing, as long as that check"},
                  Row{Kind::kEvery, "check of every CPU (before)"}}) {
      const Figures f = measure(cpus, r.kind, samples, here, check_p50_ns);
      if (r.kind == Kind::kCheck) check_p50_ns = static_cast<std::int64_t>(f.p50 * 1000.0);
      std::printf("%6d  %-30s %9.2f %9.2f %9.2f %6d   (%d, %d, %.2f)\n", cpus, r.name, f.p50, f.p99,
                  f.max, f.over5, f.hit, f.stolen, f.max_all);
      std::fflush(stdout);
    }
  }
  return 0;
}
