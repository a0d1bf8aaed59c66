// SPDX-License-Identifier: GPL-2.0-or-later
#include "stallwatch/evidence/proc_parse.h"

#include "stallwatch/core/sanitize.h"

#include <gtest/gtest.h>

#include "stallwatch/core/cpuset.h"

#include "fixture_util.h"

namespace stallwatch::evidence {
namespace {

using testing::fixture;

TEST(TaskStat, SleepingProcess) {
  auto st = parse_task_stat(fixture("host/task_stat/sleep.stat"));
  ASSERT_TRUE(st.ok()) << st.error().message;
  EXPECT_EQ(st->tid, 20736);
  EXPECT_EQ(st->comm, "sleep");
  EXPECT_EQ(st->state, 'S');
  EXPECT_EQ(st->ppid, 20694);
  EXPECT_EQ(st->priority, 20);
  EXPECT_EQ(st->nice, 0);
  EXPECT_EQ(st->num_threads, 1);
  EXPECT_EQ(st->processor, 0);
  EXPECT_EQ(st->rt_priority, 0);
  EXPECT_EQ(st->policy, 0);
}

TEST(TaskStat, CommWithSpacesAndParenthesesIsParsedFromTheLastParen) {
  // A real process that named itself "sw) R (x y) 1": the first ')' and the fake " R " must not
  // be taken for the end of the comm and the state.
  auto st = parse_task_stat(fixture("host/task_stat/comm_with_paren.stat"));
  ASSERT_TRUE(st.ok()) << st.error().message;
  EXPECT_EQ(st->comm, "sw) R (x y) 1");
  EXPECT_EQ(st->state, 'S');
  EXPECT_EQ(st->ppid, 20694);
  EXPECT_EQ(st->priority, 20);
}

TEST(TaskStat, RealRtHogOnCpu1) {
  auto st = parse_task_stat(fixture("host/scenarios/rt-hog/late/proc/23521/task/23521/stat"));
  ASSERT_TRUE(st.ok()) << st.error().message;
  EXPECT_EQ(st->comm, "rt hog) R (1");
  EXPECT_EQ(st->state, 'R');
  EXPECT_EQ(st->processor, 1);
  EXPECT_EQ(st->policy, 1);
  EXPECT_EQ(st->rt_priority, 60);
  EXPECT_EQ(st->priority, -61);
  EXPECT_EQ(st->utime_ticks, 190u);
  EXPECT_EQ(st->stime_ticks, 0u);
  EXPECT_EQ(policy_name(st->policy), "SCHED_FIFO");
}

TEST(TaskStat, FifoSleeperAndKernelThread) {
  auto fifo = parse_task_stat(fixture("host/task_stat/fifo42.stat"));
  ASSERT_TRUE(fifo.ok());
  EXPECT_EQ(fifo->policy, 1);
  EXPECT_EQ(fifo->rt_priority, 42);
  EXPECT_EQ(fifo->priority, -43);
  auto kt = parse_task_stat(fixture("host/task_stat/ksoftirqd.stat"));
  ASSERT_TRUE(kt.ok());
  EXPECT_EQ(kt->comm, "ksoftirqd/1");
  EXPECT_EQ(kt->ppid, 2);
  EXPECT_EQ(kt->processor, 1);
  auto self = parse_task_stat(fixture("host/task_stat/running_self.stat"));
  ASSERT_TRUE(self.ok());
  EXPECT_EQ(self->state, 'R');
}

TEST(TaskStat, RejectsMalformedText) {
  EXPECT_FALSE(parse_task_stat("").ok());
  EXPECT_FALSE(parse_task_stat("12 (no close paren R 1 2 3").ok());
  EXPECT_FALSE(parse_task_stat("12 (short) R 1 2 3").ok());
  EXPECT_FALSE(parse_task_stat("x (comm) R 1 0 0 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5").ok());
  EXPECT_FALSE(parse_task_stat("12 (comm) RR 1 0 0 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5").ok());
  // utime (field 14) not a number
  EXPECT_FALSE(parse_task_stat("12 (comm) R 1 0 0 0 -1 0 0 0 0 0 zz 0 0 0 20 0 1 0 5").ok());
}

TEST(TaskStat, OlderKernelsWithFewerFieldsKeepDefaults) {
  // 18 fields after the comm: no processor/rt_priority/policy yet.
  auto st = parse_task_stat("7 (old) R 1 0 0 0 -1 0 0 0 0 0 5 6 0 0 20 0 1 0 9");
  ASSERT_TRUE(st.ok()) << st.error().message;
  EXPECT_EQ(st->utime_ticks, 5u);
  EXPECT_EQ(st->processor, -1);
  EXPECT_EQ(st->policy, 0);
}

TEST(PolicyName, KnownAndUnknown) {
  EXPECT_EQ(policy_name(0), "SCHED_OTHER");
  EXPECT_EQ(policy_name(2), "SCHED_RR");
  EXPECT_EQ(policy_name(6), "SCHED_DEADLINE");
  EXPECT_EQ(policy_name(42), "SCHED_42");
  EXPECT_TRUE(is_rt_policy(1));
  EXPECT_TRUE(is_rt_policy(2));
  EXPECT_FALSE(is_rt_policy(6));
}

TEST(SchedStat, RealAndMalformed) {
  auto s = parse_schedstat(fixture("host/scenarios/rt-hog/late/proc/23521/task/23521/schedstat"));
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->run_ns, 1909226032u);
  EXPECT_EQ(s->wait_ns, 52154107u);
  EXPECT_EQ(s->timeslices, 35u);
  EXPECT_FALSE(parse_schedstat("1 2").ok());
  EXPECT_FALSE(parse_schedstat("1 x 3").ok());
}

TEST(ProcStat, RealTwoCpuFile) {
  auto t = parse_proc_stat(fixture("host/proc_stat/2cpu.stat"));
  ASSERT_TRUE(t.ok()) << t.error().message;
  ASSERT_EQ(t->size(), 2u);
  EXPECT_EQ((*t)[0].cpu, 0);
  EXPECT_EQ((*t)[1].cpu, 1);
  const CpuTimes* c1 = find_cpu(*t, 1);
  ASSERT_NE(c1, nullptr);
  EXPECT_EQ(find_cpu(*t, 2), nullptr);
  EXPECT_GT(c1->user + c1->system + c1->idle, 0u);
  EXPECT_EQ(c1->total(), c1->user + c1->nice + c1->system + c1->idle + c1->iowait + c1->irq +
                             c1->softirq + c1->steal);
}

TEST(ProcStat, ExactValuesFromTheRtHogCapture) {
  auto t = parse_proc_stat(fixture("host/scenarios/rt-hog/late/proc/stat"));
  ASSERT_TRUE(t.ok());
  const CpuTimes* c1 = find_cpu(*t, 1);
  ASSERT_NE(c1, nullptr);
  // cpu1 33129 0 7185 33826 794 0 411 139 0 0
  EXPECT_EQ(c1->user, 33129u);
  EXPECT_EQ(c1->system, 7185u);
  EXPECT_EQ(c1->idle, 33826u);
  EXPECT_EQ(c1->iowait, 794u);
  EXPECT_EQ(c1->softirq, 411u);
  EXPECT_EQ(c1->steal, 139u);
}

TEST(ProcStat, RejectsFilesWithoutCpuLines) {
  EXPECT_FALSE(parse_proc_stat("intr 1 2 3\nctxt 5\n").ok());
  EXPECT_FALSE(parse_proc_stat("cpu0 1 2\n").ok());
  EXPECT_FALSE(parse_proc_stat("cpu0 1 2 x 4 5\n").ok());
}

TEST(Interrupts, RealTwoCpuFile) {
  auto t = parse_interrupts(fixture("host/interrupts/2cpu.interrupts"));
  ASSERT_TRUE(t.ok()) << t.error().message;
  EXPECT_EQ(t->cpus, (std::vector<int>{0, 1}));
  const CounterRow* loc = t->find("LOC");
  ASSERT_NE(loc, nullptr);
  EXPECT_EQ(loc->description, "Local timer interrupts");
  std::uint64_t v = 0;
  EXPECT_TRUE(t->count(*loc, 1, &v));
  EXPECT_GT(v, 0u);
  EXPECT_FALSE(t->count(*loc, 2, &v));
  const CounterRow* err = t->find("ERR");
  ASSERT_NE(err, nullptr);
  EXPECT_EQ(err->counts.size(), 1u);  // a single system-wide count
  EXPECT_FALSE(t->count(*err, 1, &v));
  const CounterRow* ged = t->find("24");
  ASSERT_NE(ged, nullptr);
  EXPECT_EQ(ged->description, "IO-APIC 5-edge ACPI:Ged");
}

TEST(Interrupts, ExactRowFromTheRtHogCapture) {
  auto t = parse_interrupts(fixture("host/scenarios/rt-hog/late/proc/interrupts"));
  ASSERT_TRUE(t.ok());
  std::uint64_t v = 0;
  ASSERT_TRUE(t->count(*t->find("LOC"), 1, &v));
  EXPECT_EQ(v, 151335u);
  ASSERT_TRUE(t->count(*t->find("LOC"), 0, &v));
  EXPECT_EQ(v, 141230u);
}

TEST(Interrupts, RejectsBadHeaderAndRows) {
  EXPECT_FALSE(parse_interrupts("").ok());
  EXPECT_FALSE(parse_interrupts("   CPU0   XPU1\n").ok());
  EXPECT_FALSE(parse_interrupts("   CPU0\n 1 2 3 no colon\n").ok());
}

TEST(Softirqs, RealTwoCpuFile) {
  auto t = parse_softirqs(fixture("host/softirqs/2cpu.softirqs"));
  ASSERT_TRUE(t.ok()) << t.error().message;
  EXPECT_EQ(t->cpus, (std::vector<int>{0, 1}));
  EXPECT_EQ(t->rows.size(), 10u);
  ASSERT_NE(t->find("NET_RX"), nullptr);
  EXPECT_EQ(t->find("NET_RX")->counts.size(), 2u);
  EXPECT_EQ(t->find("HRTIMER")->description, "");
}

TEST(Interrupts, RealSixtyFourCpuFile) {
  auto t = parse_interrupts(fixture("qemu/smp64/spin/pre/proc/interrupts"));
  ASSERT_TRUE(t.ok()) << t.error().message;
  ASSERT_EQ(t->cpus.size(), 64u);
  EXPECT_EQ(t->cpus.back(), 63);
  EXPECT_EQ(t->rows.size(), 26u);
  const CounterRow* loc = t->find("LOC");
  ASSERT_NE(loc, nullptr);
  EXPECT_EQ(loc->counts.size(), 64u);
  EXPECT_EQ(loc->description, "Local timer interrupts");
  std::uint64_t v = 0;
  ASSERT_TRUE(t->count(*loc, 0, &v));
  EXPECT_EQ(v, 3797u);
  ASSERT_TRUE(t->count(*loc, 63, &v));
  EXPECT_EQ(v, 354u);
  auto s = parse_softirqs(fixture("qemu/smp64/spin/pre/proc/softirqs"));
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->cpus.size(), 64u);
  auto st = parse_proc_stat(fixture("qemu/smp64/spin/pre/proc/stat"));
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->size(), 64u);
  EXPECT_EQ(find_cpu(*st, 63)->idle, 1561u);
}

TEST(Interrupts, RealOfflineCpuHasNoColumnButSoftirqsKeepIt) {
  // CPU 5 offline: /proc/interrupts lists online CPUs only, /proc/softirqs every possible CPU.
  auto t = parse_interrupts(fixture("qemu/offline/proc/interrupts"));
  ASSERT_TRUE(t.ok()) << t.error().message;
  EXPECT_EQ(t->cpus, (std::vector<int>{0, 1, 2, 3, 4, 6, 7}));
  EXPECT_EQ(t->column_of(5), -1);
  EXPECT_EQ(t->column_of(6), 5);
  std::uint64_t v = 0;
  const CounterRow* loc = t->find("LOC");
  ASSERT_NE(loc, nullptr);
  EXPECT_FALSE(t->count(*loc, 5, &v));
  ASSERT_TRUE(t->count(*loc, 7, &v));
  EXPECT_EQ(v, 293u);
  EXPECT_EQ(t->find("0")->description, "IO-APIC 2-edge timer");
  auto s = parse_softirqs(fixture("qemu/offline/proc/softirqs"));
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->cpus, (std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7}));
  ASSERT_TRUE(s->count(*s->find("TIMER"), 5, &v));
  EXPECT_EQ(v, 5u);
  auto st = parse_proc_stat(fixture("qemu/offline/proc/stat"));
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->size(), 7u);
  EXPECT_EQ(find_cpu(*st, 5), nullptr);
  EXPECT_EQ(*parse_cpulist(fixture("qemu/offline/online")), t->cpus);
}

TEST(CpuList, Formats) {
  EXPECT_EQ(*parse_cpulist("0-1\n"), (std::vector<int>{0, 1}));
  EXPECT_EQ(*parse_cpulist("0-3,8,10-11"), (std::vector<int>{0, 1, 2, 3, 8, 10, 11}));
  EXPECT_TRUE(parse_cpulist("\n")->empty());
  EXPECT_FALSE(parse_cpulist("3-1").ok());
  EXPECT_FALSE(parse_cpulist("a").ok());
  EXPECT_EQ(*parse_cpulist(fixture("host/sys/online")), (std::vector<int>{0, 1}));
}

TEST(TaskStat, HostileCommIsSanitizedAtIngestion) {
  auto forged = parse_task_stat(fixture("hostile/stat-colour-forged-line"));
  ASSERT_TRUE(forged.ok());
  EXPECT_EQ(forged->comm, R"(\x1b[31mEVIL\x0aX=1)");
  EXPECT_EQ(forged->tid, 4242);
  EXPECT_EQ(forged->rt_priority, 60);
  auto title = parse_task_stat(fixture("hostile/stat-not-utf8-title"));
  ASSERT_TRUE(title.ok());
  EXPECT_EQ(title->comm, R"(\xff\xfe\x1b]0;pwn\x07)");
  EXPECT_EQ(unescape_text(title->comm), std::string("\xff\xfe\x1b]0;pwn\a"));
}

}  // namespace
}  // namespace stallwatch::evidence
