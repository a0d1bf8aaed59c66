// SPDX-License-Identifier: GPL-2.0-or-later
#include "stallwatch/evidence/kmsg_parse.h"

#include <gtest/gtest.h>

#include "fixture_util.h"

namespace stallwatch::evidence {
namespace {

using testing::fixture;

TEST(KmsgRecord, RealRecordsWithContinuationLines) {
  std::string data = fixture("host/kmsg/boot.kmsg");
  auto recs = split_kmsg_records(data);
  ASSERT_EQ(recs.size(), 83u);
  std::uint64_t last_seq = 0;
  int with_dict = 0;
  for (auto rec : recs) {
    auto r = parse_kmsg_record(rec);
    ASSERT_TRUE(r.ok()) << r.error().message << ": " << rec;
    EXPECT_GT(r->seq, last_seq);
    last_seq = r->seq;
    if (!r->dict.empty()) ++with_dict;
  }
  EXPECT_GT(with_dict, 10);
  // 6,193,296862,-;acpi PNP0A08:00: _OSC: OS supports [...]
  //  SUBSYSTEM=acpi
  //  DEVICE=+acpi:PNP0A08:00
  for (auto rec : recs) {
    auto r = parse_kmsg_record(rec);
    if (r->seq != 193) continue;
    EXPECT_EQ(r->level, 6);
    EXPECT_EQ(r->facility, 0);
    EXPECT_EQ(r->usec, 296862);
    EXPECT_EQ(r->flag, '-');
    EXPECT_EQ(r->text.substr(0, 30), "acpi PNP0A08:00: _OSC: OS supp");
    ASSERT_EQ(r->dict.size(), 2u);
    EXPECT_EQ(r->dict[0], "SUBSYSTEM=acpi");
    EXPECT_EQ(r->dict[1], "DEVICE=+acpi:PNP0A08:00");
    return;
  }
  FAIL() << "record 193 not found";
}

TEST(KmsgRecord, ContinuationFlagFacilityAndEscapes) {
  auto r = parse_kmsg_record("4,522,11645257,c;\\x09(t=751 jiffies g=-803 q=181 ncpus=2)\n");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->flag, 'c');
  EXPECT_EQ(unescape_kmsg(r->text), "\t(t=751 jiffies g=-803 q=181 ncpus=2)");
  auto user = parse_kmsg_record("12,5622,4764330,-;evidence-capture: flood 5256\n");
  ASSERT_TRUE(user.ok());
  EXPECT_EQ(user->facility, 1);
  EXPECT_EQ(user->level, 4);
  auto extra = parse_kmsg_record("6,7,8,-,caller=T1;text");  // future header fields
  ASSERT_TRUE(extra.ok());
  EXPECT_EQ(extra->text, "text");
  EXPECT_EQ(unescape_kmsg("a\\x5cb\\xzz\\x4"), "a\\b\\xzz\\x4");
}

TEST(KmsgRecord, Malformed) {
  EXPECT_FALSE(parse_kmsg_record("no header").ok());
  EXPECT_FALSE(parse_kmsg_record("6,1;text").ok());
  EXPECT_FALSE(parse_kmsg_record("x,1,2,-;text").ok());
  EXPECT_FALSE(parse_kmsg_record("6,y,2,-;text").ok());
  EXPECT_FALSE(parse_kmsg_record("6,1,z,-;text").ok());
  // Found by fuzz_kmsg_reader: usec * 1000 overflowed.
  EXPECT_FALSE(parse_kmsg_record("6,1,5555555555555555550,-;text").ok());
  EXPECT_FALSE(parse_kmsg_record("6,1,-5,-;text").ok());
  EXPECT_FALSE(parse_kmsg_record("6,1,2,-;text\nNOSPACE=1\n").ok());
  EXPECT_TRUE(split_kmsg_records("").empty());
}

TEST(Verdict, RealKernelMessages) {
  auto soft = match_verdict("watchdog: BUG: soft lockup - CPU#1 stuck for 5s! [init:110]");
  ASSERT_TRUE(soft);
  EXPECT_EQ(soft->kind, VerdictKind::kSoftLockup);
  EXPECT_EQ(soft->cpu, 1);
  EXPECT_EQ(soft->stuck_s, 5);
  EXPECT_EQ(soft->comm, "init");
  EXPECT_EQ(soft->pid, 110);
  auto self = match_verdict("rcu: INFO: rcu_preempt self-detected stall on CPU");
  ASSERT_TRUE(self);
  EXPECT_EQ(self->kind, VerdictKind::kRcuStall);
  EXPECT_EQ(self->cpu, -1);  // named on the next line
  auto other = match_verdict("rcu: INFO: rcu_preempt detected stalls on CPUs/tasks:");
  ASSERT_TRUE(other);
  EXPECT_EQ(other->kind, VerdictKind::kRcuStall);
  auto thr = match_verdict("sched: RT throttling activated");
  ASSERT_TRUE(thr);
  EXPECT_EQ(thr->kind, VerdictKind::kRtThrottling);
  EXPECT_EQ(thr->cpu, -1);
}

TEST(Verdict, KernelFormatsNotSeenHere) {
  // Texts as the kernel's format strings print them (kernel/watchdog*.c, kernel/hung_task.c,
  // kernel/time/clocksource.c, arch/x86/kernel/tsc.c).
  auto hard = match_verdict("watchdog: Watchdog detected hard LOCKUP on cpu 3");
  ASSERT_TRUE(hard);
  EXPECT_EQ(hard->kind, VerdictKind::kHardLockup);
  EXPECT_EQ(hard->cpu, 3);
  EXPECT_EQ(match_verdict("NMI watchdog: Watchdog detected hard LOCKUP on cpu 12")->cpu, 12);
  EXPECT_EQ(match_verdict("Kernel panic - not syncing: Hard LOCKUP")->kind,
            VerdictKind::kHardLockup);
  auto hung = match_verdict("INFO: task khugepaged:45 blocked for more than 120 seconds.");
  ASSERT_TRUE(hung);
  EXPECT_EQ(hung->kind, VerdictKind::kHungTask);
  EXPECT_EQ(hung->comm, "khugepaged");
  EXPECT_EQ(hung->pid, 45);
  auto weird = match_verdict("INFO: task a:b c:7 blocked for more than 20 seconds.");
  ASSERT_TRUE(weird);
  EXPECT_EQ(weird->comm, "a:b c");
  EXPECT_EQ(weird->pid, 7);
  auto cs = match_verdict(
      "clocksource: timekeeping watchdog on CPU1: Marking clocksource 'tsc' as unstable because "
      "the skew is too large:");
  ASSERT_TRUE(cs);
  EXPECT_EQ(cs->kind, VerdictKind::kClocksourceUnstable);
  EXPECT_EQ(cs->cpu, 1);
  EXPECT_EQ(match_verdict("tsc: Marking TSC unstable due to clocksource watchdog")->kind,
            VerdictKind::kClocksourceUnstable);
  EXPECT_EQ(
      match_verdict("NMI watchdog: BUG: soft lockup - CPU#17 stuck for 22s! [a b:1234]")->comm,
      "a b");
}

TEST(Verdict, OrdinaryMessagesAreNotVerdicts) {
  EXPECT_FALSE(match_verdict("NMI watchdog: Perf NMI watchdog permanently disabled"));
  EXPECT_FALSE(match_verdict("clocksource: Switched to clocksource tsc"));
  EXPECT_FALSE(
      match_verdict("rcu: RCU calculated value of scheduler-enlistment delay is 25 jiffies."));
  EXPECT_FALSE(match_verdict("sysrq: Show backtrace of all active CPUs"));
  EXPECT_FALSE(match_verdict(""));
}

TEST(Verdict, APhraseInsideAnotherLineIsNotAVerdict) {
  // A task named after a verdict, appearing in an ordinary kernel line.
  EXPECT_FALSE(match_verdict("traps: BUG: soft lockup - CPU#1 stuck for 5s! [x:1][42] trap int3"));
  EXPECT_FALSE(match_verdict("audit: comm=\"BUG: soft lockup\" pid=77"));
  EXPECT_FALSE(match_verdict("EXT4-fs: hard LOCKUP on cpu 1"));
  EXPECT_FALSE(match_verdict("foo: Watchdog detected hard LOCKUP on cpu 1"));
  EXPECT_FALSE(match_verdict("process 'rcu: INFO: stall' started"));
  EXPECT_FALSE(match_verdict("note: task x:1 blocked for more than 5 seconds."));
  EXPECT_FALSE(match_verdict("INFO: task x blocked for more than 5 seconds."));  // no pid
  EXPECT_FALSE(match_verdict("myapp: sched: RT throttling activated"));
  EXPECT_FALSE(match_verdict("Marking clocksource 'tsc' as unstable (said a user)"));
  EXPECT_FALSE(match_verdict("watchdog: BUG: soft lockup - CPU#x stuck for 5s! [init:110]"));
}

TEST(Verdict, HostileCommInsideARealVerdictStaysEscaped) {
  // As the KmsgReader sees it: the kernel's \xNN escapes undone, then sanitized once.
  auto soft = match_verdict(
      "watchdog: BUG: soft lockup - CPU#1 stuck for 22s! [\\xff\\xfe\\x1b]0;pwn\\x07:412]");
  ASSERT_TRUE(soft);
  EXPECT_EQ(soft->pid, 412);
  EXPECT_EQ(soft->comm, "\\xff\\xfe\\x1b]0;pwn\\x07");
  auto named = match_verdict("watchdog: BUG: soft lockup - CPU#2 stuck for 3s! [x] y:7]");
  ASSERT_TRUE(named);
  EXPECT_EQ(named->comm, "x] y");
  EXPECT_EQ(named->pid, 7);
}

TEST(FollowUpCpu, RcuAndRegisterDumpLines) {
  EXPECT_EQ(follow_up_cpu("rcu: \\x091-....: (325 ticks this GP) idle=3944/1/0x40"), 1);
  EXPECT_EQ(follow_up_cpu("rcu: \t12-...0: (6 ticks this GP)"), 12);
  EXPECT_EQ(follow_up_cpu("rcu: \\x09RCU restricting CPUs from NR_CPUS=256 to nr_cpu_ids=2."), -1);
  EXPECT_EQ(follow_up_cpu("CPU: 1 PID: 110 Comm: init Tainted: G OE 6.1.0-56-amd64 #1"), 1);
  EXPECT_EQ(follow_up_cpu("\\x09(t=750 jiffies g=-831 q=188 ncpus=2)"), -1);
  EXPECT_EQ(follow_up_cpu("rcu: \\x0912"), -1);
}

}  // namespace
}  // namespace stallwatch::evidence
