// SPDX-License-Identifier: GPL-2.0-or-later
// EvidenceEngine::collect(): the collection steps, in order. Each step is timed into
// Evidence::steps and names its failures in Evidence::failed_steps; the others go on.
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <exception>
#include <thread>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "stallwatch/core/cpuset.h"
#include "stallwatch/core/sanitize.h"
#include "stallwatch/evidence/classify.h"
#include "stallwatch/evidence/engine.h"
#include "stallwatch/evidence/report_json.h"
#include "stallwatch/evidence/sysrq_backtrace.h"

namespace stallwatch::evidence {

namespace {

// How long the trigger step waits for the sysrq write. The kernel busy-waits in that write until
// every CPU answered the NMI (10 s at most); the records are read back after the task scan.
constexpr auto kSysrqWriteWait = std::chrono::milliseconds(20);
// Kernel verdicts this far before the stall start still concern it (timestamps differ a little).
constexpr std::int64_t kVerdictSlackNs = 2'000'000'000;

// Times one collection step into ev.steps.
class StepTimer {
 public:
  StepTimer(Evidence& ev, const char* name, NowFn now)
      : ev_(ev), name_(name), now_(now), t0_(now()) {}
  ~StepTimer() { ev_.steps.push_back({name_, now_() - t0_, ok_}); }
  StepTimer(const StepTimer&) = delete;
  StepTimer& operator=(const StepTimer&) = delete;
  void fail(const std::string& why) {
    ok_ = false;
    ev_.failed_steps.push_back(name_ + ": " + why);
  }

 private:
  Evidence& ev_;
  std::string name_;
  NowFn now_;
  std::int64_t t0_;
  bool ok_ = true;
};

// Raises the calling thread's CFS weight for its lifetime (see EngineTuning::collect_nice).
class NiceBoost {
 public:
  explicit NiceBoost(int nice) {
    if (nice == 0) return;
    tid_ = static_cast<id_t>(::gettid());
    errno = 0;
    int cur = ::getpriority(PRIO_PROCESS, tid_);
    if (errno != 0 || cur <= nice) return;
    if (::setpriority(PRIO_PROCESS, tid_, nice) == 0) {
      restore_ = true;
      old_ = cur;
    }
  }
  ~NiceBoost() {
    if (restore_) ::setpriority(PRIO_PROCESS, tid_, old_);
  }
  NiceBoost(const NiceBoost&) = delete;
  NiceBoost& operator=(const NiceBoost&) = delete;

 private:
  id_t tid_ = 0;
  int old_ = 0;
  bool restore_ = false;
};

}  // namespace

// The state one collect() call carries from step to step.
struct EvidenceEngine::Collection {
  Evidence ev;
  std::int64_t t0 = 0;
  std::int64_t deadline = 0;
  SamplePtr now_sample;
  std::unique_ptr<SysrqBacktrace> sysrq;
  std::int64_t trigger_ns = 0;
  std::vector<int> online;
  std::int64_t scan_done_ns = 0;
};

StallReport EvidenceEngine::collect(const StallEvent& event, std::int64_t now_mono_ns) {
  try {
    return collect_steps(event, now_mono_ns);
  } catch (const std::exception& e) {
    static std::uint64_t failures = 0;  // report worker thread only
    if (failures++ % 100 == 0) spdlog::error("evidence collection failed: {}", e.what());
    StallReport r;
    r.event = event;
    r.failed_steps.push_back(std::string("evidence: ") + e.what());
    return r;
  }
}

StallReport EvidenceEngine::collect_steps(const StallEvent& event, std::int64_t now_mono_ns) {
  if (event.kind == EventKind::kGlobalPause) {
    Evidence ev;
    ev.event = event;
    ev.collected_mono_ns = now_mono_ns;
    StallReport r;
    fill_report(ev, classify(ev), &r);
    return r;
  }
  if (!cfg_.enabled) {
    StallReport r;
    r.event = event;
    r.notes.push_back("evidence collection disabled");
    return r;
  }
  if (event.kind != EventKind::kStall && event.kind != EventKind::kOngoing)
    return repeat_last(event, "evidence not re-collected for this event kind");
  {
    Episode& ep = episode(event);
    if (event.kind == EventKind::kOngoing && ep.collected_ns != 0 &&
        now_mono_ns - ep.collected_ns < cfg_.ongoing_min_interval.count())
      return repeat_last(event, "evidence not re-collected (evidence.ongoing_min_interval)");
  }

  NiceBoost boost(tuning_.collect_nice);
  Collection c;
  c.t0 = tuning_.now();
  c.deadline = c.t0 + cfg_.budget.count();
  c.ev.event = event;
  c.ev.heartbeat_priority = heartbeat_priority_;

  step_counters_now(c);              // the end of the counter window: cheap and time-sensitive
  step_trigger_backtrace(c);         // its records are read back after the scan
  step_timeline(c, episode(event));  // while the NMIs answer: local, non-blocking reads
  step_scan_tasks(c);
  step_read_backtrace(c);
  step_verdicts(c);
  step_system(c);        // the RT throttling budget, which sets the schedstat gap
  step_task_details(c);  // which task holds the CPU, then its details
  step_counter_deltas(c, episode(event));

  c.ev.collected_mono_ns = tuning_.now();
  Classification cls = classify(c.ev);
  culprit_from_timeline(&c.ev, &cls);
  StallReport report;
  fill_report(c.ev, cls, &report);
  Episode& ep = episode(event);
  ep.last = report;
  if (event.kind == EventKind::kStall) ep.timeline = c.ev.timeline;
  ep.collected_ns = now_mono_ns;
  last_ = std::move(c.ev);
  return report;
}

void EvidenceEngine::step_counters_now(Collection& c) {
  StepTimer st(c.ev, "counters-now", tuning_.now);
  std::vector<std::string> errors;
  c.now_sample =
      std::make_shared<CounterSample>(read_counter_sample(root_, tuning_.now(), &errors));
  for (auto& e : errors) st.fail(e);
}

void EvidenceEngine::step_trigger_backtrace(Collection& c) {
  auto& bt = c.ev.backtrace;
  const int cpu = c.ev.event.cpu;
  bt.cpu = cpu;
  StepTimer st(c.ev, "sysrq-trigger", tuning_.now);
  const bool cache_usable =
      !cached_sections_.empty() && cached_sections_ns_ >= c.ev.event.stall_start_mono_ns;
  if (!cfg_.sysrq_backtrace) {
    bt.status = "disabled";
    return;
  }
  if (!root_.exists("/proc/sysrq-trigger")) {
    bt.status = "unavailable";
    c.ev.notes.push_back("sysrq unavailable");
    return;
  }
  // System-wide rate limit: it NMIs every CPU. A recent dump still serves the other CPUs of the
  // same incident.
  if (sysrq_ever_ && c.t0 - last_sysrq_ns_ < cfg_.sysrq_min_interval.count()) {
    bt.status = cache_usable ? "cached" : "rate-limited";
    if (!cache_usable)
      c.ev.notes.push_back("sysrq backtrace rate-limited (evidence.sysrq_min_interval)");
    return;
  }
  if (auto text = root_.read_file("/sys/devices/system/cpu/online", 4096))
    if (auto parsed = parse_cpulist(*text)) c.online = std::move(*parsed);
  if (std::find(c.online.begin(), c.online.end(), cpu) == c.online.end()) c.online.push_back(cpu);
  c.sysrq = std::make_unique<SysrqBacktrace>(root_);
  sysrq_ever_ = true;
  last_sysrq_ns_ = c.t0;
  c.trigger_ns = tuning_.now();
  if (auto s = c.sysrq->trigger(sysrq_io_, kSysrqWriteWait); !s) {
    if (s.error().message.rfind("timed out", 0) == 0) {
      bt.note = "the sysrq write was still in progress after the trigger step";
    } else {
      bt.status = "failed";
      st.fail(s.error().message);
      c.sysrq.reset();
    }
  }
}

void EvidenceEngine::step_timeline(Collection& c, Episode& ep) {
  Timeline& tl = c.ev.timeline;
  if (!timeline_cfg_.enabled || !recorder_) return;  // status "disabled"
  StepTimer st(c.ev, "timeline", tuning_.now);
  const StallEvent& e = c.ev.event;
  if (e.kind == EventKind::kOngoing && ep.timeline.status == "recorded") {
    tl = ep.timeline;  // the seconds before the stall do not change
    tl.note = "the stall's first timeline (the CPU is still silent)";
    return;
  }
  switch (recorder_->state()) {
    case TraceRecorder::State::kRecording: break;
    case TraceRecorder::State::kUnavailable:
      tl.status = "unavailable";
      tl.note = recorder_->note();
      c.ev.notes.push_back("timeline unavailable: " + tl.note);
      return;
    default:
      tl.status = "unavailable";
      tl.note = "the flight recorder was still starting";
      c.ev.notes.push_back("timeline unavailable: " + tl.note);
      return;
  }
  const std::int64_t t0 = tuning_.now();
  const std::int64_t window = timeline_cfg_.seconds.count();
  // A quarter of the budget at most: the other CPUs are read until then, the stalled one first.
  const std::int64_t deadline = std::min(c.deadline, t0 + cfg_.budget.count() / 4);
  const std::int64_t keep_from =
      std::min(e.stall_start_mono_ns - window, t0 - window - e.threshold_ns - 5'000'000'000);
  auto rs = recorder_->read_new(e.cpu, deadline, keep_from, tuning_.now);
  TimelineInput in;
  in.stalled_cpu = e.cpu;
  in.silence = e.stall_start_mono_ns;
  in.window_start = in.silence - window;
  in.detected = e.detected_mono_ns;
  for (const auto& [cpu, evs] : recorder_->events()) in.events[cpu] = &evs;
  for (int cpu : rs.cpus_not_read) in.events.erase(cpu);
  in.lost = recorder_->lost();
  tl = build_timeline(in);
  tl.source = recorder_->source();
  std::string note = recorder_->note();
  auto add = [&](const std::string& s) {
    if (!s.empty()) note += (note.empty() ? "" : "; ") + s;
  };
  if (!rs.cpus_not_read.empty())
    add(fmt::format("{} CPUs not read within the budget", rs.cpus_not_read.size()));
  add(rs.error);
  if (!rs.error.empty()) st.fail(rs.error);
  for (const auto& cpu : tl.cpus)
    if (cpu.cpu == e.cpu && cpu.lost_events) add("the kernel lost events of the stalled CPU");
  if (!tl.note.empty()) add(tl.note);
  tl.note = note;
  tl.read_ns = tuning_.now() - t0;
}

void EvidenceEngine::step_scan_tasks(Collection& c) {
  StepTimer st(c.ev, "tasks", tuning_.now);
  TaskScanOptions opts;
  opts.cpu = c.ev.event.cpu;
  opts.exclude_pid = tuning_.exclude_pid;
  // Half the budget from the start, but at least a quarter from now if earlier steps were slow.
  opts.deadline_ns = std::min(c.deadline, std::max(c.t0 + cfg_.budget.count() / 2,
                                                   tuning_.now() + cfg_.budget.count() / 4));
  opts.now = tuning_.now;
  TaskScanResult scan = scan_cpu_tasks(root_, opts);
  c.ev.tasks = std::move(scan.candidates);
  c.ev.tasks_scanned = scan.tasks_scanned;
  if (!scan.error.empty()) st.fail(scan.error);
  if (scan.budget_exhausted)
    st.fail(fmt::format("budget exhausted after {} tasks in {} processes", scan.tasks_scanned,
                        scan.processes_scanned));
  c.scan_done_ns = tuning_.now();
}

void EvidenceEngine::step_read_backtrace(Collection& c) {
  auto& bt = c.ev.backtrace;
  StepTimer st(c.ev, "sysrq-read", tuning_.now);
  const std::vector<BacktraceSection>* sections = nullptr;
  if (c.sysrq) {
    c.sysrq->read_until(c.online, std::min(c.trigger_ns + cfg_.sysrq_wait.count(), c.deadline),
                        tuning_.now);
    bt.wait_ns = tuning_.now() - c.trigger_ns;
    const auto& dump = c.sysrq->dump();
    cached_sections_ = dump.sections();
    cached_sections_ns_ = c.trigger_ns;
    sections = &cached_sections_;
    bt.status = dump.complete_for(c.online) ? "complete" : "partial";
    if (!dump.saw_trigger() && dump.sections().empty()) {
      bt.status = "failed";
      st.fail("no backtrace records within evidence.sysrq_wait");
    }
    for (int cpu : c.online) (dump.section(cpu) ? bt.cpus_seen : bt.cpus_missing).push_back(cpu);
  } else if (bt.status == "cached") {
    sections = &cached_sections_;
  }
  if (sections == nullptr) return;
  for (const auto& s : *sections) {
    if (s.cpu != c.ev.event.cpu) continue;
    bt.have_section = true;
    bt.idle = s.idle;
    bt.kernel_rip = s.kernel_rip;
    bt.user_rip = s.user_rip;
    bt.irqs_off = s.have_eflags && s.irqs_off;
    bt.rip = s.rip;
    bt.pid = s.pid;
    bt.comm = s.comm;
    bt.section = s.lines;
    bt.frames = s.frames;
  }
  if (!bt.have_section && bt.status != "failed")
    bt.note = fmt::format("no section for CPU {} in the dump", c.ev.event.cpu);
}

void EvidenceEngine::step_verdicts(Collection& c) {
  StepTimer st(c.ev, "kernel-verdicts", tuning_.now);
  if (!kmsg_.running()) {
    c.ev.notes.push_back("kernel verdicts unavailable" +
                         (kmsg_error_.empty() ? std::string() : ": " + kmsg_error_));
    return;
  }
  c.ev.verdicts =
      kmsg_.verdicts_for(c.ev.event.cpu, c.ev.event.stall_start_mono_ns - kVerdictSlackNs,
                         tuning_.now() + kVerdictSlackNs);
  c.ev.kmsg_lost_records = kmsg_.lost_records();
}

void EvidenceEngine::step_task_details(Collection& c) {
  Evidence& ev = c.ev;
  const int cpu = ev.event.cpu;
  const NowFn now = tuning_.now;
  StepTimer st(ev, "task-details", now);
  int nmi_tid = ev.backtrace.have_section && !ev.backtrace.idle ? ev.backtrace.pid : 0;
  int verdict_tid = 0;
  for (const auto& v : ev.verdicts)
    if (v.match.kind == VerdictKind::kSoftLockup && v.match.pid > 0 &&
        std::find(v.cpus.begin(), v.cpus.end(), cpu) != v.cpus.end())
      verdict_tid = v.match.pid;
  // The task the kernel saw on the CPU may have left state R since, or the scan ran out of time.
  for (int tid : {nmi_tid, verdict_tid}) {
    if (tid <= 0) continue;
    bool known = std::any_of(ev.tasks.begin(), ev.tasks.end(),
                             [&](const TaskEvidence& t) { return t.tid == tid; });
    if (!known)
      if (auto t = read_task(root_, tid); t && t->pid != tuning_.exclude_pid)
        ev.tasks.push_back(std::move(*t));
  }
  // Runtime growth needs time between the two schedstat samples.
  if (ev.tasks.size() >= 2 && nmi_tid == 0 && verdict_tid == 0) {
    const std::int64_t gap =
        schedstat_gap_ns(tuning_.schedstat_gap.count(), ev.system.have_rt_runtime,
                         ev.system.sched_rt_period_us, ev.system.sched_rt_runtime_us);
    std::int64_t wait = std::min(c.scan_done_ns + gap, c.deadline) - now();
    if (wait > 0) std::this_thread::sleep_for(std::chrono::nanoseconds(wait));
  }
  resample_schedstat(root_, &ev.tasks);
  ev.running_reason = pick_running(&ev.tasks, nmi_tid, verdict_tid);
  ev.running_certain = !ev.running_reason.empty() &&
                       ev.running_reason.find("no runtime growth") == std::string::npos;
  DetailLimits limits;
  limits.per_read_timeout = tuning_.per_read_timeout;
  limits.deadline_ns = c.deadline;
  limits.now = now;
  for (std::size_t i = 0; i < ev.tasks.size() && i < tuning_.max_detailed_tasks; ++i) {
    if (now() >= c.deadline) {
      st.fail(fmt::format("budget exhausted before task {} of {}", i + 1, ev.tasks.size()));
      break;
    }
    read_task_details(root_, detail_io_, limits, &ev.tasks[i]);
  }
}

void EvidenceEngine::step_counter_deltas(Collection& c, Episode& ep) {
  Evidence& ev = c.ev;
  StepTimer st(ev, "counters", tuning_.now);
  // An ongoing report keeps the stall's baseline: its deltas cover the whole episode.
  SamplePtr base = ep.baseline;
  std::string kind = ep.baseline_kind;
  if (!base) {
    base = history_.baseline_for(ev.event.stall_start_mono_ns, c.now_sample->mono_ns, &kind);
    if (base) {
      ep.baseline = base;
      ep.baseline_kind = kind;
    }
  }
  if (!base) {
    st.fail("no baseline sample yet");
    return;
  }
  ev.counters = compute_counter_delta(*base, *c.now_sample, ev.event.cpu, tuning_.clk_tck);
  ev.counters.window_kind = kind;
  if (!ev.counters.have_stat) st.fail(fmt::format("no /proc/stat line for cpu{}", ev.event.cpu));
}

void EvidenceEngine::step_system(Collection& c) {
  Evidence& ev = c.ev;
  StepTimer st(ev, "system", tuning_.now);
  if (auto cs =
          root_.read_file("/sys/devices/system/clocksource/clocksource0/current_clocksource", 256))
    ev.system.clocksource = sanitize_text(trim(*cs));
  else
    st.fail(cs.error().message);
  auto runtime = root_.read_file("/proc/sys/kernel/sched_rt_runtime_us", 64);
  auto period = root_.read_file("/proc/sys/kernel/sched_rt_period_us", 64);
  if (runtime && period && parse_i64(trim(*runtime), &ev.system.sched_rt_runtime_us) &&
      parse_i64(trim(*period), &ev.system.sched_rt_period_us))
    ev.system.have_rt_runtime = true;
  else
    st.fail("sched_rt_runtime_us unreadable");
}

}  // namespace stallwatch::evidence
