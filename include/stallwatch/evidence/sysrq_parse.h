// SPDX-License-Identifier: GPL-2.0-or-later
// Sysrq-l dump assembler: turns the /dev/kmsg message texts that follow `echo l >
// /proc/sysrq-trigger` into one section per CPU ("NMI backtrace for cpu N" up to the next
// section). Pure text processing, fed one record text at a time; owned by whoever reads the dump
// (the report worker thread), not shared.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace stallwatch::evidence {

struct BacktraceSection {
  int cpu = -1;
  std::vector<std::string> lines;  // the records' texts, section header first (kept escaped)
  bool idle = false;               // "NMI backtrace for cpu N skipped: idling at ..."
  bool complete = false;           // closing "</TASK>", a later section, or user-mode registers
  bool truncated = false;          // more lines than the per-section cap
  std::string rip;                 // "delay_tsc+0x2d/0x40" (kernel) or "0x401136" (user)
  bool kernel_rip = false;         // RIP with the kernel code segment (0010)
  bool user_rip = false;           // RIP with the user code segment (0033)
  bool have_eflags = false;        // "RSP: 0018:... EFLAGS: 00000087" of the interrupted context
  bool irqs_off = false;           // EFLAGS.IF (0x200) clear: interrupts were disabled
  int pid = 0;                     // "CPU: 1 PID: 90 Comm: insmod": the task on the CPU
  std::string comm;
  std::vector<std::string> frames;  // call-trace frames outside <NMI>, "? " guesses dropped
  // parse state
  bool in_trace = false;
  int depth = 0;
  bool in_nmi = false;
};

// True when a kernel RIP is one of the idle loops (an idle CPU is not stuck).
bool is_idle_function(std::string_view rip);

class SysrqDumpAssembler {
 public:
  explicit SysrqDumpAssembler(std::size_t max_lines_per_section = 200)
      : max_lines_(max_lines_per_section) {}

  // One record's message text (escaped as read from /dev/kmsg).
  void add_line(std::string_view text);
  // No more records will come (quiet period or deadline): closes the open section.
  void finish();

  bool saw_trigger() const { return saw_trigger_; }  // "sysrq: Show backtrace of all active CPUs"
  bool complete_for(const std::vector<int>& cpus) const;
  const BacktraceSection* section(int cpu) const;
  const std::vector<BacktraceSection>& sections() const { return sections_; }
  std::size_t lines_seen() const { return lines_seen_; }

 private:
  BacktraceSection* open_section();

  std::size_t max_lines_;
  std::vector<BacktraceSection> sections_;
  bool saw_trigger_ = false;
  std::size_t lines_seen_ = 0;
};

}  // namespace stallwatch::evidence
