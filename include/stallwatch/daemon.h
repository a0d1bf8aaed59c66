// Daemon: wires the heartbeats, the checker thread, the report worker and the sinks together.
// Created and stopped by main; reload() is called from the main thread and applied by the checker
// thread at its next tick boundary. The checker thread owns the HeartbeatManager and the Checker.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "stallwatch/checker.h"
#include "stallwatch/config.h"
#include "stallwatch/cpuset.h"
#include "stallwatch/heartbeat.h"
#include "stallwatch/journal_sink.h"
#include "stallwatch/notify.h"
#include "stallwatch/report_worker.h"
#include "stallwatch/sysroot.h"
#include "stallwatch/unique_fd.h"

namespace stallwatch {

class EvidenceEngine;
namespace escalation {
class Escalation;
}

// Called on the checker thread after every tick with that tick's events (e.g. to feed a hardware
// watchdog). Must not block.
class TickObserver {
 public:
  virtual ~TickObserver() = default;
  virtual void on_tick(std::int64_t now_mono_ns, const Checker& checker,
                       const std::vector<StallEvent>& events) = 0;
};

struct DaemonOptions {
  Sysroot root;
  EventOutput output = EventOutput::kStderr;
};

// Exit status classes for start() failures.
enum class StartError { kNone, kConfig, kPermission, kOther };

class Daemon {
 public:
  Daemon(Config config, DaemonOptions options, Notifier& notifier);
  ~Daemon();
  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;

  // Evidence (when evidence.enabled) and escalation/watchdog ownership are built by start() from
  // the config. Extra sinks and observers (tests) are added before start().
  void add_sink(std::unique_ptr<EventSink> sink);
  void add_tick_observer(TickObserver* observer);
  void set_enricher(ReportWorker::Enricher enrich);

  Status start();
  StartError start_error() const { return start_error_; }
  void reload(Config config);  // main thread; applied at the next tick
  void stop();                 // main thread; joins everything

 private:
  void checker_loop();
  void apply_pending(std::int64_t now);
  void sync_cpus(std::int64_t now, bool force_poll);
  HeartbeatParams heartbeat_params();
  void update_status(std::int64_t now, bool force);
  void write_status_file(std::int64_t now);
  void after_rescue(std::int64_t now);

  Config config_;
  DaemonOptions options_;
  Notifier& notifier_;
  std::unique_ptr<CompositeSink> pending_sinks_ = std::make_unique<CompositeSink>();
  ReportWorker::Enricher enrich_;
  std::vector<TickObserver*> observers_;

  CpuTopology topo_;
  CpuList monitored_;
  std::unique_ptr<HeartbeatManager> heartbeats_;
  CheckerBeacon beacon_;
  std::unique_ptr<Checker> checker_;
  std::unique_ptr<ReportWorker> worker_;
  std::unique_ptr<EvidenceEngine> evidence_;
  std::unique_ptr<escalation::Escalation> escalation_;

  UniqueFd timer_fd_;
  UniqueFd online_fd_;
  pthread_t checker_thread_{};
  bool checker_started_ = false;
  std::atomic<bool> stop_{false};
  StartError start_error_ = StartError::kNone;

  std::mutex pending_mu_;
  std::optional<Config> pending_config_;

  // Checker-thread state.
  std::int64_t start_ns_ = 0;
  std::int64_t last_cpu_poll_ns_ = 0;
  std::int64_t last_watchdog_ns_ = 0;
  std::int64_t last_status_file_ns_ = 0;
  bool ready_sent_ = false;
  bool restart_heartbeats_ = false;
  std::string last_status_;
  std::uint64_t last_status_signature_ = 0;
  int online_errors_ = 0;
  int status_file_errors_ = 0;
};

}  // namespace stallwatch
