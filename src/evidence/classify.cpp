// SPDX-License-Identifier: GPL-2.0-or-later
#include "stallwatch/evidence/classify.h"

#include <algorithm>

#include <fmt/format.h>

#include "stallwatch/evidence/proc_parse.h"
#include "stallwatch/evidence/sysrq_parse.h"

namespace stallwatch::evidence {

namespace {

double secs(std::int64_t ns) { return static_cast<double>(ns) / 1e9; }

bool outranks_heartbeat(const TaskEvidence& t, int heartbeat_priority) {
  if (t.policy == kSchedDeadline) return true;
  return is_rt_policy(t.policy) && t.rt_priority >= heartbeat_priority;
}

std::string who(const TaskEvidence& t) {
  return fmt::format("{}[{}] (pid {})", t.comm, t.tid, t.pid);
}

int index_of_tid(const Evidence& ev, int tid) {
  for (std::size_t i = 0; i < ev.tasks.size(); ++i)
    if (tid > 0 && ev.tasks[i].tid == tid) return static_cast<int>(i);
  return -1;
}

bool names_cpu(const KernelVerdict& v, int cpu) {
  return std::find(v.cpus.begin(), v.cpus.end(), cpu) != v.cpus.end();
}

Classification make(std::string cls, std::string reason, int culprit) {
  return Classification{std::move(cls), std::move(reason), culprit, {}};
}

}  // namespace

std::int64_t stall_window_ns(const Evidence& ev) {
  const auto& c = ev.counters;
  if (!c.have_window) return 0;
  if (c.window_kind != "before-stall") return c.window_ns;
  std::int64_t end = c.window_start_mono_ns + c.window_ns;
  std::int64_t start = std::max(c.window_start_mono_ns, ev.event.stall_start_mono_ns);
  return std::max<std::int64_t>(0, end - start);
}

std::int64_t unaccounted_stall_ns(const Evidence& ev) {
  const auto& c = ev.counters;
  if (!c.have_window || !c.have_stat ||
      (c.window_kind != "before-stall" && c.window_kind != "inside-stall"))
    return 0;
  const std::int64_t stall = std::min(ev.event.stall_ns, stall_window_ns(ev));
  const std::int64_t missing = c.window_ns - c.cpu_ms.total() * 1'000'000;
  if (stall < kUnaccountedMinNs ||
      static_cast<double>(missing) < kUnaccountedShare * static_cast<double>(stall))
    return 0;
  return missing;
}

Classification classify(const Evidence& ev) {
  const int cpu = ev.event.cpu;
  const int running = ev.running_task() != nullptr ? 0 : -1;
  const auto& c = ev.counters;
  const auto& ms = c.cpu_ms;

  if (ev.event.kind == EventKind::kGlobalPause)
    return make("global-pause",
                fmt::format("the checker itself was frozen for {:.2f} s{}", secs(ev.event.stall_ns),
                            ev.event.note.empty() ? "" : ": " + ev.event.note),
                -1);

  // interrupts-off: the local timer is the CPU's heartbeat in the kernel; when it stops while
  // time passes, interrupts are off. An NMI that finds EFLAGS.IF clear confirms it (alone it
  // proves little: any spin_lock_irqsave() has IF clear for a moment).
  const auto& bt = ev.backtrace;
  const bool nmi_irqs_off = bt.have_section && bt.kernel_rip && bt.irqs_off && !bt.idle;
  const bool timer_frozen = c.window_kind == "inside-stall" && c.window_ns >= 400'000'000 &&
                            c.have_loc && c.loc_delta == 0;
  if (timer_frozen && ((c.have_stat && ms.total() == 0) || nmi_irqs_off))
    return make("interrupts-off",
                fmt::format("CPU {}'s local timer interrupt count ({}){} did not move over {:.2f} "
                            "s inside the stall{}",
                            cpu, c.local_timer_row,
                            c.have_stat && ms.total() == 0 ? " and /proc/stat times" : "",
                            secs(c.window_ns),
                            nmi_irqs_off ? fmt::format("; NMI backtrace: {} with interrupts "
                                                       "disabled (EFLAGS.IF clear)",
                                                       bt.rip)
                                         : std::string()),
                running);
  // When the stall was over by the time the evidence was gathered (found after the fact: every
  // CPU held by stop_machine() behind the spinning one), its timer ticked again after it. Then:
  // ticks account busy time, nohz accounts idle time; a CPU with interrupts off accounts neither,
  // so the stall's length is missing from its /proc/stat times. Steal is accounted, so a vCPU the
  // hypervisor did not run is told apart only where the hypervisor reports steal.
  const std::int64_t unaccounted_ns = unaccounted_stall_ns(ev);
  if (unaccounted_ns > 0)
    return make("interrupts-off",
                fmt::format("CPU {}'s /proc/stat times are {:.2f} s short of a {:.2f} s window "
                            "that holds {:.2f} s of the stall: no timer tick accounted it as busy "
                            "and it was not idle{}",
                            cpu, secs(unaccounted_ns), secs(c.window_ns),
                            secs(std::min(ev.event.stall_ns, stall_window_ns(ev))),
                            c.have_loc ? fmt::format(" ({} {} over the window)", c.loc_delta,
                                                     c.local_timer_row)
                                       : std::string()),
                running);
  for (const auto& v : ev.verdicts)
    if (v.match.kind == VerdictKind::kHardLockup && names_cpu(v, cpu))
      return make("interrupts-off", "kernel: " + v.text, running);

  // hypervisor-steal
  const std::int64_t window = stall_window_ns(ev);
  if (c.have_stat && window >= 400'000'000 &&
      static_cast<double>(ms.steal) * 1e6 >= kStealShare * static_cast<double>(window))
    return make("hypervisor-steal",
                fmt::format("steal time {:.2f} s of a {:.2f} s stall window on CPU {}: the "
                            "hypervisor did not run this vCPU",
                            static_cast<double>(ms.steal) / 1e3, secs(window), cpu),
                running);

  // irq-storm
  if (c.have_stat && ms.total() > 0) {
    double share = static_cast<double>(ms.irq + ms.softirq) / static_cast<double>(ms.total());
    if (share > kIrqShare)
      return make(
          "irq-storm",
          fmt::format("hardirq + softirq took {:.0f}% of CPU {} over {:.2f} s (irq {:.2f} "
                      "s, softirq {:.2f} s)",
                      share * 100, cpu, secs(c.window_ns), static_cast<double>(ms.irq) / 1e3,
                      static_cast<double>(ms.softirq) / 1e3),
          running);
  }
  if (c.have_interrupts && c.window_ns > 0 && c.irq_total_delta > 0) {
    for (const auto& irq : c.top_irqs) {
      if (irq.name == c.local_timer_row) continue;
      double rate = static_cast<double>(irq.delta) / secs(c.window_ns);
      double share = static_cast<double>(irq.delta) / static_cast<double>(c.irq_total_delta);
      if (rate >= kIrqStormRatePerSec && share >= kIrqDominantShare)
        return make("irq-storm",
                    fmt::format("IRQ {} ({}) fired {} times on CPU {} ({:.0f}/s), {:.0f}% of its "
                                "interrupts",
                                irq.name, irq.description, irq.delta, cpu, rate, share * 100),
                    running);
      break;  // only the top non-LOC row can dominate
    }
  }

  // rt-hog
  // The running task, else a runnable one whose runtime grew between the two schedstat samples
  // (it did run: the NMI may have landed in an RT-throttling gap). A runnable RT task that did
  // not run is starved too (by a non-preemptible kernel section, say): a victim, not the cause.
  int hog = -1;
  if (running >= 0 && outranks_heartbeat(ev.tasks[0], ev.heartbeat_priority)) {
    hog = 0;
  } else {
    for (std::size_t i = 0; i < ev.tasks.size(); ++i) {
      const auto& t = ev.tasks[i];
      if (!outranks_heartbeat(t, ev.heartbeat_priority)) continue;
      if (t.run_ns_growth <= 0) continue;
      if (hog < 0 || t.rt_priority > ev.tasks[static_cast<std::size_t>(hog)].rt_priority)
        hog = static_cast<int>(i);
    }
  }
  // RT throttling: a task of a lower class found running on the CPU while an RT task that
  // outranks the heartbeat is runnable there means the RT class is throttled (RT always preempts
  // it otherwise), and that RT task is what used the CPU. Both runtime samples can fall inside
  // the throttled gap (50 ms a second by default), and so can the NMI. Taken only with evidence
  // that RT tasks, not a kernel section, held the CPU: the kernel's throttling line during the
  // stall (printed once per boot), or throttling enabled and the CPU mostly in user time.
  if (hog < 0 && running >= 0 &&
      !is_rt_policy(ev.tasks[static_cast<std::size_t>(running)].policy) &&
      ev.tasks[static_cast<std::size_t>(running)].policy != kSchedDeadline) {
    bool throttled = false;
    for (const auto& v : ev.verdicts)
      if (v.match.kind == VerdictKind::kRtThrottling && v.mono_ns >= ev.event.stall_start_mono_ns)
        throttled = true;
    const auto& sys = ev.system;
    if (!throttled && sys.have_rt_runtime && sys.sched_rt_runtime_us >= 0 &&
        sys.sched_rt_runtime_us < sys.sched_rt_period_us && c.have_stat && ms.total() > 0 &&
        2 * (ms.user + ms.nice) >= ms.total())
      throttled = true;
    for (std::size_t i = 0; throttled && i < ev.tasks.size(); ++i) {
      const auto& t = ev.tasks[i];
      if (!outranks_heartbeat(t, ev.heartbeat_priority) || t.state != 'R') continue;
      if (hog < 0 || t.rt_priority > ev.tasks[static_cast<std::size_t>(hog)].rt_priority)
        hog = static_cast<int>(i);
    }
  }
  if (hog >= 0) {
    const auto& t = ev.tasks[static_cast<std::size_t>(hog)];
    std::string prio =
        t.policy == kSchedDeadline
            ? std::string("SCHED_DEADLINE outranks every SCHED_FIFO priority")
            : fmt::format("{} priority {} >= heartbeat priority {}", policy_name(t.policy),
                          t.rt_priority, ev.heartbeat_priority);
    std::string held;
    if (t.running)
      held = " and holds the CPU (" + ev.running_reason + ")";
    else if (t.run_ns_growth > 0)
      held = fmt::format(" and ran {:.1f} ms between two samples",
                         static_cast<double>(t.run_ns_growth) / 1e6);
    else
      held = " and is RT-throttled: the CPU was found in the throttled gap";
    return make("rt-hog",
                fmt::format("{} is runnable on CPU {} with {}{}", who(t), cpu, prio, held), hog);
  }

  // kernel-nonpreemptible
  if (bt.have_section && bt.kernel_rip && !bt.idle && !is_idle_function(bt.rip)) {
    int culprit = index_of_tid(ev, bt.pid);
    return make("kernel-nonpreemptible",
                fmt::format("NMI backtrace of CPU {}: kernel RIP {} in {}[{}]", cpu, bt.rip,
                            bt.comm, bt.pid),
                culprit >= 0 ? culprit : running);
  }
  for (const auto& v : ev.verdicts) {
    if (!names_cpu(v, cpu)) continue;
    if (v.match.kind != VerdictKind::kSoftLockup && v.match.kind != VerdictKind::kRcuStall)
      continue;
    int culprit = index_of_tid(ev, v.match.pid);
    std::string rip = v.kernel_rip ? " (RIP " + v.rip + ")" : "";
    return make("kernel-nonpreemptible", "kernel: " + v.text + rip,
                culprit >= 0 ? culprit : running);
  }
  if (running >= 0 && ev.tasks[0].syscall == "running" && c.have_stat && ms.total() > 0) {
    double sys = static_cast<double>(ms.system) / static_cast<double>(ms.total());
    if (sys >= kSystemShare)
      return make("kernel-nonpreemptible",
                  fmt::format("{} is on the CPU in the kernel: syscall reads 'running' and system "
                              "time is {:.0f}% of CPU {} over {:.2f} s",
                              who(ev.tasks[0]), sys * 100, cpu, secs(c.window_ns)),
                  0);
  }

  // unknown: say what was seen
  std::string seen;
  if (running >= 0) {
    const auto& t = ev.tasks[0];
    seen = fmt::format("on the CPU: {} {} prio {} nice {}", who(t), policy_name(t.policy),
                       t.rt_priority, t.nice);
  } else {
    seen = "no runnable task found on the CPU";
  }
  if (c.have_stat && ms.total() > 0) {
    auto pct = [&](std::int64_t x) {
      return static_cast<double>(x) * 100 / static_cast<double>(ms.total());
    };
    seen += fmt::format("; CPU {}: user {:.0f}% system {:.0f}% idle {:.0f}% over {:.2f} s", cpu,
                        pct(ms.user + ms.nice), pct(ms.system), pct(ms.idle + ms.iowait),
                        secs(c.window_ns));
  } else if (!c.have_stat) {
    seen += "; no /proc/stat deltas";
  }
  return make("unknown", "no rule matched: " + seen, running);
}

}  // namespace stallwatch::evidence

namespace stallwatch::evidence {

void culprit_from_timeline(Evidence* ev, Classification* cls) {
  const Timeline& tl = ev->timeline;
  if (tl.status != "recorded") return;
  if (tl.silent_after.kind == "irq" || tl.silent_after.kind == "softirq") {
    if (cls->stall_class == "hypervisor-steal" || cls->stall_class == "global-pause") return;
    cls->culprit = -1;
    cls->handler = tl.silent_after.text.substr(0, tl.silent_after.text.find(" entered"));
    cls->reason += fmt::format("; the timeline shows {} on CPU {}: a handler, not a task, held it",
                               tl.silent_after.text, tl.stalled_cpu);
    return;
  }
  if (!tl.have_holder) return;
  const TimelineSegment& h = tl.holder;
  if (h.kind != SegmentKind::kTask || h.pid <= 0 || tl.holder_share < 0.5) return;
  if (cls->stall_class != "rt-hog" && cls->stall_class != "kernel-nonpreemptible" &&
      cls->stall_class != "unknown")
    return;
  int idx = -1;
  for (std::size_t i = 0; i < ev->tasks.size(); ++i)
    if (ev->tasks[i].tid == h.pid) idx = static_cast<int>(i);
  if (idx < 0) {
    TaskEvidence t;
    t.pid = h.pid;  // the thread group is not in the trace; the thread id stands for it
    t.tid = h.pid;
    t.comm = h.comm;
    t.state = 'X';
    t.processor = tl.stalled_cpu;
    t.priority = h.prio;
    if (h.prio < 100) {
      t.policy = 1;  // real-time (FIFO or RR: the trace does not say which)
      t.rt_priority = 99 - h.prio;
    }
    t.read_errors.push_back("gone before the scan: known from the timeline only");
    ev->tasks.push_back(std::move(t));
    idx = static_cast<int>(ev->tasks.size()) - 1;
  }
  if (cls->culprit == idx) return;
  cls->culprit = idx;
  cls->reason += fmt::format("; the timeline shows {} switched in on CPU {} and holding it for "
                             "{:.0f}% of the silence",
                             h.label, tl.stalled_cpu, tl.holder_share * 100);
}

}  // namespace stallwatch::evidence
