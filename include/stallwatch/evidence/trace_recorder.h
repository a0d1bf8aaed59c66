// SPDX-License-Identifier: GPL-2.0-or-later
// TraceRecorder: the flight recorder. An ftrace instance of the daemon's own in tracefs
// (instances/stallwatch) records, on every CPU, sched_switch, irq_handler_entry/exit and
// softirq_entry/exit into per-CPU ring buffers in overwrite mode (bounded: buffer_kib per CPU),
// stamped with trace_clock "mono" -- the heartbeats' CLOCK_MONOTONIC. The kernel does the
// recording; the daemon pays nothing until a stall, when read_new() drains every CPU's
// per_cpu/cpuN/trace_pipe_raw without blocking (O_NONBLOCK) and decodes the records into a
// per-CPU cache the timeline is built from.
//
// Nothing here waits on a stalled CPU at stall time: the read-out is a non-blocking read() of
// ring-buffer pages (the writer is lockless; the reader takes only the reader lock), never the
// "trace" file (whose open waits for an RCU grace period, which a non-preemptible CPU holds off).
// Setting up and tearing down the instance do wait on every CPU (enabling a tracepoint patches
// kernel text and synchronizes all CPUs), so both run on the recorder's own SCHED_OTHER thread
// ("sw-trace"): start() never blocks, and stop() waits at most its budget (a teardown stuck behind
// a stalled CPU finishes on its own later). Setup goes through libtracefs; a host without tracefs,
// the events or the permission leaves the recorder "unavailable" with one note, never a refusal.
//
//   TraceRecorder rec(Sysroot(), {.buffer_kib = 256});
//   rec.start(128 * 1024);                        // any thread; returns at once
//   ...on the report worker, for a stall:
//   rec.read_new(cpu, deadline_ns, keep_from_ns, now);
//   TimelineInput in; in.events = rec.events(); ...
//   rec.stop(std::chrono::seconds(2));
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "stallwatch/core/clock.h"
#include "stallwatch/core/sysroot.h"
#include "stallwatch/evidence/trace_decode.h"

namespace stallwatch::evidence {

struct RecorderOptions {
  std::string instance = "stallwatch";
  std::size_t buffer_kib = 256;  // per CPU
};

class TraceRecorder {
 public:
  enum class State { kOff, kStarting, kRecording, kUnavailable };
  struct Shared;  // what the recorder thread shares with the object (it may outlive it)

  TraceRecorder(Sysroot root, RecorderOptions options);
  ~TraceRecorder();  // stop(2 s)
  TraceRecorder(const TraceRecorder&) = delete;
  TraceRecorder& operator=(const TraceRecorder&) = delete;

  // Starts the set-up on the recorder thread. Any thread; never blocks.
  void start(std::size_t stack_bytes);
  // Tears the instance down (tracing off, events off, instance removed) on the recorder thread and
  // waits for it at most `budget`.
  void stop(std::chrono::nanoseconds budget);

  State state() const;
  std::string note() const;    // why it is unavailable, or what it reused
  std::string source() const;  // "ftrace instance stallwatch (/sys/kernel/tracing)"

  // Report worker only. Drains what the kernel recorded since the last call, `first_cpu` first,
  // then every other CPU until `deadline_ns`; keeps the decoded events from `keep_from_ns` on.
  struct ReadStats {
    std::size_t pages = 0, events = 0, bytes = 0;
    std::vector<int> cpus_not_read;  // the deadline came first
    std::string error;               // a read failed (the others went on)
  };
  ReadStats read_new(int first_cpu, std::int64_t deadline_ns, std::int64_t keep_from_ns,
                     NowFn now = &mono_now_ns);
  // The decoded events per CPU (oldest first) and whether the kernel lost some inside them.
  const std::map<int, std::vector<TraceEvent>>& events() const { return cache_; }
  const std::map<int, bool>& lost() const { return lost_; }

 private:
  std::shared_ptr<Shared> shared_;
  std::map<int, std::vector<TraceEvent>> cache_;
  std::map<int, bool> lost_;
  std::vector<char> page_;
};

// Where tracefs is mounted according to <root>/proc/self/mounts ("" when nowhere): tracefs
// itself, else debugfs's "tracing" folder.
std::string find_tracefs(const Sysroot& root);

}  // namespace stallwatch::evidence
