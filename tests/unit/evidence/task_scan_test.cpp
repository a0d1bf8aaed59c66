// SPDX-License-Identifier: GPL-2.0-or-later
#include "stallwatch/evidence/task_scan.h"

#include <gtest/gtest.h>

#include "fixture_util.h"

namespace stallwatch::evidence {
namespace {

using testing::fixture;
using testing::fixture_path;

const Sysroot& hog_root() {
  static const Sysroot root(fixture_path("host/scenarios/rt-hog/late"));
  return root;
}

TEST(TaskScan, FindsTheRealRtHogOnCpu1) {
  TaskScanOptions opts;
  opts.cpu = 1;
  TaskScanResult r = scan_cpu_tasks(hog_root(), opts);
  EXPECT_TRUE(r.error.empty());
  EXPECT_EQ(r.tasks_scanned, 1);
  ASSERT_EQ(r.candidates.size(), 1u);
  const TaskEvidence& t = r.candidates[0];
  EXPECT_EQ(t.pid, 23521);
  EXPECT_EQ(t.tid, 23521);
  EXPECT_EQ(t.comm, "rt hog) R (1");
  EXPECT_EQ(t.policy, 1);
  EXPECT_EQ(t.rt_priority, 60);
  EXPECT_EQ(t.run_ns, 1909226032u);
}

TEST(TaskScan, OtherCpuExcludedPidAndBudget) {
  TaskScanOptions opts;
  opts.cpu = 0;
  EXPECT_TRUE(scan_cpu_tasks(hog_root(), opts).candidates.empty());
  opts.cpu = 1;
  opts.exclude_pid = 23521;
  EXPECT_TRUE(scan_cpu_tasks(hog_root(), opts).candidates.empty());
  opts.exclude_pid = 0;
  opts.deadline_ns = 1;  // long past
  TaskScanResult r = scan_cpu_tasks(hog_root(), opts);
  EXPECT_TRUE(r.budget_exhausted);
  EXPECT_TRUE(r.candidates.empty());
  opts.deadline_ns = 0;
  EXPECT_FALSE(scan_cpu_tasks(Sysroot("/nonexistent-root"), opts).error.empty());
}

TEST(TaskScan, DetailsFromTheRealCapture) {
  TaskScanOptions opts;
  opts.cpu = 1;
  TaskScanResult r = scan_cpu_tasks(hog_root(), opts);
  ASSERT_EQ(r.candidates.size(), 1u);
  BoundedIo io;  // not started: inline reads
  DetailLimits limits;
  limits.cmdline_bytes = 40;
  read_task_details(hog_root(), io, limits, &r.candidates[0]);
  const TaskEvidence& t = r.candidates[0];
  EXPECT_TRUE(t.read_errors.empty());
  EXPECT_EQ(t.syscall, "running");
  EXPECT_EQ(t.wchan, "0");
  EXPECT_TRUE(t.stack.empty());  // a task on a CPU has no readable stack
  EXPECT_EQ(t.cgroup, "/");
  EXPECT_EQ(t.cmdline, "bash -c printf \"%s\" \"rt hog) R (1\" > /pr...");
  // Reads past the deadline are skipped, not attempted.
  TaskEvidence late = t;
  late.read_errors.clear();
  limits.deadline_ns = 1;
  read_task_details(hog_root(), io, limits, &late);
  EXPECT_EQ(late.read_errors.size(), 5u);
  EXPECT_EQ(late.read_errors.front(), "syscall: budget exhausted");
}

TEST(TaskScan, MissingDetailFilesAreNamed) {
  TaskEvidence t;
  t.pid = 4242;
  t.tid = 4242;
  BoundedIo io;
  read_task_details(hog_root(), io, DetailLimits{}, &t);
  ASSERT_EQ(t.read_errors.size(), 5u);
  EXPECT_EQ(t.read_errors[0], "syscall: No such file or directory");
}

TEST(TaskScan, ReadTaskByTid) {
  auto t = read_task(hog_root(), 23521);
  ASSERT_TRUE(t.ok()) << t.error().message;
  EXPECT_EQ(t->pid, 23521);
  EXPECT_EQ(t->comm, "rt hog) R (1");
  EXPECT_FALSE(read_task(hog_root(), 1).ok());
}

TEST(DetailParsers, RealFiles) {
  auto stack = parse_stack(fixture("host/details/sleep.stack"), 32);
  ASSERT_EQ(stack.size(), 5u);
  EXPECT_EQ(stack[0], "hrtimer_nanosleep+0x74/0xf0");
  EXPECT_EQ(parse_stack(fixture("host/details/sleep.stack"), 2).size(), 2u);
  EXPECT_EQ(pick_cgroup(fixture("host/details/sleep.cgroup")), "/");
  EXPECT_EQ(pick_cgroup("1:cpu:/a\n"), "1:cpu:/a");
  EXPECT_EQ(pick_cgroup("0::/system.slice/x.service\n"), "/system.slice/x.service");
  EXPECT_EQ(format_cmdline(fixture("host/details/sleep.cmdline"), 100), "sleep 30");
  EXPECT_EQ(format_cmdline(std::string("ab\0cd\0", 6), 4), "ab c...");
  EXPECT_EQ(format_cmdline("", 10), "");
}

TaskEvidence task(int tid, int policy, int rt, std::int64_t growth) {
  TaskEvidence t;
  t.pid = t.tid = tid;
  t.policy = policy;
  t.rt_priority = rt;
  t.run_ns_growth = growth;
  return t;
}

TEST(PickRunning, EvidenceOrder) {
  std::vector<TaskEvidence> v = {task(1, 0, 0, 5), task(2, 1, 10, 0), task(3, 0, 0, 9)};
  EXPECT_EQ(pick_running(&v, 2, 0), "the sysrq NMI backtrace interrupted it on the CPU");
  EXPECT_EQ(v[0].tid, 2);
  EXPECT_TRUE(v[0].running);

  v = {task(1, 0, 0, 5), task(2, 1, 10, 0), task(3, 0, 0, 9)};
  EXPECT_EQ(pick_running(&v, 0, 3), "the kernel's soft lockup report names it");
  EXPECT_EQ(v[0].tid, 3);

  v = {task(1, 0, 0, 5), task(2, 1, 10, 0), task(3, 0, 0, 9000000)};
  EXPECT_EQ(pick_running(&v, 0, 0),
            "its runtime grew most between two schedstat samples (+9.0 ms)");
  EXPECT_EQ(v[0].tid, 3);
  EXPECT_FALSE(v[1].running);

  v = {task(1, 0, 0, 0), task(2, 1, 10, 0), task(3, 1, 20, 0)};
  EXPECT_EQ(pick_running(&v, 0, 0),
            "highest-priority of 3 runnable tasks (no runtime growth seen)");
  EXPECT_EQ(v[0].tid, 3);

  v = {task(1, 0, 0, 0), task(2, 0, 0, 0)};
  EXPECT_EQ(pick_running(&v, 0, 0), "first of 2 runnable tasks (guess: no runtime growth seen)");

  v = {task(7, 0, 0, -1)};
  EXPECT_EQ(pick_running(&v, 99, 0), "the only runnable task on the CPU");

  v.clear();
  EXPECT_EQ(pick_running(&v, 1, 1), "");
}

// The two schedstat samples must span more than the RT throttling window, or an RT hog sampled
// twice inside it (03_rt_hog in CI: both samples in the 50 ms a second SCHED_OTHER tasks get)
// shows no growth while journald grows most.
TEST(SchedstatGap, SpansTheRtThrottlingWindow) {
  constexpr std::int64_t kMs = 1'000'000;
  EXPECT_EQ(schedstat_gap_ns(20 * kMs, true, 1'000'000, 950'000), 110 * kMs);  // Debian's default
  EXPECT_EQ(schedstat_gap_ns(20 * kMs, true, 1'000'000, 900'000), 210 * kMs);
  EXPECT_EQ(schedstat_gap_ns(20 * kMs, true, 1'000'000, 500'000), 250 * kMs);  // capped
  EXPECT_EQ(schedstat_gap_ns(20 * kMs, true, 1'000'000, -1), 20 * kMs);        // no throttling
  EXPECT_EQ(schedstat_gap_ns(20 * kMs, true, 1'000'000, 1'000'000), 20 * kMs);
  EXPECT_EQ(schedstat_gap_ns(20 * kMs, false, 0, 0), 20 * kMs);                 // unreadable
  EXPECT_EQ(schedstat_gap_ns(300 * kMs, true, 1'000'000, 950'000), 300 * kMs);  // configured longer
}

}  // namespace
}  // namespace stallwatch::evidence
