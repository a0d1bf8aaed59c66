// SPDX-License-Identifier: GPL-2.0-or-later
// Timeline: the seconds before a stall, per CPU, built from the flight recorder's events
// (trace_decode.h) -- what ran (task segments from sched_switch), which hard IRQs and softirqs
// ran inside it, the event after which the stalled CPU went silent and who held it through the
// silence. Pure: build_timeline() takes events and times, no clock, no I/O; the report carries
// timeline_to_json() (schema: docs/timeline.md). Report worker thread only.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "stallwatch/evidence/trace_decode.h"

namespace stallwatch::evidence {

enum class SegmentKind : std::uint8_t { kTask, kIdle, kIrq, kSoftirq };

struct TimelineSegment {
  std::int64_t start = 0;
  std::int64_t end = 0;
  SegmentKind kind = SegmentKind::kTask;
  std::string label;  // sanitized: "insmod:412", "idle", "irq 11 (virtio0)", "softirq TIMER"
  std::string comm;   // tasks: sanitized comm
  int pid = 0;        // tasks: thread id
  int prio = 0;       // tasks: kernel prio (< 100: real-time)
  int num = -1;       // irq number or softirq vector
  bool open = false;  // still running at the window's end: no event ended it
};

struct CpuTimeline {
  int cpu = -1;
  std::size_t events = 0;  // inside the window
  std::size_t switches = 0, irqs = 0, softirqs = 0;
  double irq_per_s = 0;
  bool lost_events = false;
  std::size_t truncated = 0;  // segments left out to bound the report
  std::int64_t first_event = 0;  // the oldest event the recorder still had for this CPU
  std::vector<TimelineSegment> segments;  // time order (irq/softirq inside their task's)
};

struct Timeline {
  // recorded | disabled | unavailable | empty | failed
  std::string status = "disabled";
  std::string note;
  std::string source;
  int stalled_cpu = -1;
  std::int64_t window_start = 0, silence = 0, detected = 0;
  struct SilentAfter {
    std::string kind = "none";  // switch | irq | softirq | none
    std::string text;
    std::int64_t ts = 0;
    int irq = -1, vec = -1;
  } silent_after;
  bool have_holder = false;
  TimelineSegment holder;  // who covered most of [silence, detected] on the stalled CPU
  double holder_share = 0;
  std::int64_t read_ns = 0;
  std::vector<CpuTimeline> cpus;  // the stalled CPU first, then by number
};

struct TimelineInput {
  int stalled_cpu = -1;
  std::int64_t window_start = 0;  // silence - [timeline] seconds
  std::int64_t silence = 0;       // the stalled CPU's last heartbeat stamp
  std::int64_t detected = 0;      // the window's end
  // Every CPU's events, oldest first (may start before the window: the task on the CPU when it
  // opens is taken from the last switch before it).
  std::map<int, const std::vector<TraceEvent>*> events;
  std::map<int, bool> lost;  // the kernel overwrote or dropped events of this CPU
  std::size_t max_segments_stalled = 400;
  std::size_t max_segments_other = 120;
};

Timeline build_timeline(const TimelineInput& in);

// The "timeline" object of a report (docs/timeline.md), as JSON text.
std::string timeline_to_json(const Timeline& t);

// One line for the report summary ("" when there is nothing to say).
std::string timeline_summary(const Timeline& t);

}  // namespace stallwatch::evidence
