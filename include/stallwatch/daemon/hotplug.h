// SPDX-License-Identifier: GPL-2.0-or-later
// HotplugReconciler: keeps the running heartbeats equal to the monitored CPUs that are online.
// An offline CPU is not stalled: its heartbeat is stopped, and started again when the CPU comes
// back; with fewer than two watched CPUs a check-only heartbeat (the sentinel, plan_sentinel())
// runs on another CPU. It owns that state: the CPU topology as last read (online CPUs re-read
// through a kept-open sysfs fd), which CPUs are watched, the sentinel, the kernel's uevent
// socket (optional: without it the supervisor polls), and whether a sync must be retried soon
// (a heartbeat to restart was still exiting). The decisions are plan_hotplug() and
// plan_sentinel(); this unit applies them to the HeartbeatManager and the CheckRunner.
// Owned by the Daemon; every call on the supervisor (main) thread.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "stallwatch/core/clock.h"
#include "stallwatch/core/cpuset.h"
#include "stallwatch/core/heartbeat.h"
#include "stallwatch/core/result.h"
#include "stallwatch/core/sysroot.h"
#include "stallwatch/core/unique_fd.h"

namespace stallwatch::daemon {

class CheckRunner;

class HotplugReconciler {
 public:
  // The heartbeat parameters of a CPU (interval, phase, priority, the check hook), asked each
  // time a heartbeat starts or is updated.
  using ParamsFn = std::function<HeartbeatParams(int cpu)>;

  struct Deps {
    HeartbeatManager* heartbeats = nullptr;
    CheckRunner* runner = nullptr;
    ParamsFn params;
    std::vector<int> allowed_cpus;  // the process's CPUs, in order (where a sentinel may run)
    NowFn mono_now = mono_now_ns;   // CLOCK_MONOTONIC (the heartbeats' clock)
  };

  explicit HotplugReconciler(CpuTopology topology) : topo_(std::move(topology)) {}
  HotplugReconciler(const HotplugReconciler&) = delete;
  HotplugReconciler& operator=(const HotplugReconciler&) = delete;

  const CpuTopology& topology() const { return topo_; }

  // Opens <root>/sys/devices/system/cpu/online (kept open: re-read from offset 0 at each sync)
  // and, with kernel_uevents, the kernel's uevent socket; posts every monitored online CPU to
  // the check, then starts their heartbeats (all posted first, so READY=1 waits for every first
  // stamp), then the sentinel if needed. An error is a heartbeat that could not start.
  Status start(Deps deps, const Sysroot& root, bool kernel_uevents, const CpuList& monitored);

  // Re-reads the online CPUs and starts/stops heartbeats to match monitored (hotplug). Cheap when
  // nothing changed.
  void sync(const CpuList& monitored);
  // A reload changed the heartbeats: a CPU that stays monitored keeps its heartbeat (updated in
  // place), one leaving the set is stopped; sync() then starts the ones joining it.
  void apply_reload(const CpuList& monitored);

  // The kernel's uevent socket, or -1: then the supervisor polls every poll_ms().
  int fd() const { return uevent_fd_.get(); }
  int poll_ms() const { return retry_sync_ ? 100 : uevent_fd_.valid() ? -1 : 1000; }
  bool uevents() const { return uevent_fd_.valid(); }
  // Reads pending uevents; true if one concerned a CPU.
  bool drain_fd();

  int sentinel() const { return sentinel_; }
  bool watched(int cpu) const;

 private:
  void sync_sentinel();
  void unwatch(int cpu, std::int64_t now_ns);

  Deps deps_;
  CpuTopology topo_;
  UniqueFd online_fd_;
  UniqueFd uevent_fd_;
  int online_errors_ = 0;
  bool retry_sync_ = false;    // a heartbeat to start was still exiting: sync again soon
  std::vector<bool> watched_;  // by CPU: a heartbeat runs and the check monitors it
  int sentinel_ = -1;          // the CPU of the check-only heartbeat, or -1
};

}  // namespace stallwatch::daemon
