// SPDX-License-Identifier: GPL-2.0-or-later
#include "stallwatch/evidence/classify.h"

#include <gtest/gtest.h>

#include "fixture_util.h"
#include "stallwatch/evidence/counters.h"
#include "stallwatch/evidence/kmsg_reader.h"
#include "stallwatch/evidence/sysrq_parse.h"
#include "stallwatch/evidence/task_scan.h"

namespace stallwatch::evidence {
namespace {

using testing::fixture;
using testing::fixture_path;
using testing::kmsg_texts;

std::int64_t mono(const std::string& rel) { return std::stoll(fixture(rel + "/mono_ns")); }

CounterSample sample(const std::string& rel) {
  std::vector<std::string> errors;
  CounterSample s = read_counter_sample(Sysroot(fixture_path(rel)), mono(rel), &errors);
  EXPECT_TRUE(errors.empty());
  return s;
}

struct Capture {
  std::string scenario;  // qemu/stalls/<scenario>
  std::int64_t stall_start_ns;
  bool with_sysrq = true;
  bool with_verdicts = true;
};

// Evidence assembled from one real QEMU stall capture the way the engine does it: tasks on
// CPU 1 at t3 (3 s into the stall), counters t1 -> t3, the sysrq dump taken at 1.2 s, the
// kernel's verdicts of that run.
Evidence from_capture(const Capture& c, int heartbeat_priority = 99) {
  const std::string base = "qemu/stalls/" + c.scenario;
  Evidence ev;
  ev.event.kind = EventKind::kStall;
  ev.event.cpu = 1;
  ev.event.stall_start_mono_ns = c.stall_start_ns;
  ev.heartbeat_priority = heartbeat_priority;
  TaskScanOptions opts;
  opts.cpu = 1;
  ev.tasks = scan_cpu_tasks(Sysroot(fixture_path(base + "/t3")), opts).candidates;
  for (auto& t : ev.tasks) {
    BoundedIo io;
    read_task_details(Sysroot(fixture_path(base + "/t3")), io, DetailLimits{}, &t);
  }
  if (c.with_sysrq) {
    SysrqDumpAssembler dump;
    for (const auto& t : kmsg_texts(base + "/sysrq.kmsg")) dump.add_line(t);
    if (const BacktraceSection* s = dump.section(1)) {
      auto& bt = ev.backtrace;
      bt.have_section = true;
      bt.kernel_rip = s->kernel_rip;
      bt.user_rip = s->user_rip;
      bt.irqs_off = s->have_eflags && s->irqs_off;
      bt.idle = s->idle;
      bt.rip = s->rip;
      bt.pid = s->pid;
      bt.comm = s->comm;
      bt.frames = s->frames;
    }
  }
  if (c.with_verdicts) {
    KmsgReader r{Sysroot()};
    std::string data = fixture("qemu/stalls/kmsg/all.kmsg");
    for (auto rec : split_kmsg_records(data)) r.process_read(rec);
    ev.verdicts =
        r.verdicts_for(1, c.stall_start_ns - 2'000'000'000, mono(base + "/t3") + 5'000'000'000);
  }
  ev.running_reason = pick_running(&ev.tasks, ev.backtrace.have_section ? ev.backtrace.pid : 0, 0);
  ev.running_certain = ev.running_reason.find("no runtime growth") == std::string::npos;
  ev.counters = compute_counter_delta(sample(base + "/t1"), sample(base + "/t3"), 1, 100);
  ev.counters.window_kind = "inside-stall";
  return ev;
}

// Stall starts from tests/fixtures/evidence/qemu/stalls/meta.txt.
const Capture kSpin{"spin", 7'775'822'740};
const Capture kIrqOff{"irqoff", 18'645'306'620};
const Capture kRtHog{"rthog", 26'352'761'370};
const Capture kSoftLockup{"softlockup", 32'935'224'330, false, true};

TEST(ClassifyReal, KernelSpinWithPreemptionOffFromTheNmiBacktrace) {
  Evidence ev = from_capture(kSpin);
  Classification c = classify(ev);
  EXPECT_EQ(c.stall_class, "kernel-nonpreemptible");
  EXPECT_EQ(c.reason, "NMI backtrace of CPU 1: kernel RIP delay_tsc+0x33/0xa0 in init[92]");
  ASSERT_GE(c.culprit, 0);
  EXPECT_EQ(ev.tasks[static_cast<std::size_t>(c.culprit)].tid, 92);
}

TEST(ClassifyReal, KernelSpinWithoutSysrqFromSyscallAndSystemTime) {
  Capture cap = kSpin;
  cap.with_sysrq = false;
  cap.with_verdicts = false;
  Evidence ev = from_capture(cap);
  Classification c = classify(ev);
  EXPECT_EQ(c.stall_class, "kernel-nonpreemptible");
  EXPECT_EQ(c.reason.substr(0, 60), "init[92] (pid 92) is on the CPU in the kernel: syscall reads");
  EXPECT_NE(c.reason.find("system time is 100% of CPU 1"), std::string::npos) << c.reason;
}

TEST(ClassifyReal, InterruptsOffFromAFrozenLocalTimer) {
  Evidence ev = from_capture(kIrqOff);
  ASSERT_EQ(ev.counters.loc_delta, 0u);
  ASSERT_EQ(ev.counters.cpu_ms.total(), 0);
  Classification c = classify(ev);
  EXPECT_EQ(c.stall_class, "interrupts-off");
  EXPECT_EQ(c.reason,
            "CPU 1's local timer interrupt count (LOC) and /proc/stat times did not move over "
            "1.96 s inside the stall; NMI backtrace: delay_tsc+0x33/0xa0 with interrupts disabled "
            "(EFLAGS.IF clear)");
  // Without the dump the frozen counters decide alone.
  Capture cap = kIrqOff;
  cap.with_sysrq = false;
  EXPECT_EQ(classify(from_capture(cap)).stall_class, "interrupts-off");
}

TEST(ClassifyReal, RtHogAboveTheHeartbeat) {
  Evidence ev = from_capture(kRtHog, 50);
  Classification c = classify(ev);
  EXPECT_EQ(c.stall_class, "rt-hog");
  ASSERT_GE(c.culprit, 0);
  const TaskEvidence& t = ev.tasks[static_cast<std::size_t>(c.culprit)];
  EXPECT_EQ(t.comm, "rt hog) R (1");
  EXPECT_EQ(t.tid, 104);
  EXPECT_EQ(t.rt_priority, 60);
  EXPECT_EQ(c.reason.substr(0, 101),
            "rt hog) R (1[104] (pid 104) is runnable on CPU 1 with SCHED_FIFO priority 60 >= "
            "heartbeat priority 50");
}

TEST(ClassifyReal, SoftLockupVerdictWithoutSysrq) {
  Evidence ev = from_capture(kSoftLockup);
  Classification c = classify(ev);
  EXPECT_EQ(c.stall_class, "kernel-nonpreemptible");
  EXPECT_EQ(c.reason.substr(0, 74),
            "kernel: watchdog: BUG: soft lockup - CPU#1 stuck for 5s! [init:110] (RIP d");
}

TEST(ClassifyReal, HostRtHogCapture) {
  Evidence ev;
  ev.event.cpu = 1;
  ev.heartbeat_priority = 50;
  TaskScanOptions opts;
  opts.cpu = 1;
  ev.tasks = scan_cpu_tasks(Sysroot(fixture_path("host/scenarios/rt-hog/late")), opts).candidates;
  ev.running_reason = pick_running(&ev.tasks, 0, 0);
  ev.running_certain = true;
  Classification c = classify(ev);
  EXPECT_EQ(c.stall_class, "rt-hog");
  EXPECT_EQ(c.culprit, 0);
}

// Cases this machine cannot produce for real, built from their defining numbers.
Evidence counters_only(CpuTimesMs ms, std::int64_t window_ns = 2'000'000'000) {
  Evidence ev;
  ev.event.cpu = 3;
  ev.heartbeat_priority = 99;
  ev.counters.have_window = true;
  ev.counters.window_kind = "inside-stall";
  ev.counters.window_ns = window_ns;
  ev.counters.have_stat = true;
  ev.counters.cpu_ms = ms;
  return ev;
}

TEST(ClassifyRules, HypervisorSteal) {
  CpuTimesMs ms;
  ms.steal = 1700;
  ms.user = 300;
  Classification c = classify(counters_only(ms));
  EXPECT_EQ(c.stall_class, "hypervisor-steal");
  EXPECT_EQ(c.reason,
            "steal time 1.70 s of a 2.00 s stall window on CPU 3: the hypervisor did not run this "
            "vCPU");
  ms.steal = 1500;  // 75 %: not enough
  EXPECT_NE(classify(counters_only(ms)).stall_class, "hypervisor-steal");
}

TEST(ClassifyRules, StealIsMeasuredAgainstTheStallPartOfABeforeStallWindow) {
  CpuTimesMs ms;
  ms.steal = 1700;
  ms.idle = 1000;
  Evidence ev = counters_only(ms, 3'000'000'000);
  ev.counters.window_kind = "before-stall";
  ev.counters.window_start_mono_ns = 10'000'000'000;
  ev.event.stall_start_mono_ns = 11'000'000'000;  // 2 s of the 3 s window are the stall
  EXPECT_EQ(stall_window_ns(ev), 2'000'000'000);
  EXPECT_EQ(classify(ev).stall_class, "hypervisor-steal");
}

// The QEMU hotplug cascade: interrupts off on CPU 2 for 4 s while stop_machine() held every other
// CPU, so no counter sample fell inside the stall; the evidence, gathered after it, covers a 5 s
// window from 0.5 s before the spin. CPU 2 accounted only the healthy 1 s of it.
TEST(ClassifyRules, InterruptsOffFromTimeMissingInABeforeStallWindow) {
  CpuTimesMs ms;
  ms.idle = 600;
  ms.system = 400;
  Evidence ev = counters_only(ms, 5'000'000'000);
  ev.counters.window_kind = "before-stall";
  ev.counters.window_start_mono_ns = 10'000'000'000;
  ev.event.stall_start_mono_ns = 10'500'000'000;
  ev.event.stall_ns = 4'100'000'000;
  ev.counters.have_loc = true;
  ev.counters.local_timer_row = "LOC";
  ev.counters.loc_delta = 31;  // the ticks before and after the spin
  Classification c = classify(ev);
  EXPECT_EQ(c.stall_class, "interrupts-off");
  EXPECT_EQ(
      c.reason,
      "CPU 3's /proc/stat times are 4.00 s short of a 5.00 s window that holds 4.10 s of the "
      "stall: no timer tick accounted it as busy and it was not idle (31 LOC over the window)");
  // A kernel spin with interrupts on: the ticks account it as system time.
  ev.counters.cpu_ms.system = 4400;
  EXPECT_NE(classify(ev).stall_class, "interrupts-off");
  // Steal accounts a vCPU the hypervisor did not run: not interrupts-off.
  ev.counters.cpu_ms.system = 400;
  ev.counters.cpu_ms.steal = 3900;
  EXPECT_EQ(classify(ev).stall_class, "hypervisor-steal");
  // 3 s missing of a 4.1 s stall is under 80 %: no verdict from the gap.
  ev.counters.cpu_ms.steal = 0;
  ev.counters.cpu_ms.idle = 1600;
  EXPECT_EQ(unaccounted_stall_ns(ev), 0);
  // A sample inside the stall, the timer ticking again after it: the same gap.
  ev.counters.cpu_ms.idle = 600;
  ev.counters.window_kind = "inside-stall";
  ev.counters.window_ns = 4'000'000'000;
  ev.counters.cpu_ms.idle = 0;
  ev.counters.cpu_ms.system = 200;
  EXPECT_EQ(unaccounted_stall_ns(ev), 3'800'000'000);
  EXPECT_EQ(classify(ev).stall_class, "interrupts-off");
  // No sample before the daemon started: no gap can be measured.
  ev.counters.window_kind = "after-stall-start";
  EXPECT_EQ(unaccounted_stall_ns(ev), 0);
}

TEST(ClassifyRules, IrqStormByShareAndByOneDominantIrq) {
  CpuTimesMs ms;
  ms.irq = 900;
  ms.softirq = 300;
  ms.system = 800;
  Classification c = classify(counters_only(ms));
  EXPECT_EQ(c.stall_class, "irq-storm");
  EXPECT_EQ(c.reason,
            "hardirq + softirq took 60% of CPU 3 over 2.00 s (irq 0.90 s, softirq 0.30 s)");

  CpuTimesMs busy;
  busy.system = 2000;
  Evidence ev = counters_only(busy);
  ev.counters.have_interrupts = true;
  ev.counters.local_timer_row = "LOC";
  ev.counters.irq_total_delta = 62'000;
  ev.counters.top_irqs = {{"36", "PCI-MSIX-0000:00:02.0 1-edge virtio1-req.0", 60'000},
                          {"LOC", "Local timer interrupts", 2'000}};
  c = classify(ev);
  EXPECT_EQ(c.stall_class, "irq-storm");
  EXPECT_EQ(c.reason,
            "IRQ 36 (PCI-MSIX-0000:00:02.0 1-edge virtio1-req.0) fired 60000 times on CPU 3 "
            "(30000/s), 97% of its interrupts");
  // The local timer itself never counts as a storm; a slow dominant IRQ neither.
  ev.counters.top_irqs = {{"LOC", "Local timer interrupts", 60'000}, {"36", "x", 2'000}};
  EXPECT_NE(classify(ev).stall_class, "irq-storm");
  ev.counters.irq_total_delta = 1'100;
  ev.counters.top_irqs = {{"36", "x", 1'000}, {"LOC", "Local timer interrupts", 100}};
  EXPECT_NE(classify(ev).stall_class, "irq-storm");
}

TEST(ClassifyRules, GlobalPauseHardLockupAndUnknown) {
  Evidence pause;
  pause.event.kind = EventKind::kGlobalPause;
  pause.event.stall_ns = 4'500'000'000;
  EXPECT_EQ(classify(pause).stall_class, "global-pause");
  EXPECT_EQ(classify(pause).reason, "the checker itself was frozen for 4.50 s");

  Evidence hard = counters_only(CpuTimesMs{});
  hard.counters.cpu_ms.system = 100;
  KernelVerdict v;
  v.match.kind = VerdictKind::kHardLockup;
  v.cpus = {3};
  v.text = "watchdog: Watchdog detected hard LOCKUP on cpu 3";
  hard.verdicts.push_back(v);
  EXPECT_EQ(classify(hard).stall_class, "interrupts-off");
  EXPECT_EQ(classify(hard).reason, "kernel: watchdog: Watchdog detected hard LOCKUP on cpu 3");
  hard.verdicts[0].cpus = {4};
  EXPECT_EQ(classify(hard).stall_class, "unknown");

  CpuTimesMs user;
  user.user = 2000;
  Evidence u = counters_only(user);
  TaskEvidence t;
  t.pid = t.tid = 5;
  t.comm = "busy";
  t.running = true;
  t.syscall = "running";
  u.tasks.push_back(t);
  Classification c = classify(u);
  EXPECT_EQ(c.stall_class, "unknown");
  EXPECT_EQ(c.reason,
            "no rule matched: on the CPU: busy[5] (pid 5) SCHED_OTHER prio 0 nice 0; CPU 3: user "
            "100% system 0% idle 0% over 2.00 s");
  EXPECT_EQ(c.culprit, 0);
}

TEST(ClassifyRules, RtPriorityBelowTheHeartbeatIsNotAnRtHog) {
  Evidence ev = counters_only(CpuTimesMs{.user = 2000});
  TaskEvidence t;
  t.pid = t.tid = 9;
  t.policy = 1;
  t.rt_priority = 40;
  t.running = true;
  ev.tasks.push_back(t);
  ev.heartbeat_priority = 50;
  EXPECT_EQ(classify(ev).stall_class, "unknown");
  ev.tasks[0].rt_priority = 50;  // equal priority: FIFO does not preempt, the heartbeat starves
  EXPECT_EQ(classify(ev).stall_class, "rt-hog");
  ev.tasks[0].policy = kSchedDeadline;
  ev.tasks[0].rt_priority = 0;
  EXPECT_EQ(classify(ev).stall_class, "rt-hog");
}

TEST(ClassifyRules, AStarvedRtTaskIsAVictimNotTheCause) {
  Evidence ev = counters_only(CpuTimesMs{.system = 2000});
  TaskEvidence spinner;
  spinner.pid = spinner.tid = 90;
  spinner.comm = "insmod";
  spinner.running = true;
  spinner.syscall = "running";
  TaskEvidence migration;
  migration.pid = migration.tid = 20;
  migration.comm = "migration/3";
  migration.policy = 1;
  migration.rt_priority = 99;
  migration.run_ns_growth = 0;
  ev.tasks = {spinner, migration};
  ev.running_certain = true;
  Classification c = classify(ev);
  EXPECT_EQ(c.stall_class, "kernel-nonpreemptible");
  EXPECT_EQ(c.culprit, 0);
  ev.tasks[1].run_ns_growth = 5'000'000;  // it did run: the CPU is shared with an RT hog
  EXPECT_EQ(classify(ev).stall_class, "rt-hog");
  EXPECT_EQ(classify(ev).culprit, 1);
}

TEST(ClassifyRules, AnRtHogFoundInItsThrottledGapIsStillTheHog) {
  // QEMU 09, 2026-12-03: the NMI and both runtime samples fell in the 50 ms RT-throttling gap;
  // a kworker ran, the SCHED_FIFO 99 hog was runnable with no runtime growth.
  Evidence ev = counters_only(CpuTimesMs{.user = 820, .system = 120, .idle = 40}, 994'850'150);
  TaskEvidence kworker;
  kworker.pid = kworker.tid = 35;
  kworker.comm = "kworker/1:1-mm_percpu_wq";
  kworker.state = 'I';
  kworker.running = true;
  TaskEvidence hog;
  hog.pid = hog.tid = 709;
  hog.comm = "rt-hog";
  hog.policy = 1;
  hog.rt_priority = 99;
  hog.state = 'R';
  hog.run_ns_growth = 0;
  ev.tasks = {kworker, hog};
  ev.running_certain = true;
  ev.event.stall_start_mono_ns = 75'875'259'075;
  // Throttling disabled and no kernel line: nothing says RT tasks held the CPU.
  EXPECT_NE(classify(ev).stall_class, "rt-hog");
  ev.system.have_rt_runtime = true;
  ev.system.sched_rt_period_us = 1'000'000;
  ev.system.sched_rt_runtime_us = 950'000;
  Classification c = classify(ev);
  EXPECT_EQ(c.stall_class, "rt-hog");
  EXPECT_EQ(c.culprit, 1);
  // The kernel's line during the stall is enough on its own, whatever the CPU times.
  Evidence k = ev;
  k.system = SystemEvidence{};
  k.counters.cpu_ms = CpuTimesMs{.system = 2000};
  KernelVerdict v;
  v.mono_ns = 77'035'419'000;
  v.match.kind = VerdictKind::kRtThrottling;
  v.text = "sched: RT throttling activated";
  k.verdicts.push_back(v);
  EXPECT_EQ(classify(k).stall_class, "rt-hog");
  k.verdicts[0].mono_ns = 70'000'000'000;  // before the stall: another episode's
  EXPECT_NE(classify(k).stall_class, "rt-hog");
}

TEST(ClassifyRules, IdleNmiIsNotKernelEvidence) {
  Evidence ev = counters_only(CpuTimesMs{.idle = 2000});
  ev.backtrace.have_section = true;
  ev.backtrace.kernel_rip = true;
  ev.backtrace.idle = true;
  ev.backtrace.rip = "native_safe_halt+0xb/0x10";
  EXPECT_EQ(classify(ev).stall_class, "unknown");
  ev.backtrace.idle = false;  // an idle function without the "skipped" line
  EXPECT_EQ(classify(ev).stall_class, "unknown");
}

}  // namespace
}  // namespace stallwatch::evidence
