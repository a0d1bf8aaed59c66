// SPDX-License-Identifier: GPL-2.0-or-later
// Supervisor plans: the decisions of the daemon's supervisor (main thread) as pure functions, so
// reload and CPU hotplug are unit-tested with plain data as Checker::tick is.
//   plan_reload():  what a SIGHUP does with a new configuration: rejected (with the message an
//                   operator reads, the running one kept) or the effective new configuration,
//                   whether the heartbeats restart, and which changed sections wait for a
//                   restart. A reload that could no longer feed the hardware watchdog armed now
//                   is rejected.
//   plan_sentinel(): where the check-only heartbeat runs when fewer than two CPUs are watched
//                   (with one heartbeat, a stall of its CPU would stop every check), or -1.
//   plan_hotplug(): which heartbeats to stop (CPU offline, or displaced by the kernel when its
//                   CPU went down) and which to start (CPU back online, previous thread gone).
#pragma once

#include <string>
#include <vector>

#include "stallwatch/core/config.h"
#include "stallwatch/core/cpuset.h"

namespace stallwatch::daemon {

struct ReloadPlan {
  bool accepted = false;
  std::string message;  // the rejection, or the one-line summary of what changed
  Config next;          // effective configuration (restart-only sections kept as running)
  CpuList monitored;
  bool heartbeats_changed = false;
  std::vector<std::string> restart_only;  // "[evidence]", "watchdog.feeder_priority", ...
};

// armed_timeout_s: the timeout of the hardware watchdog armed now (0 = none armed).
ReloadPlan plan_reload(const Config& running, const CpuList& running_monitored, Config next,
                       const CpuTopology& topo, int armed_timeout_s);

// watched: CPUs with a monitored heartbeat; avoid: isolated and nohz_full CPUs (used only when
// nothing else is left); allowed: the process's CPUs, in order.
int plan_sentinel(const CpuList& watched, const CpuList& online, const CpuList& avoid,
                  const std::vector<int>& allowed);

struct HotplugCpu {
  bool wanted = false;      // configured and online now
  bool monitored = false;   // the supervisor has a heartbeat for it that the check watches
  bool has_thread = false;  // a heartbeat thread exists (maybe exiting)
  bool exited = false;      // that thread has exited (reapable)
  bool displaced = false;   // its heartbeat last ran on another CPU
};

struct HotplugPlan {
  std::vector<int> stop;   // unmonitor, ask the heartbeat to stop
  std::vector<int> start;  // reap the old thread if any, start a heartbeat, monitor
};

HotplugPlan plan_hotplug(const std::vector<HotplugCpu>& cpus);

}  // namespace stallwatch::daemon
