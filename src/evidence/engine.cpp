#include "stallwatch/evidence/engine.h"

#include <poll.h>
#include <sys/resource.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <thread>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "stallwatch/evidence/classify.h"
#include "stallwatch/evidence/report_json.h"
#include "stallwatch/evidence/sysrq_backtrace.h"
#include "thread_util.h"

namespace stallwatch {

using namespace evidence;

namespace {

constexpr auto kSysrqWriteWait = std::chrono::milliseconds(20);

// "20261121T101502Z" (file names) or "2026-11-21T10:15:02Z" (report contents).
std::string utc_stamp(bool compact) {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  tm t{};
  gmtime_r(&ts.tv_sec, &t);
  char buf[64];
  if (compact) std::strftime(buf, sizeof buf, "%Y%m%dT%H%M%SZ", &t);
  else std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &t);
  return buf;
}

// Times one collection step into ev.steps.
class StepTimer {
 public:
  StepTimer(Evidence& ev, const char* name, NowFn now) : ev_(ev), name_(name), now_(now), t0_(now()) {}
  ~StepTimer() { ev_.steps.push_back({name_, now_() - t0_, ok_}); }
  void fail(std::string why) {
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

EvidenceEngine::EvidenceEngine(Sysroot root, EvidenceConfig cfg, int heartbeat_priority,
                               std::string state_dir, EngineTuning tuning)
    : root_(std::move(root)),
      cfg_(cfg),
      heartbeat_priority_(heartbeat_priority),
      tuning_(tuning),
      run_id_(utc_stamp(true)),
      store_(state_dir + "/reports", cfg.max_reports, cfg.max_report_bytes),
      kmsg_(root_) {
  if (tuning_.exclude_pid < 0) tuning_.exclude_pid = static_cast<int>(::getpid());
  if (tuning_.clk_tck <= 0) tuning_.clk_tck = ::sysconf(_SC_CLK_TCK);
  if (tuning_.clk_tck <= 0) tuning_.clk_tck = 100;
}

EvidenceEngine::~EvidenceEngine() { stop(); }

void EvidenceEngine::start() {
  if (auto s = kmsg_.start(tuning_.thread_stack_bytes); !s) {
    kmsg_error_ = s.error().message;
    spdlog::warn("kernel verdicts unavailable: {}", kmsg_error_);
  }
  if (auto s = detail_io_.start(tuning_.thread_stack_bytes); !s)
    spdlog::warn("evidence: {}; /proc detail reads run without a timeout", s.error().message);
  if (auto s = sysrq_io_.start(tuning_.thread_stack_bytes); !s)
    spdlog::warn("evidence: {}; the sysrq write runs without a timeout", s.error().message);
  if (sampler_running_) return;
  stop_fd_.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!stop_fd_.valid()) {
    spdlog::warn("evidence: eventfd failed; no counter baselines");
    return;
  }
  if (auto s = start_background_thread(&sampler_, &EvidenceEngine::sampler_main, this,
                                       tuning_.thread_stack_bytes, "sw-counters");
      !s) {
    spdlog::warn("evidence: {}; no counter baselines", s.error().message);
    return;
  }
  sampler_running_ = true;
}

void EvidenceEngine::stop() {
  if (sampler_running_) {
    std::uint64_t one = 1;
    [[maybe_unused]] ssize_t n = ::write(stop_fd_.get(), &one, sizeof one);
    pthread_join(sampler_, nullptr);
    sampler_running_ = false;
  }
  kmsg_.stop();
  detail_io_.stop();
  sysrq_io_.stop();
}

void* EvidenceEngine::sampler_main(void* self) {
  static_cast<EvidenceEngine*>(self)->sampler_run();
  return nullptr;
}

void EvidenceEngine::sampler_run() {
  const int interval_ms = static_cast<int>(
      std::max<std::int64_t>(1, std::chrono::duration_cast<std::chrono::milliseconds>(
                                    tuning_.sample_interval).count()));
  for (;;) {
    std::vector<std::string> errors;
    auto sample = std::make_shared<CounterSample>(read_counter_sample(root_, tuning_.now(), &errors));
    if (sample->have_stat || sample->have_interrupts || sample->have_softirqs)
      history_.push(std::move(sample));
    pollfd pfd{stop_fd_.get(), POLLIN, 0};
    int rc = ::poll(&pfd, 1, interval_ms);
    if (rc > 0) return;
  }
}

EvidenceEngine::Episode& EvidenceEngine::episode(const StallEvent& ev) {
  EpisodeKey key{ev.cpu, ev.episode};
  auto it = episodes_.find(key);
  if (it != episodes_.end()) return it->second;
  constexpr std::size_t kMaxEpisodes = 32;
  while (episodes_.size() >= kMaxEpisodes) {
    auto oldest = std::min_element(episodes_.begin(), episodes_.end(), [](auto& a, auto& b) {
      return a.second.order < b.second.order;
    });
    episodes_.erase(oldest);
  }
  Episode& ep = episodes_[key];
  ep.order = ++episode_order_;
  ep.file_name = fmt::format("stall-{}-ep{:06}-cpu{}.json", run_id_, ev.episode,
                             ev.cpu >= 0 ? std::to_string(ev.cpu) : std::string("all"));
  return ep;
}

StallReport EvidenceEngine::repeat_last(const StallEvent& ev, const char* why) {
  Episode& ep = episode(ev);
  StallReport r = ep.last;
  r.event = ev;
  r.report_path.clear();
  if (r.stall_class.empty()) r.stall_class = "unknown";
  r.notes.push_back(why);
  return r;
}

StallReport EvidenceEngine::collect(const StallEvent& event, std::int64_t now_mono_ns) {
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
  const NowFn now = tuning_.now;
  const std::int64_t t0 = now();
  const std::int64_t deadline = t0 + cfg_.budget.count();
  Evidence ev;
  ev.event = event;
  ev.heartbeat_priority = heartbeat_priority_;
  const int cpu = event.cpu;

  // 1. The end of the counter window, first: the cheapest and most time-sensitive.
  SamplePtr now_sample;
  {
    StepTimer st(ev, "counters-now", now);
    std::vector<std::string> errors;
    now_sample = std::make_shared<CounterSample>(read_counter_sample(root_, now(), &errors));
    for (auto& e : errors) st.fail(e);
  }

  // 2. Trigger the all-CPU backtrace now; its records are read back after the task scan.
  std::unique_ptr<SysrqBacktrace> sysrq;
  std::int64_t trigger_ns = 0;
  std::vector<int> online;
  {
    auto& bt = ev.backtrace;
    bt.cpu = cpu;
    StepTimer st(ev, "sysrq-trigger", now);
    const bool cache_usable = !cached_sections_.empty() &&
                              cached_sections_ns_ >= event.stall_start_mono_ns;
    if (!cfg_.sysrq_backtrace) {
      bt.status = "disabled";
    } else if (!root_.exists("/proc/sysrq-trigger")) {
      bt.status = "unavailable";
      ev.notes.push_back("sysrq unavailable");
    } else if (sysrq_ever_ && t0 - last_sysrq_ns_ < cfg_.sysrq_min_interval.count()) {
      bt.status = cache_usable ? "cached" : "rate-limited";
      if (!cache_usable) ev.notes.push_back("sysrq backtrace rate-limited (evidence.sysrq_min_interval)");
    } else {
      if (auto text = root_.read_file("/sys/devices/system/cpu/online", 4096))
        if (auto parsed = parse_cpu_list(*text)) online = std::move(*parsed);
      if (std::find(online.begin(), online.end(), cpu) == online.end()) online.push_back(cpu);
      sysrq = std::make_unique<SysrqBacktrace>(root_);
      sysrq_ever_ = true;
      last_sysrq_ns_ = t0;
      trigger_ns = now();
      // The kernel busy-waits in this write until every CPU answered the NMI (10 s at most):
      // don't wait for it, the records are read back after the task scan.
      if (auto s = sysrq->trigger(sysrq_io_, kSysrqWriteWait); !s) {
        if (s.error().message.rfind("timed out", 0) == 0) {
          bt.note = "the sysrq write was still in progress after the trigger step";
        } else {
          bt.status = "failed";
          st.fail(s.error().message);
          sysrq.reset();
        }
      }
    }
  }

  // 3. Tasks runnable on the CPU.
  {
    StepTimer st(ev, "tasks", now);
    TaskScanOptions opts;
    opts.cpu = cpu;
    opts.exclude_pid = tuning_.exclude_pid;
    // Half the budget from the start, but at least a quarter from now if earlier steps were slow.
    opts.deadline_ns = std::min(deadline, std::max(t0 + cfg_.budget.count() / 2,
                                                   now() + cfg_.budget.count() / 4));
    opts.now = now;
    TaskScanResult scan = scan_cpu_tasks(root_, opts);
    ev.tasks = std::move(scan.candidates);
    ev.tasks_scanned = scan.tasks_scanned;
    if (!scan.error.empty()) st.fail(scan.error);
    if (scan.budget_exhausted)
      st.fail(fmt::format("budget exhausted after {} tasks in {} processes", scan.tasks_scanned,
                          scan.processes_scanned));
  }
  const std::int64_t scan_done_ns = now();

  // 4. Read the backtrace back.
  {
    auto& bt = ev.backtrace;
    StepTimer st(ev, "sysrq-read", now);
    const std::vector<BacktraceSection>* sections = nullptr;
    if (sysrq) {
      sysrq->read_until(online, std::min(trigger_ns + cfg_.sysrq_wait.count(), deadline), now);
      bt.wait_ns = now() - trigger_ns;
      const auto& dump = sysrq->dump();
      cached_sections_ = dump.sections();
      cached_sections_ns_ = trigger_ns;
      sections = &cached_sections_;
      bt.status = dump.complete_for(online) ? "complete" : "partial";
      if (!dump.saw_trigger() && dump.sections().empty()) {
        bt.status = "failed";
        st.fail("no backtrace records within evidence.sysrq_wait");
      }
      for (int c : online) {
        const BacktraceSection* s = dump.section(c);
        (s != nullptr ? bt.cpus_seen : bt.cpus_missing).push_back(c);
      }
    } else if (bt.status == "cached") {
      sections = &cached_sections_;
    }
    if (sections != nullptr) {
      for (const auto& s : *sections) {
        if (s.cpu != cpu) continue;
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
        bt.note = fmt::format("no section for CPU {} in the dump", cpu);
    }
  }

  // 5. Kernel verdicts for this CPU and window.
  {
    StepTimer st(ev, "kernel-verdicts", now);
    if (kmsg_.running()) {
      constexpr std::int64_t kSlackNs = 2'000'000'000;
      ev.verdicts = kmsg_.verdicts_for(cpu, event.stall_start_mono_ns - kSlackNs, now() + kSlackNs);
      ev.kmsg_lost_records = kmsg_.lost_records();
    } else {
      ev.notes.push_back("kernel verdicts unavailable" +
                         (kmsg_error_.empty() ? std::string() : ": " + kmsg_error_));
    }
  }

  // 6. Which task holds the CPU, then its details.
  {
    StepTimer st(ev, "task-details", now);
    int nmi_tid = ev.backtrace.have_section && !ev.backtrace.idle ? ev.backtrace.pid : 0;
    int verdict_tid = 0;
    for (const auto& v : ev.verdicts)
      if (v.match.kind == VerdictKind::kSoftLockup && v.match.pid > 0 &&
          std::find(v.cpus.begin(), v.cpus.end(), cpu) != v.cpus.end())
        verdict_tid = v.match.pid;
    for (int tid : {nmi_tid, verdict_tid}) {
      if (tid <= 0) continue;
      bool known = std::any_of(ev.tasks.begin(), ev.tasks.end(),
                               [&](const TaskEvidence& t) { return t.tid == tid; });
      if (!known)
        if (auto t = read_task(root_, tid); t && t->pid != tuning_.exclude_pid)
          ev.tasks.push_back(std::move(*t));
    }
    if (ev.tasks.size() >= 2 && nmi_tid == 0 && verdict_tid == 0) {
      std::int64_t wait = scan_done_ns + tuning_.schedstat_gap.count() - now();
      wait = std::min(wait, deadline - now());
      if (wait > 0) std::this_thread::sleep_for(std::chrono::nanoseconds(wait));
    }
    resample_schedstat(root_, &ev.tasks);
    ev.running_reason = pick_running(&ev.tasks, nmi_tid, verdict_tid);
    ev.running_certain = !ev.running_reason.empty() &&
                         ev.running_reason.find("no runtime growth") == std::string::npos;
    DetailLimits limits;
    limits.per_read_timeout = tuning_.per_read_timeout;
    limits.deadline_ns = deadline;
    limits.now = now;
    for (std::size_t i = 0; i < ev.tasks.size() && i < tuning_.max_detailed_tasks; ++i) {
      if (now() >= deadline) {
        st.fail(fmt::format("budget exhausted before task {} of {}", i + 1, ev.tasks.size()));
        break;
      }
      read_task_details(root_, detail_io_, limits, &ev.tasks[i]);
    }
  }

  // 7. Counter deltas and system settings.
  collect_counters(ev, episode(event), now_sample);
  collect_system(ev);

  ev.collected_mono_ns = now();
  Classification cls = classify(ev);
  StallReport report;
  fill_report(ev, cls, &report);
  Episode& ep = episode(event);
  ep.last = report;
  ep.collected_ns = now_mono_ns;
  last_ = std::move(ev);
  return report;
}

void EvidenceEngine::collect_counters(Evidence& ev, Episode& ep, const SamplePtr& now_sample) {
  StepTimer st(ev, "counters", tuning_.now);
  SamplePtr base = ep.baseline;
  std::string kind = ep.baseline_kind;
  if (!base) {
    base = history_.baseline_for(ev.event.stall_start_mono_ns, now_sample->mono_ns, &kind);
    if (base) {
      ep.baseline = base;
      ep.baseline_kind = kind;
    }
  }
  if (!base) {
    st.fail("no baseline sample yet");
    return;
  }
  ev.counters = compute_counter_delta(*base, *now_sample, ev.event.cpu, tuning_.clk_tck);
  ev.counters.window_kind = kind;
  if (!ev.counters.have_stat) st.fail(fmt::format("no /proc/stat line for cpu{}", ev.event.cpu));
}

void EvidenceEngine::collect_system(Evidence& ev) {
  StepTimer st(ev, "system", tuning_.now);
  if (auto cs = root_.read_file("/sys/devices/system/clocksource/clocksource0/current_clocksource",
                                256))
    ev.system.clocksource = std::string(trim(*cs));
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

void EvidenceEngine::store(StallReport& report) {
  report.report_path.clear();
  Episode& ep = episode(report.event);
  ep.updates.push_back(evidence::report_to_json(report, utc_stamp(false)));
  // Keep the first update (the stall) and the latest ones.
  while (ep.updates.size() > tuning_.max_updates_per_episode && ep.updates.size() > 2)
    ep.updates.erase(ep.updates.begin() + 1);
  std::string doc = fmt::format(
      "{{\"format\":\"stallwatch-report/1\",\"cpu\":{},\"episode\":{},\"updates\":[", report.event.cpu,
      report.event.episode);
  for (std::size_t i = 0; i < ep.updates.size(); ++i) doc += (i ? "," : "") + ep.updates[i];
  doc += "]}\n";
  auto path = store_.write(ep.file_name, doc, tuning_.now());
  if (path) report.report_path = *path;
}

}  // namespace stallwatch
