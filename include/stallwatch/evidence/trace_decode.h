// SPDX-License-Identifier: GPL-2.0-or-later
// Trace records: the flight recorder's raw input decoded into plain events. The kernel writes
// binary records into per-CPU ring buffers; userspace reads whole sub-buffers ("pages") from
// tracefs per_cpu/cpuN/trace_pipe_raw. The record layout of each event is described by its
// tracefs "format" file (field name, offset, size), read once at start, so nothing here assumes
// a kernel version. Pages are walked with libtraceevent's kbuffer (time extends, padding,
// absolute stamps); every field read is bounds-checked against the record, so a malformed page
// yields fewer events, never a read outside it (fuzz/fuzz_trace_page.cpp).
//
//   TraceSchema schema = *make_trace_schema(formats);     // formats: event name -> format text
//   TraceDecoder dec(schema);
//   std::vector<TraceEvent> out;
//   dec.decode(page_bytes, &out);                          // appends, oldest first
//
// Pure data and functions; a TraceDecoder is used by one thread at a time.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "stallwatch/core/result.h"

struct kbuffer;

namespace stallwatch::evidence {

// The five tracepoints the recorder enables ("system/event").
inline constexpr const char* kTraceEvents[] = {
    "sched/sched_switch", "irq/irq_handler_entry", "irq/irq_handler_exit",
    "irq/softirq_entry",  "irq/softirq_exit",
};

// Enabled when the kernel has it: a task's new name (exec, PR_SET_NAME), so a task renamed while
// on the CPU (taskset exec'ing insmod) is named by its new name.
// And x86's local timer interrupt, which is no irq_handler_entry: a CPU stuck in an hrtimer
// callback is inside it.
inline constexpr const char* kTraceOptionalEvents[] = {
    "task/task_rename", "irq_vectors/local_timer_entry", "irq_vectors/local_timer_exit"};

// The irq number a local timer interrupt is given in TraceEvent::num.
inline constexpr int kLocalTimerIrq = -2;

enum class TraceKind : std::uint8_t {
  kSwitch,
  kIrqEntry,
  kIrqExit,
  kSoftirqEntry,
  kSoftirqExit,
  kRename,
};

struct TraceEvent {
  std::int64_t ts = 0;  // the ring's clock (trace_clock mono: CLOCK_MONOTONIC ns)
  TraceKind kind = TraceKind::kSwitch;
  std::int32_t num = 0;   // switch: next_pid; irq: irq number; softirq: vector; rename: pid
  std::int32_t prio = 0;  // switch: next_prio (kernel prio: < 100 real-time); irq exit: ret
  std::int32_t prev_pid = 0;
  std::int32_t prev_prio = 0;
  std::int64_t prev_state = 0;
  char name[32] = {};  // switch: next_comm; irq entry: handler name (truncated); rename: newcomm
  char prev_name[16] = {};  // switch: prev_comm
};

// One field of a record, from a format file.
struct TraceField {
  int offset = -1;
  int size = 0;
  bool is_signed = false;
  bool data_loc = false;  // __data_loc: a u32 (length << 16 | offset) pointing into the record
};

// One event's format file, parsed.
struct TraceFormat {
  std::string name;
  int id = -1;
  std::map<std::string, TraceField, std::less<>> fields;
};

// Parses a tracefs events/<system>/<event>/format file.
Result<TraceFormat> parse_trace_format(std::string_view text);

// Ids and field positions of the five events.
struct TraceSchema {
  struct Switch {
    int id = -1;
    TraceField prev_comm, prev_pid, prev_prio, prev_state, next_comm, next_pid, next_prio;
  } sched_switch;
  struct IrqEntry {
    int id = -1;
    TraceField irq, name;
  } irq_entry;
  struct IrqExit {
    int id = -1;
    TraceField irq, ret;
  } irq_exit;
  struct Softirq {
    int id = -1;
    TraceField vec;
  } softirq_entry, softirq_exit;
  struct Rename {  // optional: id -1 when the kernel has no task_rename
    int id = -1;
    TraceField pid, newcomm;
  } task_rename;
  struct LocalTimer {  // optional (x86): ids -1 elsewhere
    int id = -1;
  } local_timer_entry, local_timer_exit;
};

// From the five format texts, keyed "system/event" as in kTraceEvents (and, when present, those of
// kTraceOptionalEvents). Errors name the event and the missing field.
Result<TraceSchema> make_trace_schema(const std::map<std::string, std::string>& formats);

class TraceDecoder {
 public:
  explicit TraceDecoder(TraceSchema schema);
  ~TraceDecoder();
  TraceDecoder(const TraceDecoder&) = delete;
  TraceDecoder& operator=(const TraceDecoder&) = delete;

  struct PageResult {
    std::size_t events = 0;  // appended
    bool missed = false;     // the kernel dropped or overwrote events before this page
    bool malformed = false;  // the page header or a record did not fit: the rest was skipped
  };
  // Decodes one sub-buffer as read from trace_pipe_raw (header: u64 timestamp, long commit).
  PageResult decode(std::string_view page, std::vector<TraceEvent>* out);

 private:
  TraceSchema schema_;
  kbuffer* kbuf_ = nullptr;
  std::vector<std::uint64_t> scratch_;  // page copy, 8-byte aligned, zero padded
};

// "TIMER" for softirq vector 1, ... ("vec N" beyond the kernel's list).
std::string softirq_name(int vec);

}  // namespace stallwatch::evidence
