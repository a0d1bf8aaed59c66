// SPDX-License-Identifier: GPL-2.0-or-later
// Daemon: the composition root. start() builds the units in order (escalation first, then the
// report worker, the dispatcher, the feeder and escalation actor, the heartbeats), reload()
// applies a new configuration (decided by plan_reload()), sync_cpus() follows CPU hotplug
// (HotplugReconciler), stop() takes them down in the right order within kStopBudgetNs. The logic
// lives in units tested on their own: CheckRunner (the check, run by the heartbeats), Dispatcher
// (the non-RT writer), plan_reload()/plan_hotplug()/plan_sentinel() (supervisor decisions),
// status_snapshot()/status_document(). Its clocks come from DaemonOptions.
// Threads: heartbeats (SCHED_FIFO, pinned; run the check), feeder (SCHED_FIFO, moved to the
// CPU of the check that wakes it), dispatcher and report worker (SCHED_OTHER), evidence
// background readers, and the supervisor (main thread, Supervisor), which calls start(),
// reload(), sync_cpus() and stop().
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "stallwatch/core/check_gate.h"
#include "stallwatch/core/clock.h"
#include "stallwatch/core/config.h"
#include "stallwatch/core/cpuset.h"
#include "stallwatch/core/event_ring.h"
#include "stallwatch/core/heartbeat.h"
#include "stallwatch/core/sysroot.h"
#include "stallwatch/daemon/check_runner.h"
#include "stallwatch/daemon/dispatcher.h"
#include "stallwatch/daemon/escalation_actor.h"
#include "stallwatch/daemon/feeder.h"
#include "stallwatch/daemon/hotplug.h"
#include "stallwatch/daemon/journal_sink.h"
#include "stallwatch/daemon/notify.h"
#include "stallwatch/daemon/report_worker.h"

namespace stallwatch::evidence {
class EvidenceEngine;
}  // namespace stallwatch::evidence
namespace stallwatch::escalation {
class EscalationControl;
}  // namespace stallwatch::escalation
namespace stallwatch::metrics {
class MetricsPublisher;
}  // namespace stallwatch::metrics

namespace stallwatch::daemon {

// The clocks the Daemon reads (it never calls clock_gettime itself). mono must be
// CLOCK_MONOTONIC's timebase (the heartbeats stamp with it) and boot CLOCK_BOOTTIME's; boot is
// read by the real-time check, so it must not block.
struct DaemonClocks {
  NowFn mono = mono_now_ns;
  NowFn boot = boot_now_ns;
  NowFn real = real_now_ns;  // status.json's updated_unix_ms
};

struct DaemonOptions {
  Sysroot root;
  EventOutput output = EventOutput::kStderr;
  // Listen to the kernel's CPU hotplug uevents (netlink); off, the supervisor polls the online
  // CPUs every second. stallwatchd turns it off under --sysroot (a fixture tree gets no
  // uevents).
  bool kernel_uevents = true;
  DaemonClocks clocks;
};

// Exit status classes for start() failures.
enum class StartError { kNone, kConfig, kPermission, kOther };

class Daemon {
 public:
  static constexpr std::int64_t kStopBudgetNs = 1'500'000'000;  // whole stop(), under 2 s

  Daemon(Config config, DaemonOptions options, Notifier& notifier);
  ~Daemon();
  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;

  // An extra sink beside the journal, escalation and metrics ones (tests), before start().
  void add_sink(std::unique_ptr<EventSink> sink);

  Status start();
  StartError start_error() const { return start_error_; }
  // Supervisor (main thread). reload() validates against what runs and is armed, then applies
  // at once; the notifier gets READY=1 either way.
  void reload(Config config);
  // A reload whose file did not parse (the running configuration stays): counted for metrics.
  void reload_failed();
  // Re-reads the online CPUs and starts/stops heartbeats (hotplug). Cheap when nothing changed.
  void sync_cpus();
  // A netlink socket with the kernel's uevents (CPU online/offline), or -1: then poll every
  // hotplug_poll_ms().
  int hotplug_fd() const { return hotplug_ ? hotplug_->fd() : -1; }
  int hotplug_poll_ms() const { return hotplug_ ? hotplug_->poll_ms() : 1000; }
  // Reads pending uevents; true if one concerned a CPU.
  bool drain_hotplug_fd() { return hotplug_ && hotplug_->drain_fd(); }
  // Disarms the watchdog first, then stops everything within kStopBudgetNs; threads stuck behind
  // a stalled CPU are abandoned (their memory is kept until exit).
  void stop();

  // What runs (tests, status): the running configuration, the monitored CPUs, the hotplug state.
  // Supervisor thread.
  const Config& config() const { return config_; }
  const CpuList& monitored() const { return monitored_; }
  const HotplugReconciler* hotplug() const { return hotplug_.get(); }
  const HeartbeatManager* heartbeats() const { return heartbeats_.get(); }

 private:
  // start()'s steps, in order; the first error ends start() through its one failure exit.
  Status read_topology();
  Status select_cpus();
  Status own_escalation();
  Status build_shared_state();
  Status start_report_worker();
  Status start_dispatcher();
  Status start_feeder();
  Status start_actor();
  Status start_heartbeats();
  Status refuse_degraded_escalation();
  void log_started() const;

  RunnerSettings runner_settings() const;
  HeartbeatParams heartbeat_params(int cpu) const;
  StatusInputs snapshot(std::int64_t now_ns);
  std::vector<StatusDrill> refresh_drills(std::int64_t now_ns);  // dispatcher; config_mu_ held
  class Outputs;

  Config config_;
  DaemonOptions options_;
  Notifier& notifier_;
  std::unique_ptr<CompositeSink> pending_sinks_ = std::make_unique<CompositeSink>();
  ReportWorker::Enricher enrich_;

  std::string drill_ignored_;  // the last "ignored" lines of the drill directory, said once
  std::mutex config_mu_;       // config_/monitored_: written by the supervisor, read by snapshot()
  CpuList monitored_;
  int slots_ = 0;                               // possible CPUs (the highest + 1)
  std::vector<int> allowed_cpus_;               // the process's CPUs at start
  std::unique_ptr<HotplugReconciler> hotplug_;  // the CPU topology, online and watched CPUs

  // Shared with the real-time threads: released (leaked) instead of destroyed if a thread using
  // them had to be abandoned at stop.
  std::unique_ptr<HeartbeatManager> heartbeats_;
  std::unique_ptr<CheckGate> gate_;
  std::unique_ptr<EventRing<CheckEvent>> ring_;
  std::unique_ptr<RtWake> dispatch_wake_;  // the check wakes the dispatcher with it
  std::unique_ptr<Outputs> outputs_;
  std::unique_ptr<CheckRunner> runner_;
  std::unique_ptr<Feeder> feeder_;
  std::unique_ptr<EscalationActor>
      actor_;  // calls into escalation_: stopped (or leaked with it) first
  std::unique_ptr<BlackoutJudge> judge_;  // the dispatcher's
  std::unique_ptr<Dispatcher> dispatcher_;
  std::unique_ptr<ReportWorker> worker_;
  std::unique_ptr<evidence::EvidenceEngine> evidence_;
  std::unique_ptr<escalation::EscalationControl> escalation_;
  std::unique_ptr<metrics::MetricsPublisher> metrics_;  // status fields, textfile (status writer)

  std::int64_t start_ns_ = 0;
  bool started_ = false;
  bool stopped_ = false;
  StartError start_error_ = StartError::kNone;
};

}  // namespace stallwatch::daemon
