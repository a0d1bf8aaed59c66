// SPDX-License-Identifier: GPL-2.0-or-later
// StallReport: the evidence gathered for one stall event and the verdict drawn from it.
// Built by the evidence collector on the report worker thread; read by the sinks on that same
// thread. Plain data, no thread sharing.
#pragma once

#include <string>
#include <vector>

#include "stallwatch/core/event.h"

namespace stallwatch {

struct StallReport {
  StallEvent event;
  std::string stall_class = "unknown";  // rt-hog, kernel-nonpreemptible, irq-storm,
                                        // interrupts-off, hypervisor-steal, global-pause, unknown
  std::string class_reason;             // the evidence that decided the class, one line
  // The culprit: the task found running on the stuck CPU (pid/tid 0 when none was found).
  int pid = 0;
  int tid = 0;
  std::string comm;
  std::string policy;  // SCHED_FIFO, SCHED_OTHER, ...
  int rt_priority = 0;
  int nice = 0;
  std::string summary;      // readable multi-line text for MESSAGE (culprit, stack, counters)
  std::string report_path;  // JSON report file, "" when not written
  std::vector<std::string> failed_steps;  // "step: reason" for each collection step that failed
  // An announced `stallwatchctl drill` (escalation/drill_announcement.h): STALLWATCH_DRILL=1,
  // stderr " drill=1", JSON "drill": true. Set by the report worker before the sinks run.
  bool drill = false;

  // Added by the evidence engine (include/stallwatch/evidence/engine.h):
  std::string cmdline;                       // the culprit's, truncated
  std::string cgroup;                        // the culprit's (unified hierarchy path)
  std::vector<std::string> stack;            // the culprit's kernel stack, else the CPU's NMI
                                             // backtrace frames ("" frames never)
  std::vector<std::string> kernel_verdicts;  // kernel stall messages attached to this report
  std::vector<std::string> notes;            // "sysrq unavailable", ... (not failures)
  std::string timeline_json;  // the flight recorder's timeline, a JSON object (docs/timeline.md);
                              // the report file holds it as "timeline"
  std::string details_json;   // every piece of evidence, a JSON object; the report
                              // file embeds it as "evidence"
};

}  // namespace stallwatch
