// SPDX-License-Identifier: GPL-2.0-or-later
#include "stallwatch/evidence/kmsg_reader.h"

#include <cerrno>

#include <gtest/gtest.h>

#include "fixture_util.h"

namespace stallwatch::evidence {
namespace {

using testing::fixture;

constexpr std::int64_t kForever = std::int64_t{1} << 62;

void replay_kmsg(KmsgReader& r, const std::string& rel) {
  std::string data = fixture(rel);
  for (auto rec : split_kmsg_records(data)) r.process_read(rec);
}

// A captured read() trace: "=== read N\n<N bytes>" or "=== error EPIPE\n" blocks.
void replay_trace(KmsgReader& r, const std::string& rel) {
  std::string data = fixture(rel);
  std::size_t p = 0;
  while (p < data.size()) {
    auto nl = data.find('\n', p);
    std::string head = data.substr(p, nl - p);
    p = nl + 1;
    if (head == "=== error EPIPE") {
      r.process_error(EPIPE);
    } else if (head.rfind("=== read ", 0) == 0) {
      std::size_t n = std::stoul(head.substr(9));
      r.process_read(std::string_view(data).substr(p, n));
      p += n;
    } else {
      ADD_FAILURE() << "bad trace line " << head;
      return;
    }
  }
}

TEST(KmsgReader, KeepsTheRealVerdictsOfTheQemuRun) {
  KmsgReader r{Sysroot()};
  replay_kmsg(r, "qemu/stalls/kmsg/all.kmsg");
  EXPECT_EQ(r.lost_records(), 0u);
  auto with_boot = r.verdicts_for(1, 0, kForever);
  ASSERT_EQ(with_boot.size(), 5u);
  // At boot, under TCG: a real clocksource verdict that names no CPU.
  EXPECT_EQ(with_boot[0].match.kind, VerdictKind::kClocksourceUnstable);
  EXPECT_EQ(with_boot[0].text, "tsc: Marking TSC unstable due to TSCs unsynchronized");
  EXPECT_TRUE(with_boot[0].cpus.empty());
  std::vector<KernelVerdict> all(with_boot.begin() + 1, with_boot.end());
  EXPECT_EQ(all[0].match.kind, VerdictKind::kRcuStall);
  EXPECT_EQ(all[0].text, "rcu: INFO: rcu_preempt self-detected stall on CPU");
  EXPECT_EQ(all[0].cpus, (std::vector<int>{1}));  // from "rcu: \x091-....:" on the next line
  EXPECT_EQ(all[0].rip, "delay_tsc+0x33/0xa0");
  EXPECT_TRUE(all[0].kernel_rip);
  EXPECT_EQ(all[1].match.kind, VerdictKind::kRcuStall);
  EXPECT_EQ(all[1].cpus, (std::vector<int>{1}));
  EXPECT_EQ(all[2].match.kind, VerdictKind::kRtThrottling);
  EXPECT_TRUE(all[2].cpus.empty());
  const KernelVerdict& soft = all[3];
  EXPECT_EQ(soft.match.kind, VerdictKind::kSoftLockup);
  EXPECT_EQ(soft.text, "watchdog: BUG: soft lockup - CPU#1 stuck for 5s! [init:110]");
  EXPECT_EQ(soft.seq, 1028u);
  EXPECT_EQ(soft.mono_ns, 38'019'864'000);
  EXPECT_EQ(soft.cpus, (std::vector<int>{1}));
  EXPECT_EQ(soft.match.pid, 110);
  EXPECT_EQ(soft.rip, "delay_tsc+0x33/0xa0");
  ASSERT_FALSE(soft.context.empty());
  EXPECT_EQ(soft.context[0],
            "Modules linked in: evidence_spin(OE+) [last unloaded: evidence_spin(OE)]");
  EXPECT_LE(soft.context.size(), 48u);
}

TEST(KmsgReader, FiltersByCpuAndTimeWindow) {
  KmsgReader r{Sysroot()};
  replay_kmsg(r, "qemu/stalls/kmsg/all.kmsg");
  auto cpu0 = r.verdicts_for(0, 0, kForever);
  ASSERT_EQ(cpu0.size(), 2u);  // TSC and RT throttling name no CPU: they concern every CPU
  EXPECT_EQ(cpu0[0].match.kind, VerdictKind::kClocksourceUnstable);
  EXPECT_EQ(cpu0[1].match.kind, VerdictKind::kRtThrottling);
  auto late = r.verdicts_for(1, 38'000'000'000, 39'000'000'000);
  ASSERT_EQ(late.size(), 1u);
  EXPECT_EQ(late[0].match.kind, VerdictKind::kSoftLockup);
  EXPECT_TRUE(
      r.verdicts_for(1, 2'000'000'000, 10'000'000'000).empty());  // the TSC one came at boot
}

TEST(KmsgReader, RealEpipeOverrunIsCountedAndReadingGoesOn) {
  KmsgReader r{Sysroot()};
  // Three boot records, then the fd falls behind a flood: EPIPE, and reading resumes at 5622.
  std::string boot = fixture("qemu/stalls/kmsg/all.kmsg");
  auto recs = split_kmsg_records(boot);
  for (int i = 0; i < 3; ++i) r.process_read(recs[static_cast<std::size_t>(i)]);  // seq 0..2
  replay_trace(r, "qemu/epipe/epipe.trace");
  EXPECT_EQ(r.overruns(), 1u);
  EXPECT_EQ(r.lost_records(), 5622u - 3u);
  EXPECT_EQ(r.records_read(), 3u + 11u);
}

TEST(KmsgReader, VerdictContextStopsAtASysrqDumpAndAfterRecordsLost) {
  KmsgReader r{Sysroot()};
  r.process_read("0,10,1000000,-;watchdog: BUG: soft lockup - CPU#2 stuck for 22s! [spin:7]\n");
  r.process_read("4,11,1000001,-;CPU: 2 PID: 7 Comm: spin Not tainted 6.1.0 #1\n");
  r.process_read("6,12,1000002,-;sysrq: Show backtrace of all active CPUs\n");
  r.process_read("4,13,1000003,-;NMI backtrace for cpu 0\n");
  r.process_read("3,14,2000000,-;rcu: INFO: rcu_sched self-detected stall on CPU\n");
  r.process_error(EPIPE);
  r.process_read("3,20,2000001,-;rcu: \\x093-....: (1 ticks this GP)\n");
  auto v = r.verdicts_for(2, 0, kForever);
  ASSERT_EQ(v.size(), 2u);  // the RCU verdict names no CPU (its follow-up was lost): any CPU's
  EXPECT_EQ(v[0].context,
            (std::vector<std::string>{"CPU: 2 PID: 7 Comm: spin Not tainted 6.1.0 #1"}));
  auto rcu = r.verdicts_for(3, 0, kForever);
  ASSERT_EQ(rcu.size(), 1u);
  EXPECT_EQ(rcu[0].match.kind, VerdictKind::kRcuStall);
  EXPECT_TRUE(rcu[0].cpus.empty());
  EXPECT_EQ(rcu[0].context, (std::vector<std::string>{"[kmsg records lost]"}));
  EXPECT_EQ(r.lost_records(), 5u);
}

TEST(KmsgReader, OnlyKernelFacilityRecordsMakeVerdicts) {
  KmsgReader r{Sysroot()};
  // What `echo 'watchdog: BUG: soft lockup ...' > /dev/kmsg` gives: facility user (prio 14 =
  // 1*8+6), or the facility a "<N>" prefix names (never 0).
  r.process_read("14,100,5000000,-;watchdog: BUG: soft lockup - CPU#1 stuck for 5s! [evil:1]\n");
  r.process_read("12,101,5000001,-;sched: RT throttling activated\n");
  r.process_read("190,102,5000002,-;rcu: INFO: rcu_preempt self-detected stall on CPU\n");
  EXPECT_TRUE(r.verdicts_for(1, 0, kForever).empty());
  EXPECT_EQ(r.records_read(), 3u);
  // The same text from the kernel (prio 0 = kern.emerg) is a verdict.
  r.process_read("0,103,5000003,-;watchdog: BUG: soft lockup - CPU#1 stuck for 5s! [spin:90]\n");
  auto v = r.verdicts_for(1, 0, kForever);
  ASSERT_EQ(v.size(), 1u);
  EXPECT_EQ(v[0].match.comm, "spin");
  // A user record after a verdict is not part of its context either.
  r.process_read("14,104,5000004,-;RIP: 0010:forged+0x0/0x1\n");
  EXPECT_TRUE(r.verdicts_for(1, 0, kForever)[0].context.empty());
}

TEST(KmsgReader, HostileCommInAKernelVerdictIsSanitizedAndRecoverable) {
  KmsgReader r{Sysroot()};
  // The kernel escapes the comm's bytes in /dev/kmsg: \xff\xfe\x1b]0;pwn\x07
  r.process_read("0,7,9000000,-;watchdog: BUG: soft lockup - CPU#1 stuck for 22s! "
                 "[\\xff\\xfe\\x1b]0;pwn\\x07:412]\n");
  auto v = r.verdicts_for(1, 0, kForever);
  ASSERT_EQ(v.size(), 1u);
  EXPECT_EQ(v[0].match.comm, "\\xff\\xfe\\x1b]0;pwn\\x07");
  EXPECT_EQ(v[0].match.pid, 412);
  for (char c : v[0].text) EXPECT_GE(static_cast<unsigned char>(c), 0x20);
}

TEST(KmsgReader, RingIsBounded) {
  KmsgReader r{Sysroot(), 3, 4};
  for (int i = 0; i < 10; ++i)
    r.process_read(fmt::format("4,{},{},-;sched: RT throttling activated\n", i, i * 1000));
  auto v = r.verdicts_for(0, 0, kForever);
  ASSERT_EQ(v.size(), 3u);
  EXPECT_EQ(v[0].seq, 7u);
  r.process_read("garbage without header");
  EXPECT_EQ(r.records_read(), 11u);
}

TEST(KmsgReader, StartFailsCleanlyWithoutDevKmsg) {
  KmsgReader r{Sysroot("/nonexistent-root")};
  auto s = r.start();
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().message, "/nonexistent-root/dev/kmsg: No such file or directory");
  EXPECT_FALSE(r.running());
  r.stop();
}

TEST(KmsgReader, ForgedUserRecordsThenTheRealKernelVerdict) {
  KmsgReader r{Sysroot()};
  replay_kmsg(r, "hostile/forged.kmsg");
  auto v = r.verdicts_for(1, 0, kForever);
  ASSERT_EQ(v.size(), 1u);
  EXPECT_EQ(v[0].seq, 2003u);
  EXPECT_EQ(v[0].match.kind, VerdictKind::kSoftLockup);
  EXPECT_EQ(v[0].match.pid, 4243);
  EXPECT_EQ(v[0].match.comm, R"(\xff\xfe\x1b]0;pwn\x07)");
}

}  // namespace
}  // namespace stallwatch::evidence
