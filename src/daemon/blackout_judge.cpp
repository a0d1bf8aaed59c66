// SPDX-License-Identifier: GPL-2.0-or-later
#include "stallwatch/daemon/blackout_judge.h"

#include <unistd.h>
#include <iterator>

#include <fmt/format.h>

#include "stallwatch/evidence/proc_parse.h"

namespace stallwatch::daemon {

BlackoutVerdict judge_blackout(const std::vector<std::int64_t>& waited_ns, std::int64_t length_ns,
                               const std::vector<bool>& not_run) {
  BlackoutVerdict v;
  for (std::size_t cpu = 0; cpu < waited_ns.size(); ++cpu) {
    if (waited_ns[cpu] < 0) continue;
    ++v.judged;
    if (waited_ns[cpu] > v.waited_ns) {
      v.waited_ns = waited_ns[cpu];
      v.starved_cpu = static_cast<int>(cpu);
    }
  }
  v.starved = v.judged > 0 && v.waited_ns * 2 >= length_ns;
  if (v.starved) {
    int quiet = 0;
    for (std::size_t cpu = 0; cpu < waited_ns.size(); ++cpu) {
      if (waited_ns[cpu] < 0) continue;
      const bool silent = cpu < not_run.size() && not_run[cpu];
      if (!silent && waited_ns[cpu] * 8 >= length_ns) continue;
      ++quiet;
      v.root_cpu = static_cast<int>(cpu);
    }
    if (quiet != 1) v.root_cpu = -1;
    if (v.root_cpu >= 0 && static_cast<std::size_t>(v.root_cpu) < not_run.size() &&
        not_run[static_cast<std::size_t>(v.root_cpu)])
      v.root_still_silent = true;
  }
  if (waited_ns.size() <= kListedWaits) {
    v.waits = "run-queue waits in ms, by CPU:";
    for (std::size_t cpu = 0; cpu < waited_ns.size(); ++cpu) {
      if (waited_ns[cpu] < 0)
        fmt::format_to(std::back_inserter(v.waits), " {}:-", cpu);
      else
        fmt::format_to(std::back_inserter(v.waits), " {}:{}{}", cpu, waited_ns[cpu] / 1'000'000,
                       cpu < not_run.size() && not_run[cpu] ? "+" : "");
    }
  }
  if (v.judged == 0)
    v.why = "no heartbeat's run-queue wait could be read from before it: taken as a freeze";
  else if (v.starved && v.root_still_silent)
    v.why = fmt::format(
        "the heartbeat of CPU {} waited runnable on its CPU for {} ms of it: a stall; CPU {}'s "
        "heartbeat alone has not run since, the root",
        v.starved_cpu, v.waited_ns / 1'000'000, v.root_cpu);
  else if (v.starved && v.root_cpu >= 0)
    v.why = fmt::format(
        "the heartbeat of CPU {} waited runnable on its CPU for {} ms of it: a stall; CPU {}'s "
        "heartbeat was not woken through it (its timer did not fire: interrupts off), the root",
        v.starved_cpu, v.waited_ns / 1'000'000, v.root_cpu);
  else if (v.starved)
    v.why =
        fmt::format("the heartbeat of CPU {} waited runnable on its CPU for {} ms of it: a stall",
                    v.starved_cpu, v.waited_ns / 1'000'000);
  else
    v.why =
        fmt::format("no heartbeat waited runnable on its CPU (at most {} ms, {} judged): a freeze",
                    v.waited_ns / 1'000'000, v.judged);
  return v;
}

BlackoutJudge::BlackoutJudge(Sysroot root, const HeartbeatSlot* slots, int count)
    : root_(std::move(root)),
      slots_(slots),
      count_(static_cast<std::size_t>(count)),
      base_(kGenerations * static_cast<std::size_t>(count)) {}

std::int64_t BlackoutJudge::read_wait(int tid) const {
  auto text = root_.read_file(fmt::format("/proc/{}/task/{}/schedstat", ::getpid(), tid), 256);
  if (!text) return -1;
  auto st = evidence::parse_schedstat(*text);
  if (!st) return -1;
  return static_cast<std::int64_t>(st->wait_ns);
}

void BlackoutJudge::sample(std::int64_t now_ns) {
  newest_ = (newest_ + 1) % kGenerations;
  for (std::size_t cpu = 0; cpu < count_; ++cpu) {
    const int tid = slots_[cpu].tid.load(std::memory_order_relaxed);
    Baseline& b = base_[newest_ * count_ + cpu];
    if (tid <= 0) {
      b = Baseline{};
      continue;
    }
    b.tid = tid;
    b.wait_ns = read_wait(tid);
    b.read_ns = now_ns;
  }
}

const BlackoutJudge::Baseline* BlackoutJudge::baseline_before(std::size_t cpu, int tid,
                                                              std::int64_t start_ns) const {
  for (std::size_t age = 0; age < kGenerations; ++age) {
    const std::size_t gen = (newest_ + kGenerations - age) % kGenerations;
    const Baseline& b = base_[gen * count_ + cpu];
    if (b.tid == tid && b.wait_ns >= 0 && b.read_ns <= start_ns) return &b;
  }
  return nullptr;
}

bool BlackoutJudge::settled(std::int64_t start_ns) const {
  for (std::size_t cpu = 0; cpu < count_; ++cpu) {
    const int tid = slots_[cpu].tid.load(std::memory_order_relaxed);
    // Only the heartbeats judge() reads: not one gone with its CPU, nor one not yet sampled.
    if (tid <= 0 || baseline_before(cpu, tid, start_ns) == nullptr) continue;
    if (slots_[cpu].last_ns.load(std::memory_order_relaxed) <= start_ns) return false;
  }
  return true;
}

BlackoutVerdict BlackoutJudge::judge(std::int64_t start_ns, std::int64_t length_ns,
                                     std::int64_t now_ns) {
  std::vector<std::int64_t> waited(count_, -1);
  std::vector<bool> not_run(count_, false);
  for (std::size_t cpu = 0; cpu < count_; ++cpu) {
    const int tid = slots_[cpu].tid.load(std::memory_order_relaxed);
    if (tid <= 0) continue;
    const Baseline* b = baseline_before(cpu, tid, start_ns);
    if (b == nullptr) continue;
    const std::int64_t now_wait = read_wait(tid);
    if (now_wait >= b->wait_ns) waited[cpu] = now_wait - b->wait_ns;
    not_run[cpu] = slots_[cpu].last_ns.load(std::memory_order_relaxed) <= start_ns;
  }
  BlackoutVerdict v = judge_blackout(waited, length_ns, not_run);
  sample(now_ns);
  return v;
}

}  // namespace stallwatch::daemon
