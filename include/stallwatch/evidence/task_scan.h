// SPDX-License-Identifier: GPL-2.0-or-later
// Task scan: finds the tasks runnable on one CPU by reading every /proc/<pid>/task/<tid>/stat
// (state R, processor == CPU), then fills in the details of those few (syscall, cgroup, cmdline,
// wchan, kernel stack) and decides which one holds the CPU. Called on the report worker thread by
// EvidenceEngine::collect(); the scan is bounded by a deadline, the detail reads by BoundedIo.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "stallwatch/core/clock.h"
#include "stallwatch/core/sysroot.h"
#include "stallwatch/evidence/bounded_io.h"
#include "stallwatch/evidence/evidence.h"

namespace stallwatch::evidence {

struct TaskScanOptions {
  int cpu = -1;
  int exclude_pid = 0;              // the daemon itself: its starved heartbeat is runnable there
  std::int64_t deadline_ns = 0;     // CLOCK_MONOTONIC; 0 = none
  std::size_t max_candidates = 64;  // tasks kept (runnable tasks on one CPU are few)
  NowFn now = &mono_now_ns;
};

struct TaskScanResult {
  std::vector<TaskEvidence> candidates;
  int tasks_scanned = 0;
  int processes_scanned = 0;
  bool budget_exhausted = false;
  std::string error;  // /proc itself unreadable
};

TaskScanResult scan_cpu_tasks(const Sysroot& root, const TaskScanOptions& opts);

// Second schedstat sample for each candidate: run_ns_growth = now - first sample.
// How long to wait between the two samples: at least `configured_ns`, and when RT throttling is
// on (sched_rt_runtime_us >= 0 and below the period) twice its window plus 10 ms (at most 250
// ms). In the window (50 ms a second by default) an RT hog is throttled and SCHED_OTHER tasks
// run: two samples inside it would show the hog not growing and, say, journald growing most.
std::int64_t schedstat_gap_ns(std::int64_t configured_ns, bool have_rt_runtime,
                              std::int64_t rt_period_us, std::int64_t rt_runtime_us);
void resample_schedstat(const Sysroot& root, std::vector<TaskEvidence>* tasks);

// Reads a task by tid alone (/proc/<tid>/stat works for any thread): used when the NMI backtrace
// names a task the scan did not keep.
Result<TaskEvidence> read_task(const Sysroot& root, int tid);

struct DetailLimits {
  std::chrono::nanoseconds per_read_timeout = std::chrono::milliseconds(50);
  std::int64_t deadline_ns = 0;  // CLOCK_MONOTONIC; reads past it are skipped; 0 = none
  NowFn now = &mono_now_ns;
  std::size_t cmdline_bytes = 512;
  std::size_t stack_frames = 32;
};
// syscall, cgroup, cmdline, wchan and stack for one task; failures go to task->read_errors.
void read_task_details(const Sysroot& root, BoundedIo& reader, const DetailLimits& limits,
                       TaskEvidence* task);

// Pure parsers for the detail files.
std::string format_cmdline(std::string_view raw, std::size_t max_bytes);  // NULs -> spaces
std::vector<std::string> parse_stack(std::string_view text, std::size_t max_frames);
std::string pick_cgroup(std::string_view text);  // the "0::" line's path, else the first line

// Which candidate holds the CPU. Evidence, strongest first: the task the NMI backtrace interrupted
// (nmi_tid), the task a soft-lockup verdict names (verdict_tid), the only runnable task, the
// largest schedstat growth, the highest priority (SCHED_DEADLINE, then RT priority). Moves it to
// the front, sets running = true and returns the reason ("" when there are no candidates).
std::string pick_running(std::vector<TaskEvidence>* tasks, int nmi_tid, int verdict_tid);

}  // namespace stallwatch::evidence
