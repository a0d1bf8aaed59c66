#include "stallwatch/daemon.h"

#include <fcntl.h>
#include <sched.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "stallwatch/escalation/escalation.h"
#include "stallwatch/fs_util.h"
#include "stallwatch/evidence/engine.h"

namespace stallwatch {

namespace {

std::int64_t clock_ns(clockid_t id) {
  timespec ts{};
  clock_gettime(id, &ts);
  return ts.tv_sec * 1'000'000'000LL + ts.tv_nsec;
}

constexpr std::int64_t kCpuPollNs = 1'000'000'000;
constexpr std::int64_t kStatusFileNs = 1'000'000'000;
constexpr std::size_t kCheckerStack = 256 * 1024;
constexpr std::size_t kWorkerStack = 512 * 1024;

itimerspec periodic(std::int64_t ns) {
  itimerspec its{};
  its.it_interval.tv_sec = static_cast<time_t>(ns / 1'000'000'000);
  its.it_interval.tv_nsec = static_cast<long>(ns % 1'000'000'000);
  its.it_value = its.it_interval;
  return its;
}

}  // namespace

Daemon::Daemon(Config config, DaemonOptions options, Notifier& notifier)
    : config_(std::move(config)), options_(std::move(options)), notifier_(notifier) {}

Daemon::~Daemon() { stop(); }

void Daemon::add_sink(std::unique_ptr<EventSink> sink) { pending_sinks_->add(std::move(sink)); }
void Daemon::add_tick_observer(TickObserver* observer) { observers_.push_back(observer); }
void Daemon::set_enricher(ReportWorker::Enricher enrich) { enrich_ = std::move(enrich); }

HeartbeatParams Daemon::heartbeat_params() {
  HeartbeatParams p;
  p.interval_ns = config_.heartbeat.interval.count();
  p.priority = config_.heartbeat.priority;
  p.allow_degraded = config_.heartbeat.allow_degraded;
  p.stack_bytes = config_.heartbeat.stack_kib * 1024;
  p.beacon = &beacon_;
  return p;
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
  heartbeats_ = std::make_unique<HeartbeatManager>(slots);
  checker_ = std::make_unique<Checker>(heartbeats_->slots(), slots, CheckerSettings::from(config_));

  const std::int64_t now = clock_ns(CLOCK_MONOTONIC);
  start_ns_ = now;
  for (int cpu : cpu_intersection(monitored_, topo_.online)) {
    auto st = heartbeats_->start(cpu, heartbeat_params());
    if (!st) {
      heartbeats_->stop_all();
      start_error_ = StartError::kPermission;
      return st.error();
    }
    checker_->set_monitored(cpu, true, now);
  }
  CpuList offline = cpu_difference(monitored_, topo_.online);
  spdlog::info("monitoring CPUs {} (offline now: {}; excluded isolated/nohz_full: {}), "
               "heartbeat {} at {}, threshold {}, check every {}",
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
               format_duration(config_.checker.threshold), format_duration(config_.checker.interval));
  if (heartbeats_->degraded())
    spdlog::warn("DEGRADED: heartbeats run SCHED_OTHER (no permission for SCHED_FIFO); a busy CPU "
                 "can delay them and cause false stall reports");

  // Escalation first: owning the watchdog device can fail (EBUSY), and then nothing else starts.
  escalation_ = std::make_unique<escalation::Escalation>(
      config_, options_.root, escalation::EscalationSeams{{}, make_journal_writer(options_.output), {}});
  if (auto st = escalation_->start(now); !st) {
    heartbeats_->stop_all();
    escalation_.reset();
    start_error_ = StartError::kConfig;
    return st.error();
  }
  if (config_.evidence.enabled && !enrich_) {
    evidence_ = std::make_unique<EvidenceEngine>(options_.root, config_.evidence,
                                                 config_.heartbeat.priority, config_.daemon.state_dir);
    evidence_->start();
    enrich_ = [engine = evidence_.get()](const StallEvent& e) -> std::optional<StallReport> {
      StallReport report = engine->collect(e, clock_ns(CLOCK_MONOTONIC));
      engine->store(report);
      return report;
    };
  }

  auto sinks = std::make_unique<CompositeSink>();
  sinks->add(std::make_unique<JournalSink>(options_.output));
  sinks->add(escalation_->make_sink());
  sinks->add(std::move(pending_sinks_));
  worker_ = std::make_unique<ReportWorker>(std::move(sinks), enrich_);
  worker_->start(kWorkerStack);

  timer_fd_ = UniqueFd(timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC));
  if (!timer_fd_.valid()) {
    start_error_ = StartError::kOther;
    return make_error("timerfd_create: {}", std::strerror(errno));
  }
  // Kept open: re-reading a sysfs attribute from offset 0 regenerates it, one pread a poll.
  online_fd_ = UniqueFd(::open(options_.root.path("/sys/devices/system/cpu/online").c_str(),
                               O_RDONLY | O_CLOEXEC));
  if (auto st = make_dirs(config_.daemon.runtime_dir, 0755); !st)
    spdlog::warn("{}; stallwatchctl status will not work", st.error().message);
  itimerspec its = periodic(config_.checker.interval.count());
  timerfd_settime(timer_fd_.get(), 0, &its, nullptr);

  auto try_create = [&](bool fifo) {
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, kCheckerStack);
    pthread_attr_setinheritsched(&attr, PTHREAD_EXPLICIT_SCHED);
    sched_param sp{};
    sp.sched_priority = fifo ? config_.checker.priority : 0;
    pthread_attr_setschedpolicy(&attr, fifo ? SCHED_FIFO : SCHED_OTHER);
    pthread_attr_setschedparam(&attr, &sp);
    int rc = pthread_create(
        &checker_thread_, &attr,
        [](void* self) -> void* {
          static_cast<Daemon*>(self)->checker_loop();
          return nullptr;
        },
        this);
    pthread_attr_destroy(&attr);
    return rc;
  };
  int rc = try_create(true);
  if (rc == EPERM && config_.heartbeat.allow_degraded) rc = try_create(false);
  if (rc != 0) {
    heartbeats_->stop_all();
    worker_->stop();
    escalation_->shutdown();
    if (evidence_) evidence_->stop();
    start_error_ = rc == EPERM ? StartError::kPermission : StartError::kOther;
    return make_error("cannot start the SCHED_FIFO checker thread: {}{}", std::strerror(rc),
                      rc == EPERM ? " (needs CAP_SYS_NICE)" : "");
  }
  pthread_setname_np(checker_thread_, "sw-checker");
  checker_started_ = true;
  return Ok{};
}

void Daemon::reload(Config config) {
  {
    std::lock_guard lock(pending_mu_);
    pending_config_ = std::move(config);
  }
}

void Daemon::stop() {
  if (checker_started_) {
    stop_.store(true);  // seen after the next timer expiry, at most one check interval away
    pthread_join(checker_thread_, nullptr);
    checker_started_ = false;
  }
  if (heartbeats_) heartbeats_->stop_all();
  if (worker_) worker_->stop();
  // After the checker (no more feeding) and the worker (no more escalations): disarm cleanly.
  if (escalation_) escalation_->shutdown();
  if (evidence_) evidence_->stop();
}

// Applies a reloaded config at a tick boundary. Heartbeats are re-created only when their CPU set,
// interval, priority or stack changed; sections read once at start are reported as such.
void Daemon::apply_pending(std::int64_t now) {
  std::optional<Config> next;
  {
    std::lock_guard lock(pending_mu_);
    next.swap(pending_config_);
  }
  if (!next) return;
  Config& n = *next;
  auto monitored = select_monitored_cpus(n.heartbeat.cpus, n.heartbeat.include_isolated, topo_);
  if (!monitored) {
    spdlog::error("reload of {} rejected: {}; keeping the running configuration", n.source,
                  monitored.error().message);
    notifier_.ready();  // end the reload systemd is waiting on
    return;
  }
  const auto& oh = config_.heartbeat;
  const auto& nh = n.heartbeat;
  bool hb_changed = *monitored != monitored_ || oh.interval != nh.interval ||
                    oh.priority != nh.priority || oh.stack_kib != nh.stack_kib ||
                    oh.allow_degraded != nh.allow_degraded;
  std::vector<std::string> restart_only;
  auto note = [&](bool changed, const char* section) {
    if (changed) restart_only.emplace_back(section);
  };
  auto differs = [&](auto member) {
    Config a, b;
    a.*member = config_.*member;
    b.*member = n.*member;
    return format_config(a) != format_config(b);
  };
  note(differs(&Config::daemon), "[daemon]");
  note(differs(&Config::evidence), "[evidence]");
  note(differs(&Config::escalation), "[escalation]");
  note(differs(&Config::watchdog), "[watchdog]");
  if (config_.checker.priority != n.checker.priority) restart_only.emplace_back("checker.priority");

  if (config_.checker.interval != n.checker.interval) {
    itimerspec its = periodic(n.checker.interval.count());
    timerfd_settime(timer_fd_.get(), 0, &its, nullptr);
  }
  // Keep the parts that need a restart as they are.
  n.daemon = config_.daemon;
  n.evidence = config_.evidence;
  n.escalation = config_.escalation;
  n.watchdog = config_.watchdog;
  n.checker.priority = config_.checker.priority;
  spdlog::info("configuration reloaded from {}: threshold {} -> {}, check interval {} -> {}, "
               "heartbeat interval {} -> {}, CPUs {} -> {}{}",
               n.source, format_duration(config_.checker.threshold), format_duration(n.checker.threshold),
               format_duration(config_.checker.interval), format_duration(n.checker.interval),
               format_duration(oh.interval), format_duration(nh.interval), format_cpulist(monitored_),
               format_cpulist(*monitored), hb_changed ? " (heartbeats restarted)" : "");
  if (!restart_only.empty()) {
    std::string list;
    for (auto& s : restart_only) list += (list.empty() ? "" : ", ") + s;
    spdlog::warn("changes to {} take effect at the next restart", list);
  }
  config_ = std::move(n);
  monitored_ = *monitored;
  checker_->apply(CheckerSettings::from(config_));
  if (hb_changed) {
    for (int cpu = 0; cpu < heartbeats_->slot_count(); ++cpu) {
      if (!heartbeats_->has_thread(cpu)) continue;
      heartbeats_->request_stop(cpu);
      checker_->set_monitored(cpu, false, now);
    }
    sync_cpus(now, true);
  }
  notifier_.ready();
}

// Hotplug: an offline CPU is not stalled. Its heartbeat is stopped and started again when the CPU
// comes back. A heartbeat found running on another CPU (the kernel broke its affinity when its
// CPU went down between two polls) is restarted too.
void Daemon::sync_cpus(std::int64_t now, bool force_poll) {
  if (force_poll || now - last_cpu_poll_ns_ >= kCpuPollNs) {
    last_cpu_poll_ns_ = now;
    Result<CpuList> online = make_error("cannot open {}", options_.root.path("/sys/devices/system/cpu/online"));
    if (online_fd_.valid()) {
      char buf[4096];
      ssize_t n = ::pread(online_fd_.get(), buf, sizeof buf - 1, 0);
      online = n < 0 ? Result<CpuList>(make_error("read online CPUs: {}", std::strerror(errno)))
                     : parse_cpulist(std::string_view(buf, static_cast<std::size_t>(n)));
    }
    if (!online) {
      if (online_errors_++ % 60 == 0) spdlog::warn("cannot poll online CPUs: {}", online.error().message);
    } else {
      topo_.online = *online;
    }
  }
  const CpuList wanted = cpu_intersection(monitored_, topo_.online);
  auto is_wanted = [&](int cpu) { return std::binary_search(wanted.begin(), wanted.end(), cpu); };
  for (int cpu = 0; cpu < heartbeats_->slot_count(); ++cpu) {
    const bool monitored = checker_->view(cpu).state != CpuState::kUnmonitored;
    if (monitored) {
      const int on = heartbeats_->slots()[cpu].on_cpu.load(std::memory_order_relaxed);
      const bool displaced = on >= 0 && on != cpu;
      if (!is_wanted(cpu) || displaced) {
        spdlog::info("CPU {} {}: heartbeat stopped, not monitored while away", cpu,
                     displaced ? "was taken offline (heartbeat displaced)" : "is offline");
        heartbeats_->request_stop(cpu);
        checker_->set_monitored(cpu, false, now);
      }
      continue;
    }
    if (!heartbeats_->reap(cpu) || !is_wanted(cpu)) continue;
    auto st = heartbeats_->start(cpu, heartbeat_params());
    if (!st) {
      // Most likely the CPU went offline since the last poll: forget it until the next poll
      // says otherwise, so this is not retried (and logged) every tick.
      spdlog::warn("{}; retrying after the next online-CPU poll", st.error().message);
      topo_.online = cpu_difference(topo_.online, CpuList{cpu});
      continue;
    }
    checker_->set_monitored(cpu, true, now);
    spdlog::info("CPU {} is online: heartbeat started", cpu);
  }
}

void Daemon::update_status(std::int64_t now, bool force) {
  if (now - last_status_file_ns_ >= kStatusFileNs) {
    last_status_file_ns_ = now;
    write_status_file(now);
  }
  // The STATUS= line only changes with these; rebuilding it every tick would cost a format.
  const std::uint64_t signature = checker_->stalls_total() * 1'000'003u +
                                  checker_->stalled_cpus_count() * 1009u +
                                  static_cast<std::uint64_t>(config_.checker.threshold.count()) +
                                  checker_->monitored_count() * 7u;
  if (!force && signature == last_status_signature_) return;
  last_status_signature_ = signature;
  int active = 0;
  for (int cpu = 0; cpu < checker_->slot_count(); ++cpu)
    if (checker_->view(cpu).state != CpuState::kUnmonitored) ++active;
  auto stalled = checker_->stalled_cpus();
  std::string text = fmt::format("{}monitoring {} CPUs, threshold {}; stalls so far: {}; stalled now: {}",
                                 heartbeats_->degraded() ? "DEGRADED (SCHED_OTHER heartbeats) " : "",
                                 active, format_duration(config_.checker.threshold),
                                 checker_->stalls_total(),
                                 stalled.empty() ? "none" : format_cpulist(stalled));
  if (force || text != last_status_) {
    notifier_.status(text);
    last_status_ = std::move(text);
  }
}

// The status file for stallwatchctl: rewritten atomically at most once a second.
void Daemon::write_status_file(std::int64_t now) {
  nlohmann::json j;
  j["version"] = STALLWATCH_VERSION;
  j["pid"] = ::getpid();
  j["updated_mono_ns"] = now;
  j["updated_unix_ms"] = clock_ns(CLOCK_REALTIME) / 1'000'000;
  j["degraded"] = heartbeats_->degraded();
  j["config"] = config_.source;
  j["heartbeat_interval_ms"] = config_.heartbeat.interval.count() / 1'000'000;
  j["threshold_ms"] = config_.checker.threshold.count() / 1'000'000;
  j["stalls_total"] = checker_->stalls_total();
  j["events_dropped"] = worker_->dropped();
  nlohmann::json cpus = nlohmann::json::array();
  for (int cpu = 0; cpu < checker_->slot_count(); ++cpu) {
    CpuView v = checker_->view(cpu);
    if (v.state == CpuState::kUnmonitored &&
        !std::binary_search(monitored_.begin(), monitored_.end(), cpu))
      continue;
    const HeartbeatSlot& s = heartbeats_->slots()[cpu];
    nlohmann::json c;
    c["cpu"] = cpu;
    c["state"] = v.state == CpuState::kUnmonitored ? "offline" : to_string(v.state);
    c["age_ms"] = v.age_ns / 1'000'000;
    c["seq"] = s.seq.load(std::memory_order_relaxed);
    c["late_max_us"] = s.late_max_ns.load(std::memory_order_relaxed) / 1000;
    c["late_p99_us"] = lateness_percentile_ns(s, 0.99) / 1000;
    c["stalls"] = v.stalls;
    c["episode_ms"] = v.episode_ns / 1'000'000;
    nlohmann::json hist = nlohmann::json::array();
    for (const auto& b : s.late_hist) hist.push_back(b.load(std::memory_order_relaxed));
    c["late_hist_log2_ns"] = hist;
    cpus.push_back(std::move(c));
  }
  j["cpus"] = std::move(cpus);
  const std::string dir = config_.daemon.runtime_dir;
  const std::string path = dir + "/status.json";
  const std::string tmp = path + ".tmp";
  std::string text = j.dump(1) + "\n";
  UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  bool ok = fd.valid() && ::write(fd.get(), text.data(), text.size()) == static_cast<ssize_t>(text.size());
  fd.reset();
  ok = ok && ::rename(tmp.c_str(), path.c_str()) == 0;
  if (!ok && status_file_errors_++ % 300 == 0)
    spdlog::warn("cannot write status file {}: {}", path, std::strerror(errno));
}

// A heartbeat moved this thread off a CPU it was stuck on (see CheckerBeacon): let it run
// anywhere again and say so.
void Daemon::after_rescue(std::int64_t now) {
  const int by = beacon_.rescued_by.load(std::memory_order_acquire);
  if (by < 0) return;
  cpu_set_t all;
  CPU_ZERO(&all);
  for (int cpu : topo_.possible) CPU_SET(static_cast<unsigned>(cpu), &all);
  sched_setaffinity(0, sizeof all, &all);
  const std::int64_t last = beacon_.last_tick_ns.load(std::memory_order_relaxed);
  spdlog::warn("checker was held up for {} ms (queued on a CPU that could not schedule); "
               "CPU {}'s heartbeat moved it", (now - last) / 1'000'000, by);
  beacon_.rescued_by.store(-1, std::memory_order_release);
}

void Daemon::checker_loop() {
  beacon_.tid.store(static_cast<int>(::gettid()), std::memory_order_relaxed);
  update_status(clock_ns(CLOCK_MONOTONIC), true);
  // One blocking read of the timerfd per tick: stop and reload requests are picked up at the
  // next tick boundary, so no second fd (and no poll) is needed.
  while (!stop_.load(std::memory_order_relaxed)) {
    std::uint64_t expirations = 0;
    if (::read(timer_fd_.get(), &expirations, sizeof expirations) < 0) {
      if (errno == EINTR) continue;
      spdlog::critical("checker timerfd read failed: {}", std::strerror(errno));
      break;
    }
    if (stop_.load(std::memory_order_relaxed)) break;
    // Both clocks back to back: their difference is the suspend detector's input.
    const std::int64_t now = clock_ns(CLOCK_MONOTONIC);
    const std::int64_t boot = clock_ns(CLOCK_BOOTTIME);
    after_rescue(now);
    beacon_.last_tick_ns.store(now, std::memory_order_relaxed);
    beacon_.overdue_ns.store(std::max<std::int64_t>(3 * config_.checker.interval.count(), 200'000'000),
                             std::memory_order_relaxed);
    apply_pending(now);  // tick boundary
    sync_cpus(now, false);
    std::vector<StallEvent> events = checker_->tick(now, boot);
    for (const auto& event : events)
      if (event.kind == EventKind::kEscalation) escalation_->on_escalation_due(now);
    escalation_->on_tick(now, checker_->healthy());
    for (auto* o : observers_) o->on_tick(now, *checker_, events);
    for (auto& event : events) {
      if (!worker_->push(std::move(event)) && worker_->dropped() % 100 == 1)
        spdlog::error("report queue full: {} events dropped so far", worker_->dropped());
    }

    if (!ready_sent_ && (checker_->all_started() || now - start_ns_ > config_.checker.threshold.count())) {
      if (!checker_->all_started())
        spdlog::warn("not every heartbeat has stamped within the threshold; reporting ready anyway");
      notifier_.ready();
      ready_sent_ = true;
      spdlog::info("all heartbeats running; ready");
    }
    const std::uint64_t wd_usec = notifier_.watchdog_usec();
    if (wd_usec > 0 && now - last_watchdog_ns_ >= static_cast<std::int64_t>(wd_usec) * 1000 / 2) {
      notifier_.watchdog_ping();
      last_watchdog_ns_ = now;
    }
    update_status(now, false);
  }
}

}  // namespace stallwatch
