// SPDX-License-Identifier: GPL-2.0-or-later
#include "stallwatch/daemon/daemon.h"

#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "stallwatch/core/drill_announcement.h"
#include "stallwatch/core/escalation_rules.h"
#include "stallwatch/core/fs_util.h"
#include "stallwatch/daemon/status_doc.h"
#include "stallwatch/daemon/supervisor_plan.h"
#include "stallwatch/escalation/escalation_control.h"
#include "stallwatch/evidence/engine.h"
#include "stallwatch/metrics/publisher.h"

namespace stallwatch::daemon {

namespace {

constexpr std::size_t kWorkerStack = 512 * 1024;
constexpr std::size_t kRingCapacity = 4096;

// The CPUs this process may run on (systemd's CPUAffinity=, taskset), in order.
std::vector<int> process_cpus() {
  std::vector<int> cpus;
  for (int n = 1024; n <= 65536; n *= 4) {
    cpu_set_t* set = CPU_ALLOC(n);
    const std::size_t size = CPU_ALLOC_SIZE(n);
    CPU_ZERO_S(size, set);
    if (::sched_getaffinity(0, size, set) == 0) {
      for (int c = 0; c < n; ++c)
        if (CPU_ISSET_S(static_cast<unsigned>(c), size, set)) cpus.push_back(c);
      CPU_FREE(set);
      return cpus;
    }
    CPU_FREE(set);
    if (errno != EINVAL) break;
  }
  return cpus;
}

// The heartbeats' and relays' stack canaries (thread_start.h), once at stop: what their locked
// stacks are sized from (docs/performance.md, "Locked memory per CPU").
void log_stack_high_water(const HeartbeatManager::StackHighWater& hw) {
  auto kind = [](const char* what, std::size_t used, std::size_t size, std::size_t locked, int n) {
    return fmt::format("{} {:.1f} KiB of {} KiB, {} KiB locked (max over {} thread{})", what,
                       static_cast<double>(used) / 1024, size / 1024, locked / 1024, n,
                       n == 1 ? "" : "s");
  };
  if (hw.heartbeats == 0 && hw.relays == 0) return;  // every one abandoned (its CPU stalled)
  spdlog::info(
      "stack high-water: {}, {}",
      kind("heartbeats", hw.heartbeat_bytes, hw.heartbeat_stack_bytes, hw.heartbeat_locked_bytes,
           hw.heartbeats),
      kind("relays", hw.relay_bytes, hw.relay_stack_bytes, hw.relay_locked_bytes, hw.relays));
}

}  // namespace

// The real RtOutputs: every call is a few non-blocking syscalls (or none).
class Daemon::Outputs final : public RtOutputs {
 public:
  Outputs(Notifier& notifier, RtWake& wake, NowFn boot)
      : notifier_(notifier), wake_(wake), boot_(boot) {}
  void set_feeder(Feeder* feeder) { feeder_ = feeder; }
  void set_actor(EscalationActor* actor) { actor_ = actor; }
  void wake_dispatcher(int cpu) noexcept override { wake_.wake_on(cpu); }
  bool watchdog_ping() noexcept override { return notifier_.watchdog_ping(); }
  // A driver whose keepalive does not sleep is fed right here, by the check (one ioctl; the
  // device's own lock is only ever taken with try_lock); else the feeder thread is woken.
  void set_direct_feed(escalation::EscalationControl* esc) { direct_ = esc; }
  bool request_feed(int cpu) noexcept override {
    if (direct_ != nullptr) return direct_->feed_device();
    if (feeder_ != nullptr) feeder_->request(cpu);
    return false;
  }
  void request_escalation(int cpu, const CheckEvent& e) noexcept override {
    if (actor_ != nullptr) actor_->request(cpu, e);
  }
  bool escalation_pending() noexcept override { return actor_ != nullptr && actor_->pending(); }
  std::int64_t boot_ns() noexcept override { return boot_(); }
  std::int64_t mono_ns() noexcept override { return mono_now_ns(); }

 private:
  Notifier& notifier_;
  RtWake& wake_;
  NowFn boot_;
  Feeder* feeder_ = nullptr;
  escalation::EscalationControl* direct_ = nullptr;
  EscalationActor* actor_ = nullptr;
};

Daemon::Daemon(Config config, DaemonOptions options, Notifier& notifier)
    : config_(std::move(config)), options_(std::move(options)), notifier_(notifier) {}

Daemon::~Daemon() { stop(); }

void Daemon::add_sink(std::unique_ptr<EventSink> sink) { pending_sinks_->add(std::move(sink)); }

RunnerSettings Daemon::runner_settings() const {
  RunnerSettings s;
  s.checker = CheckerSettings::from(config_);
  const std::uint64_t wd_usec = notifier_.watchdog_usec();
  s.ping_period_ns = wd_usec > 0 ? static_cast<std::int64_t>(wd_usec) * 1000 / 2 : 0;
  return s;
}

HeartbeatParams Daemon::heartbeat_params(int cpu) const {
  HeartbeatParams p;
  p.interval_ns = config_.heartbeat.interval.count();
  // Stagger: CPU k of the N monitored wakes at k x interval / N, so some heartbeat (and so a
  // possible check) comes every interval / N.
  // The sentinel (not monitored) wakes half-way between the monitored heartbeats' phases.
  const auto it = std::find(monitored_.begin(), monitored_.end(), cpu);
  const auto k = static_cast<std::int64_t>(it - monitored_.begin());
  const auto n = static_cast<std::int64_t>(std::max<std::size_t>(monitored_.size(), 1));
  p.phase_ns = it == monitored_.end() ? p.interval_ns / n / 2 : p.interval_ns / n * k;
  p.priority = config_.heartbeat.priority;
  p.allow_degraded = config_.heartbeat.allow_degraded;
  p.stack_bytes = config_.heartbeat.stack_kib * 1024;
  p.gate = gate_.get();
  p.hook = runner_.get();
  return p;
}

Status Daemon::start() {
  struct Step {
    Status (Daemon::*run)();
    StartError fails_as;  // the exit status class of its error
  };
  static constexpr Step kSteps[] = {
      {&Daemon::read_topology, StartError::kOther},
      {&Daemon::select_cpus, StartError::kConfig},
      {&Daemon::own_escalation, StartError::kConfig},
      {&Daemon::build_shared_state, StartError::kOther},
      {&Daemon::start_report_worker, StartError::kOther},
      {&Daemon::start_dispatcher, StartError::kOther},
      {&Daemon::start_feeder, StartError::kPermission},
      {&Daemon::start_actor, StartError::kPermission},
      {&Daemon::start_heartbeats, StartError::kPermission},
      {&Daemon::refuse_degraded_escalation, StartError::kConfig},
  };
  for (const Step& step : kSteps) {
    if (Status st = (this->*step.run)(); !st) {
      // The one failure exit: stop() unwinds whatever the earlier steps built (the watchdog is
      // disarmed first).
      start_error_ = step.fails_as;
      started_ = true;
      stop();
      return st;
    }
  }
  started_ = true;
  log_started();
  return Ok{};
}

Status Daemon::read_topology() {
  auto topo = read_cpu_topology(options_.root);
  if (!topo) return topo.error();
  hotplug_ = std::make_unique<HotplugReconciler>(std::move(*topo));
  return Ok{};
}

Status Daemon::select_cpus() {
  const CpuTopology& topo = hotplug_->topology();
  auto monitored =
      select_monitored_cpus(config_.heartbeat.cpus, config_.heartbeat.include_isolated, topo);
  if (!monitored) return make_error("{}: {}", config_.source, monitored.error().message);
  monitored_ = *monitored;
  slots_ = topo.possible.empty() ? 1 : topo.possible.back() + 1;
  start_ns_ = options_.clocks.mono();
  return Ok{};
}

// EscalationControl first: owning the watchdog device can fail (EBUSY, not a watchdog), and then
// nothing else starts.
Status Daemon::own_escalation() {
  escalation::EscalationControlSeams seams{
      {}, make_journal_writer(options_.output), {}, options_.clocks.mono};
  escalation_ =
      std::make_unique<escalation::EscalationControl>(config_, options_.root, std::move(seams));
  if (auto st = escalation_->start(start_ns_); !st) return st;
  if (auto st = make_dirs(config_.daemon.runtime_dir, 0755); !st)
    spdlog::warn("{}; stallwatchctl status will not work", st.error().message);
  return Ok{};
}

// What the real-time side shares with the rest: the heartbeat slots, the check gate, the event
// ring, the dispatcher's wake; and the evidence engine the report worker enriches stalls with.
Status Daemon::build_shared_state() {
  heartbeats_ = std::make_unique<HeartbeatManager>(slots_);
  gate_ = std::make_unique<CheckGate>();
  ring_ = std::make_unique<EventRing<CheckEvent>>(kRingCapacity);

  if (config_.evidence.enabled) {
    evidence::EngineTuning tuning;
    tuning.sample_interval = std::chrono::nanoseconds(0);  // baselines on demand (on_suspect)
    evidence_ = std::make_unique<evidence::EvidenceEngine>(options_.root, config_.evidence,
                                                           config_.heartbeat.priority,
                                                           config_.daemon.state_dir, tuning);
    evidence_->set_timeline(config_.timeline);
    evidence_->start();
    enrich_ = [engine = evidence_.get(), esc = escalation_.get(),
               mono = options_.clocks.mono](const StallEvent& e) -> std::optional<StallReport> {
      StallReport report = engine->collect(e, mono());
      report.drill = e.drill || esc->is_drill(e, report);  // in every output; never escalated
      engine->store(report);
      return report;
    };
  }
  dispatch_wake_ = std::make_unique<RtWake>();
  if (!dispatch_wake_->valid()) return make_error("eventfd: {}", std::strerror(errno));
  dispatch_wake_->route(*heartbeats_);
  return Ok{};
}

Status Daemon::start_report_worker() {
  auto sinks = std::make_unique<CompositeSink>();
  sinks->add(std::make_unique<JournalSink>(options_.output));
  sinks->add(escalation_->make_sink());
  metrics_ = std::make_unique<metrics::MetricsPublisher>(
      slots_, std::string(to_string(config_.escalation.action)));
  // A stall's class is counted after its evidence: the textfile is rewritten then, not a
  // metrics.interval later.
  sinks->add(metrics_->make_sink([w = dispatch_wake_.get()] { w->wake(); }));
  metrics_->configure(config_.metrics);
  sinks->add(std::move(pending_sinks_));
  worker_ = std::make_unique<ReportWorker>(std::move(sinks), enrich_);
  worker_->start(kWorkerStack);
  return Ok{};
}

Status Daemon::start_dispatcher() {
  outputs_ = std::make_unique<Outputs>(notifier_, *dispatch_wake_, options_.clocks.boot);
  runner_ = std::make_unique<CheckRunner>(heartbeats_->slots(), slots_, runner_settings(), *gate_,
                                          *ring_, *outputs_);
  Dispatcher::Deps deps;
  deps.ring = ring_.get();
  deps.published = &runner_->published();
  deps.worker = worker_.get();
  deps.notifier = &notifier_;
  deps.runtime_dir = config_.daemon.runtime_dir;
  deps.wake = dispatch_wake_.get();
  allowed_cpus_ = process_cpus();
  deps.allowed_cpus = allowed_cpus_;
  judge_ = std::make_unique<BlackoutJudge>(options_.root, heartbeats_->slots(), slots_);
  deps.judge = judge_.get();
  deps.post_verdict = [runner = runner_.get()](std::uint64_t id, bool starved, int root_cpu) {
    runner->post_verdict(id, starved, root_cpu);
  };
  deps.cpu_online = [root = options_.root](int cpu) {
    auto online = read_online_cpus(root);
    return !online || std::binary_search(online->begin(), online->end(), cpu);
  };
  deps.slots = slots_;
  deps.start_ns = start_ns_;
  deps.ready_after_ns = config_.checker.threshold.count();
  deps.snapshot = [this](std::int64_t now) { return snapshot(now); };
  if (evidence_) deps.on_suspect = [engine = evidence_.get()] { engine->request_sample(); };
  // Metrics: counter fields into status.json, and the textfile rendered from it (dispatcher
  // thread).
  deps.on_status = [this](nlohmann::json& doc, bool changed) {
    const escalation::WatchdogDevice* dev = escalation_->device();
    metrics_->add_fields(doc, dev != nullptr ? std::optional<bool>(dev->armed()) : std::nullopt);
    metrics_->publish(doc, doc.value("updated_mono_ns", std::int64_t{0}), changed);
  };
  deps.changes = [m = metrics_.get()] { return m->generation(); };
  deps.refresh = [m = metrics_.get()] { return m->refresh_ns(Dispatcher::kRefreshNs); };
  dispatcher_ = std::make_unique<Dispatcher>(deps);
  return dispatcher_->start();
}

// The hardware watchdog's keepalive: by the check itself when the driver does not sleep in it,
// else by the feeder thread the check wakes.
Status Daemon::start_feeder() {
  escalation::FeedPolicy* policy = escalation_->feed_policy();
  if (policy == nullptr) return Ok{};
  if (escalation_->direct_feed()) {
    outputs_->set_direct_feed(escalation_.get());
    runner_->set_feed_policy(policy);
    return Ok{};
  }
  feeder_ = std::make_unique<Feeder>(
      [esc = escalation_.get()] { return esc->feed_device(); },
      [runner = runner_.get()](std::uint64_t n) { runner->feed_served(n); });
  feeder_->set_spread(allowed_cpus_);
  if (auto st = feeder_->start(config_.watchdog.feeder_priority, config_.heartbeat.allow_degraded);
      !st)
    return st;
  feeder_->route(*heartbeats_);
  outputs_->set_feeder(feeder_.get());
  runner_->set_feed_policy(policy);
  return Ok{};
}

Status Daemon::start_actor() {
  if (!escalation_->acts()) return Ok{};
  actor_ = std::make_unique<EscalationActor>(
      [esc = escalation_.get()](const StallEvent& e) { (void)esc->take_now(e); });
  if (auto st = actor_->start(config_.watchdog.feeder_priority, config_.heartbeat.allow_degraded);
      !st)
    return st;
  actor_->set_spread(allowed_cpus_);
  actor_->route(*heartbeats_);
  outputs_->set_actor(actor_.get());
  return Ok{};
}

Status Daemon::start_heartbeats() {
  HotplugReconciler::Deps deps;
  deps.heartbeats = heartbeats_.get();
  deps.runner = runner_.get();
  deps.params = [this](int cpu) { return heartbeat_params(cpu); };
  deps.allowed_cpus = allowed_cpus_;
  deps.mono_now = options_.clocks.mono;
  return hotplug_->start(std::move(deps), options_.root, options_.kernel_uevents, monitored_);
}

// SCHED_OTHER heartbeats can be starved by ordinary load: no escalation may act on them.
Status Daemon::refuse_degraded_escalation() {
  if (!heartbeats_->degraded()) return Ok{};
  if (auto st = validate_escalation_for_degraded(config_); !st)
    return make_error("{}: {}", config_.source, st.error().message);
  return Ok{};
}

void Daemon::log_started() const {
  const CpuTopology& topo = hotplug_->topology();
  const int sentinel = hotplug_->sentinel();
  CpuList offline = cpu_difference(monitored_, topo.online);
  spdlog::info("monitoring CPUs {} (offline now: {}; excluded isolated/nohz_full: {}), "
               "heartbeat {} at {}, threshold {}; checks run on the heartbeats{} (hotplug: {})",
               format_cpulist(cpu_intersection(monitored_, topo.online)),
               offline.empty() ? "none" : format_cpulist(offline),
               config_.heartbeat.include_isolated
                   ? "none (include_isolated)"
                   : (cpu_union(topo.isolated, topo.nohz_full).empty()
                          ? "none"
                          : format_cpulist(cpu_union(topo.isolated, topo.nohz_full))),
               format_duration(config_.heartbeat.interval),
               heartbeats_->degraded() ? std::string("SCHED_OTHER (DEGRADED)")
                                       : fmt::format("SCHED_FIFO {}", config_.heartbeat.priority),
               format_duration(config_.checker.threshold),
               sentinel >= 0 ? fmt::format(" and a check-only heartbeat on CPU {}", sentinel) : "",
               hotplug_->uevents() ? "uevents" : "polled every second");
  if (heartbeats_->degraded())
    spdlog::warn("DEGRADED: heartbeats run SCHED_OTHER (no permission for SCHED_FIFO); a busy CPU "
                 "can delay them and cause false stall reports");
}

void Daemon::reload(Config next) {
  if (!started_ || stopped_) return;
  const escalation::WatchdogDevice* dev = escalation_ ? escalation_->device() : nullptr;
  const int armed_timeout = dev != nullptr && dev->armed() ? dev->state().timeout_s : 0;
  ReloadPlan plan =
      plan_reload(config_, monitored_, std::move(next), hotplug_->topology(), armed_timeout);
  if (!plan.accepted) {
    spdlog::error("{}", plan.message);
    if (metrics_) metrics_->count_reload_failure();
    notifier_.ready();  // end the reload systemd is waiting on
    return;
  }
  spdlog::info("{}", plan.message);
  if (!plan.restart_only.empty()) {
    std::string list;
    for (auto& s : plan.restart_only) list += (list.empty() ? "" : ", ") + s;
    spdlog::warn("changes to {} take effect at the next restart", list);
  }
  std::unique_lock config_lock(config_mu_);  // snapshot() reads these on the dispatcher
  config_ = std::move(plan.next);
  metrics_->configure(config_.metrics);
  monitored_ = plan.monitored;
  config_lock.unlock();
  runner_->post_settings(runner_settings());
  if (plan.heartbeats_changed) hotplug_->apply_reload(monitored_);
  sync_cpus();
  dispatcher_->request_status();
  notifier_.ready();
}

void Daemon::reload_failed() {
  if (metrics_) metrics_->count_reload_failure();
  if (dispatcher_) dispatcher_->request_status();
}

void Daemon::sync_cpus() {
  if (!started_ || stopped_) return;
  hotplug_->sync(monitored_);
}

// Dispatcher thread (every status pass, and at once on a status request): reads the announced
// drills and posts each CPU's drill window to the check, which decides drill-ness itself when an
// escalation comes due. `stallwatchctl drill` waits for its pid in status.json before its hog.
std::vector<StatusDrill> Daemon::refresh_drills(std::int64_t now) {
  std::string ignored;
  const auto found =
      list_drills(DrillLookup{config_.daemon.runtime_dir, ::geteuid(), {}}, &ignored);
  if (ignored != drill_ignored_) {
    if (!ignored.empty()) spdlog::warn("{}", ignored);
    drill_ignored_ = ignored;
  }
  const int slots = heartbeats_->slot_count();
  std::vector<std::int64_t> until(static_cast<std::size_t>(slots), 0);
  std::vector<StatusDrill> out;
  for (const auto& m : found) {
    const auto& a = m.announcement;
    const std::int64_t end = drill_until_ns(a);
    if (a.cpu < 0 || a.cpu >= slots || now > end) continue;
    until[static_cast<std::size_t>(a.cpu)] = std::max(until[static_cast<std::size_t>(a.cpu)], end);
    out.push_back(StatusDrill{a.cpu, a.pid, end});
  }
  for (int cpu = 0; cpu < slots; ++cpu) {
    const std::int64_t want = until[static_cast<std::size_t>(cpu)];
    const std::int64_t had = runner_->drill_until(cpu);
    if (want == had) continue;
    runner_->post_drill(cpu, want);
    if (want > 0)
      spdlog::info("drill announced on CPU {}: an escalation due there in the next {} ms is "
                   "skipped, feeding goes on",
                   cpu, (want - now) / 1'000'000);
    else
      spdlog::info("drill on CPU {} over", cpu);
  }
  return out;
}

StatusInputs Daemon::snapshot(std::int64_t now) {
  StatusSources src;
  src.version = STALLWATCH_VERSION;
  src.pid = static_cast<int>(::getpid());
  src.degraded = heartbeats_->degraded();
  src.slots = heartbeats_->slots();
  src.slot_count = heartbeats_->slot_count();
  src.published = &runner_->published();
  src.events_dropped = worker_->dropped();
  src.watchdog_pings_dropped = notifier_.pings_dropped();
  if (const escalation::WatchdogDevice* dev = escalation_ ? escalation_->device() : nullptr;
      dev != nullptr && dev->armed())
    src.watchdog_timeout_ns = std::int64_t{dev->state().timeout_s} * 1'000'000'000;
  std::lock_guard config_lock(config_mu_);
  src.config = &config_;
  src.monitored = &monitored_;
  src.drills = refresh_drills(now);
  return status_snapshot(src, now, options_.clocks.real() / 1'000'000);
}

void Daemon::stop() {
  if (!started_ || stopped_) return;
  stopped_ = true;
  const std::int64_t deadline = options_.clocks.mono() + kStopBudgetNs;
  // 1. No more checks, feeds or pings; then the watchdog is disarmed before anything that can
  //    wait (a heartbeat behind a stalled CPU, a report worker inside evidence collection).
  if (runner_) runner_->close();
  if (gate_) gate_->closed.store(true);
  if (escalation_) escalation_->shutdown();
  bool leak = false;
  if (feeder_ && !feeder_->stop(options_.clocks.mono() + 200'000'000)) leak = true;
  // An actor still taking an escalation (the persist is bounded to 1 s) uses the escalation
  // sink, which the report worker owns: both are kept then.
  bool leak_actor = false;
  if (actor_ && !actor_->stop(options_.clocks.mono() + 200'000'000)) leak = leak_actor = true;
  // 2. Heartbeats: those stuck behind a stalled CPU are abandoned.
  if (heartbeats_) {
    const int abandoned =
        heartbeats_->stop_all(std::min(deadline, options_.clocks.mono() + 700'000'000));
    if (abandoned > 0) {
      spdlog::warn("{} heartbeat(s) could not run (their CPU is stalled): abandoned at exit",
                   abandoned);
      leak = true;
    }
    log_stack_high_water(heartbeats_->stack_high_water());
  }
  // 3. The writers, with what is left of the budget.
  bool leak_writers = false;
  if (dispatcher_ && !dispatcher_->stop(deadline - 300'000'000)) leak_writers = true;
  if (worker_ && !worker_->stop(deadline)) leak_writers = true;
  if (leak_writers) spdlog::warn("report writers did not finish in time: abandoned at exit");
  if (evidence_ && !leak_writers) evidence_->stop();
  if (leak || leak_writers) {
    // Threads still running may use these: keep them until the process exits.
    (void)heartbeats_.release();
    (void)gate_.release();
    (void)ring_.release();
    (void)outputs_.release();
    (void)runner_.release();
    (void)feeder_.release();
    (void)actor_.release();
    (void)escalation_.release();
    (void)dispatch_wake_.release();
  }
  if (leak_writers || leak_actor) {
    (void)dispatcher_.release();
    (void)metrics_.release();  // the dispatcher's on_status uses it
    (void)worker_.release();
    (void)evidence_.release();
  }
}

}  // namespace stallwatch::daemon
