// SPDX-License-Identifier: GPL-2.0-or-later
#include "stallwatch/daemon/daemon.h"

#include <fcntl.h>
#include <sched.h>
#include <linux/netlink.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "stallwatch/core/drill_announcement.h"
#include "stallwatch/escalation/escalation.h"
#include "stallwatch/evidence/engine.h"
#include "stallwatch/core/fs_util.h"
#include "stallwatch/metrics/publisher.h"
#include "stallwatch/daemon/supervisor_plan.h"

namespace stallwatch::daemon {

namespace {

std::int64_t clock_ns(clockid_t id) {
  timespec ts{};
  clock_gettime(id, &ts);
  return ts.tv_sec * 1'000'000'000LL + ts.tv_nsec;
}

constexpr std::size_t kWorkerStack = 512 * 1024;
constexpr std::size_t kRingCapacity = 4096;

// The kernel's uevents (NETLINK_KOBJECT_UEVENT, group 1): a CPU going on- or offline wakes the
// supervisor at once, and nothing wakes it otherwise. Unprivileged processes may listen.
UniqueFd open_uevent_socket() {
  int fd = ::socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_KOBJECT_UEVENT);
  if (fd < 0) return UniqueFd();
  sockaddr_nl addr{};
  addr.nl_family = AF_NETLINK;
  addr.nl_groups = 1;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return UniqueFd();
  }
  return UniqueFd(fd);
}

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

}  // namespace

// The real RtOutputs: every call is a few non-blocking syscalls (or none).
class Daemon::Outputs final : public RtOutputs {
 public:
  Outputs(Notifier& notifier, RtWake& wake) : notifier_(notifier), wake_(wake) {}
  void set_feeder(Feeder* feeder) { feeder_ = feeder; }
  void set_actor(EscalationActor* actor) { actor_ = actor; }
  void wake_dispatcher(int cpu) noexcept override { wake_.wake_on(cpu); }
  bool watchdog_ping() noexcept override { return notifier_.watchdog_ping(); }
  // A driver whose keepalive does not sleep is fed right here, by the check (one ioctl; the
  // device's own lock is only ever taken with try_lock); else the feeder thread is woken.
  void set_direct_feed(escalation::Escalation* esc) { direct_ = esc; }
  bool request_feed(int cpu) noexcept override {
    if (direct_ != nullptr) return direct_->feed_device();
    if (feeder_ != nullptr) feeder_->request(cpu);
    return false;
  }
  void request_escalation(int cpu, const CheckEvent& e) noexcept override {
    if (actor_ != nullptr) actor_->request(cpu, e);
  }
  bool escalation_pending() noexcept override { return actor_ != nullptr && actor_->pending(); }
  std::int64_t boot_ns() noexcept override { return clock_ns(CLOCK_BOOTTIME); }

 private:
  Notifier& notifier_;
  RtWake& wake_;
  Feeder* feeder_ = nullptr;
  escalation::Escalation* direct_ = nullptr;
  EscalationActor* actor_ = nullptr;
};

Daemon::Daemon(Config config, DaemonOptions options, Notifier& notifier)
    : config_(std::move(config)), options_(std::move(options)), notifier_(notifier) {}

Daemon::~Daemon() { stop(); }

void Daemon::add_sink(std::unique_ptr<EventSink> sink) { pending_sinks_->add(std::move(sink)); }
void Daemon::set_enricher(ReportWorker::Enricher enrich) { enrich_ = std::move(enrich); }

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

void Daemon::fail_start() {
  started_ = true;  // so stop() unwinds what was built
  stop();
}

Status Daemon::start() {
  auto topo = read_cpu_topology(options_.root);
  if (!topo) {
    start_error_ = StartError::kOther;
    return topo.error();
  }
  topo_ = *topo;
  auto monitored = select_monitored_cpus(config_.heartbeat.cpus, config_.heartbeat.include_isolated, topo_);
  if (!monitored) {
    start_error_ = StartError::kConfig;
    return make_error("{}: {}", config_.source, monitored.error().message);
  }
  monitored_ = *monitored;
  const int slots = topo_.possible.empty() ? 1 : topo_.possible.back() + 1;
  watched_.assign(static_cast<std::size_t>(slots), false);
  start_ns_ = clock_ns(CLOCK_MONOTONIC);

  // Escalation first: owning the watchdog device can fail (EBUSY, not a watchdog), and then
  // nothing else starts.
  escalation_ = std::make_unique<escalation::Escalation>(
      config_, options_.root, escalation::EscalationSeams{{}, make_journal_writer(options_.output), {}, {}});
  if (auto st = escalation_->start(start_ns_); !st) {
    escalation_->shutdown();
    escalation_.reset();
    start_error_ = StartError::kConfig;
    return st.error();
  }
  if (auto st = make_dirs(config_.daemon.runtime_dir, 0755); !st)
    spdlog::warn("{}; stallwatchctl status will not work", st.error().message);

  heartbeats_ = std::make_unique<HeartbeatManager>(slots);
  gate_ = std::make_unique<CheckGate>();
  ring_ = std::make_unique<EventRing<CheckEvent>>(kRingCapacity);

  if (config_.evidence.enabled && !enrich_) {
    evidence::EngineTuning tuning;
    tuning.sample_interval = std::chrono::nanoseconds(0);  // baselines on demand (on_suspect)
    evidence_ = std::make_unique<evidence::EvidenceEngine>(options_.root, config_.evidence,
                                                 config_.heartbeat.priority, config_.daemon.state_dir,
                                                 tuning);
    evidence_->start();
    enrich_ = [engine = evidence_.get(), esc = escalation_.get()](const StallEvent& e) -> std::optional<StallReport> {
      StallReport report = engine->collect(e, clock_ns(CLOCK_MONOTONIC));
      report.drill = e.drill || esc->is_drill(e, report);  // in every output; never escalated
      engine->store(report);
      return report;
    };
  }
  dispatch_wake_ = std::make_unique<RtWake>();
  if (!dispatch_wake_->valid()) {
    start_error_ = StartError::kOther;
    fail_start();
    return make_error("eventfd: {}", std::strerror(errno));
  }
  dispatch_wake_->route(*heartbeats_);
  auto sinks = std::make_unique<CompositeSink>();
  sinks->add(std::make_unique<JournalSink>(options_.output));
  sinks->add(escalation_->make_sink());
  metrics_ = std::make_unique<metrics::MetricsPublisher>(slots, std::string(to_string(config_.escalation.action)));
  // A stall's class is counted after its evidence: the textfile is rewritten then, not a
  // metrics.interval later.
  sinks->add(metrics_->make_sink([w = dispatch_wake_.get()] { w->wake(); }));
  metrics_->configure(config_.metrics);
  sinks->add(std::move(pending_sinks_));
  worker_ = std::make_unique<ReportWorker>(std::move(sinks), enrich_);
  worker_->start(kWorkerStack);

  outputs_ = std::make_unique<Outputs>(notifier_, *dispatch_wake_);
  runner_ = std::make_unique<CheckRunner>(heartbeats_->slots(), slots, runner_settings(), *gate_,
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
  judge_ = std::make_unique<BlackoutJudge>(options_.root, heartbeats_->slots(), slots);
  deps.judge = judge_.get();
  deps.post_verdict = [runner = runner_.get()](std::uint64_t id, bool starved) {
    runner->post_verdict(id, starved);
  };
  deps.slots = slots;
  deps.start_ns = start_ns_;
  deps.ready_after_ns = config_.checker.threshold.count();
  deps.snapshot = [this](std::int64_t now) { return snapshot(now); };
  if (evidence_) deps.on_suspect = [engine = evidence_.get()] { engine->request_sample(); };
  // Metrics: counter fields into status.json, and the textfile rendered from it (dispatcher thread).
  deps.on_status = [this](nlohmann::json& doc, bool changed) {
    const escalation::WatchdogDevice* dev = escalation_->device();
    metrics_->add_fields(doc, dev != nullptr ? std::optional<bool>(dev->armed()) : std::nullopt);
    metrics_->publish(doc, doc.value("updated_mono_ns", std::int64_t{0}), changed);
  };
  deps.changes = [m = metrics_.get()] { return m->generation(); };
  deps.refresh = [m = metrics_.get()] { return m->refresh_ns(Dispatcher::kRefreshNs); };
  dispatcher_ = std::make_unique<Dispatcher>(deps);
  if (auto st = dispatcher_->start(); !st) {
    start_error_ = StartError::kOther;
    fail_start();
    return st.error();
  }

  if (escalation::FeedPolicy* policy = escalation_->feed_policy(); policy && escalation_->direct_feed()) {
    outputs_->set_direct_feed(escalation_.get());
    runner_->set_feed_policy(policy);
  } else if (policy) {
    feeder_ = std::make_unique<Feeder>([esc = escalation_.get()] { return esc->feed_device(); },
                                       [runner = runner_.get()](std::uint64_t n) { runner->feed_served(n); });
    feeder_->set_spread(allowed_cpus_);
    if (auto st = feeder_->start(config_.checker.priority, config_.heartbeat.allow_degraded); !st) {
      start_error_ = StartError::kPermission;
      fail_start();
      return st.error();
    }
    feeder_->route(*heartbeats_);
    outputs_->set_feeder(feeder_.get());
    runner_->set_feed_policy(policy);
  }

  if (escalation_->acts()) {
    actor_ = std::make_unique<EscalationActor>(
        [esc = escalation_.get()](const StallEvent& e) { (void)esc->take_now(e); });
    if (auto st = actor_->start(config_.checker.priority, config_.heartbeat.allow_degraded); !st) {
      start_error_ = StartError::kPermission;
      fail_start();
      return st.error();
    }
    actor_->set_spread(allowed_cpus_);
    actor_->route(*heartbeats_);
    outputs_->set_actor(actor_.get());
  }

  // Kept open: re-reading a sysfs attribute from offset 0 regenerates it, one pread a poll.
  online_fd_ = UniqueFd(::open(options_.root.path("/sys/devices/system/cpu/online").c_str(),
                               O_RDONLY | O_CLOEXEC));
  if (options_.root.prefix().empty()) uevent_fd_ = open_uevent_socket();

  // Every CPU is posted before the first heartbeat starts (the first check, on that heartbeat,
  // applies them all): the checks see the whole set as starting, so READY=1 ("all heartbeats
  // running") waits for every heartbeat's first stamp, and no status pass shows a CPU whose
  // heartbeat is still being started as offline. A CPU whose heartbeat never stamps is a stall
  // after the threshold, counted from here.
  const CpuList first = cpu_intersection(monitored_, topo_.online);
  const std::int64_t posted_ns = clock_ns(CLOCK_MONOTONIC);
  for (int cpu : first) runner_->post_monitor(cpu, true, posted_ns);
  for (int cpu : first) {
    auto st = heartbeats_->start(cpu, heartbeat_params(cpu));
    if (!st) {
      start_error_ = StartError::kPermission;
      fail_start();
      return st.error();
    }
    watched_[static_cast<std::size_t>(cpu)] = true;
  }
  sync_sentinel();
  if (heartbeats_->degraded() && config_.escalation.action != EscalationAction::kNone &&
      !config_.escalation.dry_run) {
    start_error_ = StartError::kConfig;
    fail_start();
    return make_error("{}: escalation.action = \"{}\" is refused in degraded mode: SCHED_OTHER "
                      "heartbeats can be starved by ordinary load, so a stall may be false and "
                      "must not reset the machine; grant CAP_SYS_NICE, or set escalation.action "
                      "= \"none\" or escalation.dry_run = true",
                      config_.source, to_string(config_.escalation.action));
  }
  started_ = true;
  CpuList offline = cpu_difference(monitored_, topo_.online);
  spdlog::info("monitoring CPUs {} (offline now: {}; excluded isolated/nohz_full: {}), "
               "heartbeat {} at {}, threshold {}; checks run on the heartbeats{} (hotplug: {})",
               format_cpulist(cpu_intersection(monitored_, topo_.online)),
               offline.empty() ? "none" : format_cpulist(offline),
               config_.heartbeat.include_isolated
                   ? "none (include_isolated)"
                   : (cpu_union(topo_.isolated, topo_.nohz_full).empty()
                          ? "none"
                          : format_cpulist(cpu_union(topo_.isolated, topo_.nohz_full))),
               format_duration(config_.heartbeat.interval),
               heartbeats_->degraded() ? std::string("SCHED_OTHER (DEGRADED)")
                                       : fmt::format("SCHED_FIFO {}", config_.heartbeat.priority),
               format_duration(config_.checker.threshold),
               sentinel_ >= 0 ? fmt::format(" and a check-only heartbeat on CPU {}", sentinel_) : "",
               uevent_fd_.valid() ? "uevents" : "polled every second");
  if (heartbeats_->degraded())
    spdlog::warn("DEGRADED: heartbeats run SCHED_OTHER (no permission for SCHED_FIFO); a busy CPU "
                 "can delay them and cause false stall reports");
  return Ok{};
}

void Daemon::reload(Config next) {
  if (!started_ || stopped_) return;
  const escalation::WatchdogDevice* dev = escalation_ ? escalation_->device() : nullptr;
  const int armed_timeout = dev != nullptr && dev->armed() ? dev->state().timeout_s : 0;
  ReloadPlan plan = plan_reload(config_, monitored_, std::move(next), topo_, armed_timeout);
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
  if (plan.heartbeats_changed) {
    // In place: a CPU that stays monitored keeps its heartbeat, its slot and its episode (a
    // stalled CPU's heartbeat could not exit anyway); only CPUs leaving the set are stopped,
    // and sync_cpus() starts the ones joining it. Nothing here waits for a heartbeat.
    const std::int64_t now = clock_ns(CLOCK_MONOTONIC);
    for (int cpu = 0; cpu < heartbeats_->slot_count(); ++cpu) {
      if (!watched_[static_cast<std::size_t>(cpu)]) continue;
      if (std::binary_search(monitored_.begin(), monitored_.end(), cpu)) {
        if (auto st = heartbeats_->update(cpu, heartbeat_params(cpu)); !st)
          spdlog::warn("{}", st.error().message);
        continue;
      }
      runner_->post_monitor(cpu, false, now);
      heartbeats_->request_stop(cpu);
      watched_[static_cast<std::size_t>(cpu)] = false;
    }
    if (sentinel_ >= 0) (void)heartbeats_->update(sentinel_, heartbeat_params(sentinel_));
  }
  sync_cpus();
  dispatcher_->request_status();
  notifier_.ready();
}

void Daemon::reload_failed() {
  if (metrics_) metrics_->count_reload_failure();
  if (dispatcher_) dispatcher_->request_status();
}

bool Daemon::drain_hotplug_fd() {
  bool cpu_event = false;
  char buf[8192];
  for (;;) {
    ssize_t n = ::recv(uevent_fd_.get(), buf, sizeof buf, MSG_DONTWAIT);
    if (n <= 0) break;
    // "online@/devices/system/cpu/cpu1\0ACTION=online\0...SUBSYSTEM=cpu\0..."
    std::string_view msg(buf, static_cast<std::size_t>(n));
    if (msg.find("/devices/system/cpu/cpu") != std::string_view::npos) cpu_event = true;
  }
  return cpu_event;
}

// Hotplug: an offline CPU is not stalled. Its heartbeat is stopped and started again when the
// CPU comes back. A heartbeat found running on another CPU (the kernel broke its affinity when
// its CPU went down) is restarted too. Started heartbeats that are still exiting are retried on
// the next call.
void Daemon::sync_cpus() {
  if (!started_ || stopped_) return;
  if (online_fd_.valid()) {
    char buf[4096];
    ssize_t n = ::pread(online_fd_.get(), buf, sizeof buf - 1, 0);
    Result<CpuList> online = n < 0 ? Result<CpuList>(make_error("read online CPUs: {}", std::strerror(errno)))
                                   : parse_cpulist(std::string_view(buf, static_cast<std::size_t>(n)));
    if (online) topo_.online = *online;
    else if (online_errors_++ % 60 == 0) spdlog::warn("cannot poll online CPUs: {}", online.error().message);
  }
  const CpuList wanted = cpu_intersection(monitored_, topo_.online);
  retry_sync_ = false;
  std::vector<HotplugCpu> cpus(static_cast<std::size_t>(heartbeats_->slot_count()));
  for (std::size_t i = 0; i < cpus.size(); ++i) {
    const int cpu = static_cast<int>(i);
    HotplugCpu& c = cpus[i];
    c.wanted = std::binary_search(wanted.begin(), wanted.end(), cpu);
    c.monitored = watched_[i];
    c.has_thread = heartbeats_->has_thread(cpu);
    c.exited = heartbeats_->exited(cpu);
    // Wanted back but its old heartbeat is still on its way out (within one interval).
    if (c.wanted && !c.monitored && c.has_thread && !c.exited) retry_sync_ = true;
    // A heartbeat moved off a CPU that is online is put back by its relay (heartbeat.h); one whose
    // CPU went offline is stopped because its CPU is no longer wanted.
    c.displaced = false;
  }
  HotplugPlan plan = plan_hotplug(cpus);
  const std::int64_t now = clock_ns(CLOCK_MONOTONIC);
  for (int cpu : plan.stop) {
    spdlog::info("CPU {} {}: heartbeat stopped, not monitored while away", cpu,
                 cpus[static_cast<std::size_t>(cpu)].displaced ? "was taken offline (heartbeat displaced)"
                                                                : "is offline");
    runner_->post_monitor(cpu, false, now);
    heartbeats_->request_stop(cpu);
    watched_[static_cast<std::size_t>(cpu)] = false;
  }
  for (int cpu : plan.start) {
    if (!heartbeats_->reap(cpu)) {  // still exiting (within one interval): sync again soon
      retry_sync_ = true;
      continue;
    }
    auto st = heartbeats_->start(cpu, heartbeat_params(cpu));
    if (!st) {
      spdlog::warn("{}; retrying at the next hotplug event", st.error().message);
      topo_.online = cpu_difference(topo_.online, CpuList{cpu});
      continue;
    }
    runner_->post_monitor(cpu, true, clock_ns(CLOCK_MONOTONIC));
    watched_[static_cast<std::size_t>(cpu)] = true;
    spdlog::info("CPU {} is online: heartbeat started", cpu);
  }
  sync_sentinel();
}

// With fewer than two monitored heartbeats, a stall of the one CPU would stop every check (they
// run on the heartbeats): a check-only heartbeat on another CPU keeps checking, feeding and
// pinging from a healthy CPU. Its CPU is not monitored and never reported.
void Daemon::sync_sentinel() {
  CpuList watched;
  for (std::size_t i = 0; i < watched_.size(); ++i)
    if (watched_[i]) watched.push_back(static_cast<int>(i));
  int want = plan_sentinel(watched, topo_.online, cpu_union(topo_.isolated, topo_.nohz_full),
                           allowed_cpus_);
  if (want == sentinel_) return;
  if (sentinel_ >= 0) {
    runner_->post_sentinel(sentinel_, false);
    heartbeats_->request_stop(sentinel_);
    spdlog::info("check-only heartbeat on CPU {} stopped", sentinel_);
    sentinel_ = -1;
  }
  if (want < 0 || !heartbeats_->reap(want)) {
    if (want >= 0) retry_sync_ = true;
    return;
  }
  if (auto st = heartbeats_->start(want, heartbeat_params(want)); !st) {
    spdlog::warn("no check-only heartbeat: {}; a stall of the one monitored CPU is found only "
                 "after it ends", st.error().message);
    return;
  }
  runner_->post_sentinel(want, true);
  sentinel_ = want;
}

// Dispatcher thread (every status pass, and at once on a status request): reads the announced
// drills and posts each CPU's drill window to the check, which decides drill-ness itself when an
// escalation comes due. `stallwatchctl drill` waits for its pid in status.json before its hog.
std::vector<StatusDrill> Daemon::refresh_drills(std::int64_t now) {
  std::string ignored;
  const auto found = list_drills(DrillLookup{config_.daemon.runtime_dir, ::geteuid(), {}}, &ignored);
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
                   "skipped, feeding goes on", cpu, (want - now) / 1'000'000);
    else
      spdlog::info("drill on CPU {} over", cpu);
  }
  return out;
}

StatusInputs Daemon::snapshot(std::int64_t now) {
  StatusInputs in;
  in.version = STALLWATCH_VERSION;
  in.pid = static_cast<int>(::getpid());
  in.now_mono_ns = now;
  in.now_unix_ms = clock_ns(CLOCK_REALTIME) / 1'000'000;
  in.degraded = heartbeats_->degraded();
  std::lock_guard config_lock(config_mu_);
  in.config = config_.source;
  in.heartbeat_interval_ns = config_.heartbeat.interval.count();
  in.threshold_ns = config_.checker.threshold.count();
  const PublishedState& pub = runner_->published();
  in.stalls_total = pub.stalls_total.load(std::memory_order_relaxed);
  in.events_dropped = worker_->dropped();
  in.checks = pub.checks.load(std::memory_order_relaxed);
  in.last_check_ns = pub.last_check_ns.load(std::memory_order_relaxed);
  in.global_pauses = pub.global_pauses.load(std::memory_order_relaxed);
  in.feeds_missed = pub.feeds_missed.load(std::memory_order_relaxed);
  if (auto* sn = dynamic_cast<SystemdNotifier*>(&notifier_)) in.watchdog_pings_dropped = sn->pings_dropped();
  in.drills = refresh_drills(now);
  in.escalation_action = std::string(to_string(config_.escalation.action));
  in.escalation_after_ns = config_.escalation.after.count();
  in.escalation_dry_run = config_.escalation.dry_run;
  if (const escalation::WatchdogDevice* dev = escalation_ ? escalation_->device() : nullptr;
      dev != nullptr && dev->armed())
    in.watchdog_timeout_ns = std::int64_t{dev->state().timeout_s} * 1'000'000'000;
  for (int cpu = 0; cpu < heartbeats_->slot_count(); ++cpu) {
    StatusCpu c = status_cpu_from_slot(cpu, heartbeats_->slots()[cpu]);
    const PublishedCpu& p = pub.cpu[cpu];
    c.state = static_cast<CpuState>(p.state.load(std::memory_order_relaxed));
    c.stalls = p.stalls.load(std::memory_order_relaxed);
    c.episode_start_ns = p.episode_start_ns.load(std::memory_order_relaxed);
    c.monitored = std::binary_search(monitored_.begin(), monitored_.end(), cpu);
    in.cpus.push_back(std::move(c));
  }
  return in;
}

void Daemon::stop() {
  if (!started_ || stopped_) return;
  stopped_ = true;
  const std::int64_t deadline = clock_ns(CLOCK_MONOTONIC) + kStopBudgetNs;
  // 1. No more checks, feeds or pings; then the watchdog is disarmed before anything that can
  //    wait (a heartbeat behind a stalled CPU, a report worker inside evidence collection).
  if (runner_) runner_->close();
  if (gate_) gate_->closed.store(true);
  if (escalation_) escalation_->shutdown();
  bool leak = false;
  if (feeder_ && !feeder_->stop(clock_ns(CLOCK_MONOTONIC) + 200'000'000)) leak = true;
  // An actor still taking an escalation (the persist is bounded to 1 s) uses the escalation
  // sink, which the report worker owns: both are kept then.
  bool leak_actor = false;
  if (actor_ && !actor_->stop(clock_ns(CLOCK_MONOTONIC) + 200'000'000)) leak = leak_actor = true;
  // 2. Heartbeats: those stuck behind a stalled CPU are abandoned.
  if (heartbeats_) {
    const int abandoned = heartbeats_->stop_all(std::min(deadline, clock_ns(CLOCK_MONOTONIC) + 700'000'000));
    if (abandoned > 0) {
      spdlog::warn("{} heartbeat(s) could not run (their CPU is stalled): abandoned at exit", abandoned);
      leak = true;
    }
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
