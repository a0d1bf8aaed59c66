// SPDX-License-Identifier: GPL-2.0-or-later
// EvidenceEngine: the integration point the daemon calls. start() launches the background
// threads -- the /dev/kmsg verdict reader, the once-a-second counter sampler, and two BoundedIo
// helpers (per-task /proc reads that may block, the sysrq write) -- all SCHED_OTHER with explicit
// 128 KiB stacks (512 KiB locked under mlockall), stopped promptly through eventfds/condvars.
// collect() gathers and classifies the evidence for one stall event within cfg.budget; store()
// writes the per-episode JSON report file. collect() and store() run on the daemon's report
// worker thread only; the engine's own state (episode cache, sysrq rate limit) is touched by that
// thread alone, the background threads share only CounterHistory and KmsgReader, each with its
// own lock.
//
//   EvidenceEngine engine(Sysroot(), config.evidence, config.heartbeat.priority,
//                         config.daemon.state_dir);
//   engine.start();
//   ...on the report worker, for a StallEvent ev:
//   StallReport r = engine.collect(ev, now_mono_ns);  // kStall, kOngoing, kGlobalPause, ...
//   engine.store(r);                                  // sets r.report_path
//   sink.fire(ev, &r);
//   ...
//   engine.stop();
#pragma once

#include <pthread.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "stallwatch/core/config.h"
#include "stallwatch/core/event.h"
#include "stallwatch/core/stall_report.h"
#include "stallwatch/core/sysroot.h"
#include "stallwatch/core/unique_fd.h"
#include "stallwatch/evidence/bounded_io.h"
#include "stallwatch/evidence/counters.h"
#include "stallwatch/evidence/evidence.h"
#include "stallwatch/evidence/kmsg_reader.h"
#include "stallwatch/evidence/report_store.h"
#include "stallwatch/evidence/sysrq_parse.h"
#include "stallwatch/evidence/task_scan.h"
#include "stallwatch/evidence/trace_recorder.h"

namespace stallwatch::evidence {

// Knobs with daemon defaults that tests and the benchmark change.
struct EngineTuning {
  // Periodic counter sampling; 0 = only on request_sample() (the daemon: when a heartbeat is
  // half-way to a stall), so an idle machine pays nothing for baselines.
  std::chrono::nanoseconds sample_interval = std::chrono::seconds(1);
  std::chrono::nanoseconds schedstat_gap = std::chrono::milliseconds(20);  // between 2 samples
  std::chrono::nanoseconds per_read_timeout = std::chrono::milliseconds(50);
  std::size_t thread_stack_bytes = 128 * 1024;
  std::size_t max_detailed_tasks = 8;       // tasks whose stack/cmdline/... are read
  std::size_t max_updates_per_episode = 8;  // report updates kept in one episode file
  int exclude_pid = -1;                     // -1: getpid() (the daemon's starved heartbeat)
  // The calling thread's nice value while collect() runs (restored after): a stall is when the
  // machine is busiest, and the scan should not queue behind the load it is diagnosing. Applied
  // only when lower than the thread's own and permitted; 0 = leave it alone.
  int collect_nice = -10;
  long clk_tck = 0;  // 0: sysconf(_SC_CLK_TCK)
  NowFn now = &mono_now_ns;
};

class EvidenceEngine {
 public:
  EvidenceEngine(Sysroot root, EvidenceConfig cfg, int heartbeat_priority, std::string state_dir,
                 evidence::EngineTuning tuning = {});
  ~EvidenceEngine();
  EvidenceEngine(const EvidenceEngine&) = delete;
  EvidenceEngine& operator=(const EvidenceEngine&) = delete;

  // Starts the kmsg reader and the counter sampler. What cannot start (no /dev/kmsg) is logged
  // and noted in later reports; never fatal.
  // The flight recorder (trace_recorder.h), off unless set before start(): the daemon sets it
  // from [timeline]; unit tests leave it off.
  void set_timeline(const TimelineConfig& cfg) { timeline_cfg_ = cfg; }
  void start();
  void stop();  // joins both threads; prompt
  // Takes a counter sample now (on the sampler thread): the baseline for a stall that may come.
  // Any thread; never blocks.
  void request_sample();

  // For kStall / kOngoing (kOngoing re-collects at most every cfg.ongoing_min_interval, else it
  // repeats the episode's last verdict); kGlobalPause yields class global-pause without
  // collecting; other kinds repeat the episode's last verdict. Bounded by cfg.budget.
  // Never throws: a step that throws (a last resort; steps record their own failures) gives a
  // report without evidence whose failed_steps says why, so the sinks -- escalation among
  // them -- still run.
  StallReport collect(const StallEvent& ev, std::int64_t now_mono_ns);
  // Writes (or rewrites) the episode's JSON file under <state_dir>/reports and sets report_path
  // ("" when the write failed: logged, rate-limited).
  void store(StallReport& report);

  // The evidence behind the last collect() (tests, benchmark).
  const evidence::Evidence& last_evidence() const { return last_; }
  // Feeds a counter baseline sample (the sampler thread does this every second).
  void add_counter_sample(evidence::SamplePtr sample) { history_.push(std::move(sample)); }
  evidence::KmsgReader& kmsg() { return kmsg_; }
  const std::string& reports_dir() const { return store_.dir(); }

 private:
  StallReport collect_steps(const StallEvent& ev, std::int64_t now_mono_ns);
  struct Episode {
    StallReport last;               // the last collected report
    std::int64_t collected_ns = 0;  // when it was collected
    evidence::SamplePtr baseline;   // counter baseline used for the stall
    std::string baseline_kind;
    evidence::Timeline timeline;       // the stall's: ongoing reports repeat it
    std::vector<std::string> updates;  // JSON objects written to the episode file
    std::string file_name;
    std::uint64_t order = 0;
  };
  using EpisodeKey = std::pair<int, std::uint64_t>;  // cpu, episode

  void sampler_run();
  Episode& episode(const StallEvent& ev);

  StallReport repeat_last(const StallEvent& ev, const char* why);

  // collect()'s steps (engine_collect.cpp), in order.
  struct Collection;
  void step_counters_now(Collection& c);
  void step_trigger_backtrace(Collection& c);
  void step_timeline(Collection& c, Episode& ep);
  void step_scan_tasks(Collection& c);
  void step_read_backtrace(Collection& c);
  void step_verdicts(Collection& c);
  void step_task_details(Collection& c);
  void step_counter_deltas(Collection& c, Episode& ep);
  void step_system(Collection& c);

  Sysroot root_;
  EvidenceConfig cfg_;
  int heartbeat_priority_;
  evidence::EngineTuning tuning_;
  std::string run_id_;
  evidence::ReportStore store_;
  evidence::CounterHistory history_;
  evidence::KmsgReader kmsg_;
  std::string kmsg_error_;
  evidence::BoundedIo detail_io_{"sw-evio"};
  evidence::BoundedIo sysrq_io_{"sw-sysrq"};
  TimelineConfig timeline_cfg_{false, std::chrono::seconds(2), 256};
  std::unique_ptr<evidence::TraceRecorder> recorder_;

  // sysrq rate limit and the last dump (reused for other CPUs stalled at the same time)
  std::int64_t last_sysrq_ns_ = 0;
  bool sysrq_ever_ = false;
  std::vector<evidence::BacktraceSection> cached_sections_;
  std::int64_t cached_sections_ns_ = 0;

  std::map<EpisodeKey, Episode> episodes_;
  std::uint64_t episode_order_ = 0;
  evidence::Evidence last_;

  UniqueFd stop_fd_;
  UniqueFd sample_fd_;
  pthread_t sampler_{};
  bool sampler_running_ = false;
};

}  // namespace stallwatch::evidence
