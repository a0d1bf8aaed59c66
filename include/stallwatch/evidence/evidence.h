// SPDX-License-Identifier: GPL-2.0-or-later
// Evidence: everything gathered for one stall event before it is classified and reported --
// the tasks on the stuck CPU, the sysrq-l backtrace, the kernel's own verdicts, counter deltas
// and a few system settings. Plain data built by EvidenceEngine::collect() on the report worker
// thread and consumed there (classify(), the JSON report); never shared between threads.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "stallwatch/core/event.h"
#include "stallwatch/evidence/kmsg_parse.h"
#include "stallwatch/evidence/timeline.h"

namespace stallwatch::evidence {

// One task found in state R on the stuck CPU.
struct TaskEvidence {
  int pid = 0;  // thread group id
  int tid = 0;
  std::string comm;
  char state = '?';
  int processor = -1;
  int policy = 0;
  int rt_priority = 0;
  int nice = 0;
  int priority = 0;  // stat field 18
  std::uint64_t utime_ticks = 0;
  std::uint64_t stime_ticks = 0;
  std::uint64_t run_ns = 0;         // schedstat at the first sample
  std::int64_t run_ns_growth = -1;  // between the two samples, -1 when not measured
  bool running = false;             // judged to be the task on the CPU
  std::string syscall;              // first line of .../syscall ("running" or "<nr> <args>")
  std::string cgroup;               // the unified (0::) line, or the first line
  std::string cmdline;              // NULs as spaces, truncated
  std::string wchan;
  std::vector<std::string> stack;  // .../stack frames ("[<0>] " stripped); empty while on a CPU
  std::vector<std::string> read_errors;  // "stack: Permission denied", ...
};

// A kernel message that names a stall, with the records that followed it (its stack dump).
struct KernelVerdict {
  VerdictMatch match;
  std::uint64_t seq = 0;
  std::int64_t mono_ns = 0;  // printk timestamp (local_clock, close to CLOCK_MONOTONIC)
  std::string text;          // unescaped
  std::vector<int> cpus;     // every CPU it and its follow-up lines name; empty = not CPU-specific
  std::vector<std::string> context;  // following records (unescaped), bounded
  std::string rip;                   // from a register dump in the context ("RIP: 0010:...")
  bool kernel_rip = false;
  bool saw_cpu_line = false;  // reader state: a "CPU: N PID:" line was seen in the context
};

struct BacktraceEvidence {
  // "complete", "partial", "cached", "unavailable", "disabled", "rate-limited", "failed"
  std::string status = "not-run";
  std::string note;
  int cpu = -1;
  bool have_section = false;
  bool idle = false;
  bool kernel_rip = false;
  bool user_rip = false;
  bool irqs_off = false;  // the interrupted context had interrupts disabled (EFLAGS.IF clear)
  std::string rip;
  int pid = 0;  // the task the NMI interrupted (a thread id)
  std::string comm;
  std::vector<std::string> section;  // the stuck CPU's lines
  std::vector<std::string> frames;
  std::vector<int> cpus_seen;
  std::vector<int> cpus_missing;
  std::int64_t wait_ns = 0;  // trigger to last read
};

// Per-CPU /proc/stat deltas converted to milliseconds.
struct CpuTimesMs {
  std::int64_t user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0,
               steal = 0;
  std::int64_t total() const {
    return user + nice + system + idle + iowait + irq + softirq + steal;
  }
};

struct CounterDelta {
  std::string name;
  std::string description;
  std::uint64_t delta = 0;
};

struct CounterEvidence {
  bool have_window = false;
  // "inside-stall" (the baseline was taken after the stall began), "before-stall" (it includes
  // some healthy time), "after-stall-start" (no earlier sample: daemon just started)
  std::string window_kind;
  std::int64_t window_start_mono_ns = 0;
  std::int64_t window_ns = 0;
  bool have_stat = false;
  CpuTimesMs cpu_ms;
  bool have_interrupts = false;
  bool have_loc = false;
  std::string local_timer_row;  // "LOC" on x86
  std::uint64_t loc_delta = 0;
  std::uint64_t irq_total_delta = 0;   // all rows of /proc/interrupts for the CPU
  std::vector<CounterDelta> top_irqs;  // by delta, LOC included, at most 8
  bool have_softirqs = false;
  std::vector<CounterDelta> softirqs;  // all rows with a non-zero delta, by delta
  // Hardware deltas over the window (hw_counters.h): thermal throttling and machine checks.
  bool have_thermal = false;
  std::uint64_t core_throttle_delta = 0;
  std::uint64_t package_throttle_delta = 0;
  bool have_machine_checks = false;
  std::uint64_t mce_delta = 0;  // /proc/interrupts MCE: machine check exceptions
  std::uint64_t mcp_delta = 0;  // MCP: machine check polls
};

struct SystemEvidence {
  std::string clocksource;
  std::int64_t sched_rt_runtime_us = 0;
  std::int64_t sched_rt_period_us = 0;
  bool have_rt_runtime = false;
};

struct StepTiming {
  std::string name;
  std::int64_t elapsed_ns = 0;
  bool ok = true;
};

struct Evidence {
  StallEvent event;
  int heartbeat_priority = 0;
  std::int64_t collected_mono_ns = 0;
  std::vector<TaskEvidence> tasks;  // runnable on the stuck CPU; the running one first
  int tasks_scanned = 0;
  std::string running_reason;    // why tasks[0] is believed to be on the CPU
  bool running_certain = false;  // NMI/verdict/only task/measured growth, not a guess by rank
  BacktraceEvidence backtrace;
  std::vector<KernelVerdict> verdicts;
  std::uint64_t kmsg_lost_records = 0;  // overruns seen by the kmsg reader so far
  CounterEvidence counters;
  SystemEvidence system;
  Timeline timeline;  // the flight recorder's seconds before the stall (timeline.h)
  std::vector<StepTiming> steps;
  std::vector<std::string> failed_steps;
  std::vector<std::string> notes;

  const TaskEvidence* running_task() const {
    return !tasks.empty() && tasks.front().running ? &tasks.front() : nullptr;
  }
};

}  // namespace stallwatch::evidence
