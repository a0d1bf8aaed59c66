// SPDX-License-Identifier: GPL-2.0-or-later
#include "stallwatch/evidence/counters.h"

#include <algorithm>
#include <limits>

namespace stallwatch::evidence {

std::size_t CounterSample::approx_bytes() const {
  std::size_t b =
      sizeof(*this) + stat.size() * sizeof(CpuTimes) + thermal.size() * sizeof(ThermalCount);
  for (const auto* t : {&interrupts, &softirqs}) {
    b += t->cpus.size() * sizeof(int);
    for (const auto& r : t->rows)
      b += sizeof(r) + r.counts.size() * sizeof(std::uint64_t) + r.name.capacity() +
           r.description.capacity();
  }
  return b;
}

CounterSample read_counter_sample(const Sysroot& root, std::int64_t mono_ns,
                                  std::vector<std::string>* errors) {
  CounterSample s;
  s.mono_ns = mono_ns;
  constexpr std::size_t kMaxBytes = 4u << 20;
  if (auto text = root.read_file("/proc/stat", kMaxBytes); !text) {
    errors->push_back("stat: " + text.error().message);
  } else if (auto parsed = parse_proc_stat(*text); !parsed) {
    errors->push_back("stat: " + parsed.error().message);
  } else {
    s.stat = std::move(*parsed);
    s.have_stat = true;
  }
  if (auto text = root.read_file("/proc/interrupts", kMaxBytes); !text) {
    errors->push_back("interrupts: " + text.error().message);
  } else if (auto parsed = parse_interrupts(*text); !parsed) {
    errors->push_back("interrupts: " + parsed.error().message);
  } else {
    s.interrupts = std::move(*parsed);
    s.have_interrupts = true;
  }
  if (auto text = root.read_file("/proc/softirqs", kMaxBytes); !text) {
    errors->push_back("softirqs: " + text.error().message);
  } else if (auto parsed = parse_softirqs(*text); !parsed) {
    errors->push_back("softirqs: " + parsed.error().message);
  } else {
    s.softirqs = std::move(*parsed);
    s.have_softirqs = true;
  }
  s.thermal = read_thermal_counts(root);
  return s;
}

int select_baseline(const std::vector<std::int64_t>& times_ns, std::int64_t stall_start_ns,
                    std::int64_t now_ns, std::string* kind) {
  const int n = static_cast<int>(times_ns.size());
  for (int i = 0; i < n; ++i) {
    std::int64_t t = times_ns[static_cast<std::size_t>(i)];
    if (t >= stall_start_ns + kInsideStallMarginNs && now_ns - t >= kMinWindowNs) {
      *kind = "inside-stall";
      return i;
    }
  }
  for (int i = n - 1; i >= 0; --i) {
    if (times_ns[static_cast<std::size_t>(i)] <= stall_start_ns) {
      *kind = "before-stall";
      return i;
    }
  }
  for (int i = 0; i < n; ++i) {
    if (times_ns[static_cast<std::size_t>(i)] < now_ns) {
      *kind = "after-stall-start";
      return i;
    }
  }
  return -1;
}

namespace {

// Counters in /proc/interrupts are 32-bit on many kernels: allow one wrap.
std::uint64_t counter_delta(std::uint64_t before, std::uint64_t after) {
  if (after >= before) return after - before;
  constexpr std::uint64_t kWrap = std::uint64_t{std::numeric_limits<std::uint32_t>::max()} + 1;
  if (before < kWrap) return after + kWrap - before;
  return 0;
}

std::vector<CounterDelta> table_delta(const CounterTable& base, const CounterTable& now, int cpu,
                                      std::uint64_t* total) {
  std::vector<CounterDelta> out;
  *total = 0;
  for (const auto& row : now.rows) {
    std::uint64_t after = 0, before = 0;
    if (!now.count(row, cpu, &after)) continue;
    const CounterRow* old = base.find(row.name);
    if (old == nullptr || !base.count(*old, cpu, &before)) continue;
    std::uint64_t d = counter_delta(before, after);
    *total += d;
    if (d > 0) out.push_back({row.name, row.description, d});
  }
  std::stable_sort(out.begin(), out.end(),
                   [](const CounterDelta& a, const CounterDelta& b) { return a.delta > b.delta; });
  return out;
}

// x86 "LOC: ... Local timer interrupts"; arm64 "11: ... GICv3 27 Level arch_timer".
const CounterRow* local_timer_row(const CounterTable& t) {
  if (const CounterRow* r = t.find("LOC")) return r;
  for (const auto& r : t.rows)
    if (r.description.find("arch_timer") != std::string::npos ||
        r.description.find("Local timer") != std::string::npos)
      return &r;
  return nullptr;
}

}  // namespace

CounterEvidence compute_counter_delta(const CounterSample& base, const CounterSample& now, int cpu,
                                      long clk_tck) {
  CounterEvidence ev;
  ev.have_window = true;
  ev.window_start_mono_ns = base.mono_ns;
  ev.window_ns = now.mono_ns - base.mono_ns;
  if (base.have_stat && now.have_stat) {
    const CpuTimes* a = find_cpu(base.stat, cpu);
    const CpuTimes* b = find_cpu(now.stat, cpu);
    if (a != nullptr && b != nullptr && clk_tck > 0) {
      const auto hz = static_cast<std::uint64_t>(clk_tck);
      auto ms = [&](std::uint64_t x, std::uint64_t y) {
        std::uint64_t d = y >= x ? y - x : 0;  // ticks; the split keeps * 1000 from overflowing
        return static_cast<std::int64_t>(
            std::min<std::uint64_t>(d / hz * 1000 + d % hz * 1000 / hz, INT64_MAX));
      };
      ev.cpu_ms.user = ms(a->user, b->user);
      ev.cpu_ms.nice = ms(a->nice, b->nice);
      ev.cpu_ms.system = ms(a->system, b->system);
      ev.cpu_ms.idle = ms(a->idle, b->idle);
      ev.cpu_ms.iowait = ms(a->iowait, b->iowait);
      ev.cpu_ms.irq = ms(a->irq, b->irq);
      ev.cpu_ms.softirq = ms(a->softirq, b->softirq);
      ev.cpu_ms.steal = ms(a->steal, b->steal);
      ev.have_stat = true;
    }
  }
  if (base.have_interrupts && now.have_interrupts && now.interrupts.column_of(cpu) >= 0 &&
      base.interrupts.column_of(cpu) >= 0) {
    ev.have_interrupts = true;
    auto all = table_delta(base.interrupts, now.interrupts, cpu, &ev.irq_total_delta);
    const CounterRow* loc_now = local_timer_row(now.interrupts);
    const CounterRow* loc_base = loc_now ? base.interrupts.find(loc_now->name) : nullptr;
    if (loc_now) ev.local_timer_row = loc_now->name;
    std::uint64_t x = 0, y = 0;
    if (loc_now && loc_base && base.interrupts.count(*loc_base, cpu, &x) &&
        now.interrupts.count(*loc_now, cpu, &y)) {
      ev.have_loc = true;
      ev.loc_delta = counter_delta(x, y);
    }
    if (all.size() > 8) all.resize(8);
    ev.top_irqs = std::move(all);
  }
  if (base.have_softirqs && now.have_softirqs && now.softirqs.column_of(cpu) >= 0 &&
      base.softirqs.column_of(cpu) >= 0) {
    ev.have_softirqs = true;
    std::uint64_t total = 0;
    ev.softirqs = table_delta(base.softirqs, now.softirqs, cpu, &total);
  }
  add_hw_deltas(base, now, cpu, &ev);
  return ev;
}

void CounterHistory::push(SamplePtr sample) {
  std::lock_guard lock(mu_);
  bytes_ += sample->approx_bytes();
  ring_.push_back(std::move(sample));
  while (ring_.size() > 1 && (ring_.size() > max_samples_ || bytes_ > max_bytes_)) {
    bytes_ -= ring_.front()->approx_bytes();
    ring_.pop_front();
  }
}

SamplePtr CounterHistory::baseline_for(std::int64_t stall_start_ns, std::int64_t now_ns,
                                       std::string* kind) const {
  std::lock_guard lock(mu_);
  std::vector<std::int64_t> times;
  times.reserve(ring_.size());
  for (const auto& s : ring_) times.push_back(s->mono_ns);
  int i = select_baseline(times, stall_start_ns, now_ns, kind);
  return i < 0 ? nullptr : ring_[static_cast<std::size_t>(i)];
}

SamplePtr CounterHistory::latest() const {
  std::lock_guard lock(mu_);
  return ring_.empty() ? nullptr : ring_.back();
}

std::size_t CounterHistory::size() const {
  std::lock_guard lock(mu_);
  return ring_.size();
}

}  // namespace stallwatch::evidence
