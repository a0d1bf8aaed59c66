// SPDX-License-Identifier: GPL-2.0-or-later
#include "stallwatch/evidence/sysrq_parse.h"

#include <gtest/gtest.h>

#include <numeric>

#include "fixture_util.h"

namespace stallwatch::evidence {
namespace {

using testing::fixture;
using testing::kmsg_texts;

SysrqDumpAssembler assemble(const std::vector<std::string>& texts, std::size_t cap = 200) {
  SysrqDumpAssembler a(cap);
  for (const auto& t : texts) a.add_line(t);
  return a;
}

TEST(SysrqDump, RealKernelSpinOnCpu1) {
  auto a = assemble(kmsg_texts("qemu/stalls/spin/sysrq.kmsg"));
  EXPECT_TRUE(a.saw_trigger());
  ASSERT_EQ(a.sections().size(), 2u);
  EXPECT_TRUE(a.complete_for({0, 1}));
  EXPECT_FALSE(a.complete_for({0, 1, 2}));
  const BacktraceSection* s = a.section(1);
  ASSERT_NE(s, nullptr);
  EXPECT_TRUE(s->kernel_rip);
  EXPECT_FALSE(s->user_rip);
  EXPECT_FALSE(s->idle);
  EXPECT_EQ(s->rip, "delay_tsc+0x33/0xa0");
  EXPECT_EQ(s->pid, 92);
  EXPECT_EQ(s->comm, "init");
  EXPECT_TRUE(s->have_eflags);
  EXPECT_FALSE(s->irqs_off);  // EFLAGS 00000203: preemption off, interrupts on
  // Frames below the RIP, guesses ("? ...") and the user-mode entry registers left out.
  ASSERT_EQ(s->frames.size(), 7u);
  EXPECT_EQ(s->frames[0], "evidence_spin_loop+0x2b/0xffb [evidence_spin]");
  EXPECT_EQ(s->frames[1], "evidence_spin_init+0x49/0x1000 [evidence_spin]");
  EXPECT_EQ(s->frames[6], "entry_SYSCALL_64_after_hwframe+0x6e/0xd8");
  EXPECT_EQ(s->lines.front(), "NMI backtrace for cpu 1");
  EXPECT_EQ(s->lines.back(), " </TASK>");
  // The CPU that wrote 'l' prints its own stack without registers: user RIP only inside the trace.
  const BacktraceSection* s0 = a.section(0);
  ASSERT_NE(s0, nullptr);
  EXPECT_TRUE(s0->complete);
  EXPECT_EQ(s0->rip, "");
  EXPECT_EQ(s0->pid, 1);
}

TEST(SysrqDump, RealInterruptsOffSpinHasEflagsIfClear) {
  auto a = assemble(kmsg_texts("qemu/stalls/irqoff/sysrq.kmsg"));
  const BacktraceSection* s = a.section(1);
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->rip, "delay_tsc+0x33/0xa0");
  EXPECT_TRUE(s->have_eflags);
  EXPECT_TRUE(s->irqs_off);  // EFLAGS 00000087
  EXPECT_TRUE(s->complete);
}

TEST(SysrqDump, RealRtHogCaughtEnteringASyscall) {
  auto a = assemble(kmsg_texts("qemu/stalls/rthog/sysrq.kmsg"));
  const BacktraceSection* s = a.section(1);
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->comm, "rt hog) R (1");
  EXPECT_EQ(s->pid, 104);
  EXPECT_EQ(s->rip, "entry_SYSCALL_64+0x0/0x29");
  EXPECT_TRUE(s->kernel_rip);
}

TEST(SysrqDump, RealUserModeSectionEndsAtTheFsLine) {
  std::vector<std::string> lines;
  std::string text = fixture("qemu/smp64/rthog/cpu1-user-mode-section.txt");
  for (std::size_t p = 0, n; p < text.size(); p = n + 1) {
    n = text.find('\n', p);
    lines.push_back(text.substr(p, n - p));
  }
  auto a = assemble(lines);
  const BacktraceSection* s = a.section(1);
  ASSERT_NE(s, nullptr);
  EXPECT_TRUE(s->user_rip);
  EXPECT_FALSE(s->kernel_rip);
  EXPECT_EQ(s->rip, "0x7ffd7abe6a29");
  EXPECT_TRUE(s->complete);  // no call trace follows user-mode registers
  EXPECT_TRUE(s->frames.empty());
}

TEST(SysrqDump, RealSixtyFourCpuDumpWithIdleCpus) {
  auto a = assemble(kmsg_texts("qemu/smp64/spin/sysrq.kmsg"));
  std::vector<int> all(64);
  std::iota(all.begin(), all.end(), 0);
  EXPECT_EQ(a.sections().size(), 64u);
  EXPECT_TRUE(a.complete_for(all));
  const BacktraceSection* idle = a.section(63);
  ASSERT_NE(idle, nullptr);
  EXPECT_TRUE(idle->idle);
  EXPECT_EQ(idle->rip, "native_safe_halt+0xb/0x10");
  EXPECT_TRUE(is_idle_function(idle->rip));
  const BacktraceSection* stuck = a.section(1);
  ASSERT_NE(stuck, nullptr);
  EXPECT_FALSE(stuck->idle);
  EXPECT_EQ(stuck->rip, "delay_tsc+0x33/0xa0");
  EXPECT_FALSE(is_idle_function(stuck->rip));
}

TEST(SysrqDump, RealDumpWithAnOfflineCpu) {
  auto a = assemble(kmsg_texts("qemu/offline/sysrq.kmsg"));
  EXPECT_EQ(a.sections().size(), 7u);
  EXPECT_EQ(a.section(5), nullptr);
  EXPECT_TRUE(a.complete_for({0, 1, 2, 3, 4, 6, 7}));
}

TEST(SysrqDump, CutShortTheLastSectionIsIncompleteUntilFinish) {
  auto texts = kmsg_texts("qemu/stalls/spin/sysrq.kmsg");
  std::vector<std::string> cut;
  for (const auto& t : texts) {
    cut.push_back(t);
    if (t == "Call Trace:" && cut.size() > 40) break;  // inside cpu 1's section
  }
  auto a = assemble(cut);
  ASSERT_NE(a.section(1), nullptr);
  EXPECT_TRUE(a.section(0)->complete);  // "Sending NMI ..." closed it
  EXPECT_FALSE(a.complete_for({0, 1}));
  a.finish();
  EXPECT_TRUE(a.complete_for({0, 1}));
}

TEST(SysrqDump, SectionLinesAreCapped) {
  auto a = assemble(kmsg_texts("qemu/stalls/spin/sysrq.kmsg"), 5);
  const BacktraceSection* s = a.section(1);
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->lines.size(), 5u);
  EXPECT_TRUE(s->truncated);
  EXPECT_EQ(s->rip, "delay_tsc+0x33/0xa0");  // parsing goes on past the cap
  EXPECT_TRUE(s->complete);
}

TEST(SysrqDump, LinesOutsideSectionsAndGarbage) {
  SysrqDumpAssembler a;
  a.add_line("random driver message");
  a.add_line("NMI backtrace for cpu x");
  EXPECT_TRUE(a.sections().empty());
  EXPECT_FALSE(a.saw_trigger());
  a.add_line("NMI backtrace for cpu 3");
  a.add_line("NMI backtrace for cpu 3");  // a second dump replaces the first section
  EXPECT_EQ(a.sections().size(), 1u);
}

}  // namespace
}  // namespace stallwatch::evidence
