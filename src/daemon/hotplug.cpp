// SPDX-License-Identifier: GPL-2.0-or-later
#include "stallwatch/daemon/hotplug.h"

#include <fcntl.h>
#include <linux/netlink.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string_view>

#include <spdlog/spdlog.h>

#include "stallwatch/daemon/check_runner.h"
#include "stallwatch/daemon/supervisor_plan.h"

namespace stallwatch::daemon {

namespace {

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

}  // namespace

bool HotplugReconciler::watched(int cpu) const {
  return cpu >= 0 && static_cast<std::size_t>(cpu) < watched_.size() &&
         watched_[static_cast<std::size_t>(cpu)];
}

Status HotplugReconciler::start(Deps deps, const Sysroot& root, bool kernel_uevents,
                                const CpuList& monitored) {
  deps_ = std::move(deps);
  watched_.assign(static_cast<std::size_t>(deps_.heartbeats->slot_count()), false);
  // Kept open: re-reading a sysfs attribute from offset 0 regenerates it, one pread a poll.
  online_fd_ =
      UniqueFd(::open(root.path("/sys/devices/system/cpu/online").c_str(), O_RDONLY | O_CLOEXEC));
  if (kernel_uevents) uevent_fd_ = open_uevent_socket();

  // Every CPU is posted before the first heartbeat starts (the first check, on that heartbeat,
  // applies them all): the checks see the whole set as starting, so READY=1 ("all heartbeats
  // running") waits for every heartbeat's first stamp, and no status pass shows a CPU whose
  // heartbeat is still being started as offline. A CPU whose heartbeat never stamps is a stall
  // after the threshold, counted from here.
  const CpuList first = cpu_intersection(monitored, topo_.online);
  const std::int64_t posted_ns = deps_.mono_now();
  for (int cpu : first) deps_.runner->post_monitor(cpu, true, posted_ns);
  for (int cpu : first) {
    if (auto st = deps_.heartbeats->start(cpu, deps_.params(cpu)); !st) return st;
    watched_[static_cast<std::size_t>(cpu)] = true;
  }
  sync_sentinel();
  return Ok{};
}

void HotplugReconciler::unwatch(int cpu, std::int64_t now_ns) {
  deps_.runner->post_monitor(cpu, false, now_ns);
  deps_.heartbeats->request_stop(cpu);
  watched_[static_cast<std::size_t>(cpu)] = false;
}

void HotplugReconciler::apply_reload(const CpuList& monitored) {
  // In place: a CPU that stays monitored keeps its heartbeat, its slot and its episode (a
  // stalled CPU's heartbeat could not exit anyway); only CPUs leaving the set are stopped,
  // and sync() starts the ones joining it. Nothing here waits for a heartbeat.
  const std::int64_t now = deps_.mono_now();
  for (int cpu = 0; cpu < deps_.heartbeats->slot_count(); ++cpu) {
    if (!watched_[static_cast<std::size_t>(cpu)]) continue;
    if (std::binary_search(monitored.begin(), monitored.end(), cpu)) {
      if (auto st = deps_.heartbeats->update(cpu, deps_.params(cpu)); !st)
        spdlog::warn("{}", st.error().message);
      continue;
    }
    unwatch(cpu, now);
  }
  if (sentinel_ >= 0) (void)deps_.heartbeats->update(sentinel_, deps_.params(sentinel_));
}

bool HotplugReconciler::drain_fd() {
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
void HotplugReconciler::sync(const CpuList& monitored) {
  if (online_fd_.valid()) {
    char buf[4096];
    ssize_t n = ::pread(online_fd_.get(), buf, sizeof buf - 1, 0);
    Result<CpuList> online =
        n < 0 ? Result<CpuList>(make_error("read online CPUs: {}", std::strerror(errno)))
              : parse_cpulist(std::string_view(buf, static_cast<std::size_t>(n)));
    if (online)
      topo_.online = *online;
    else if (online_errors_++ % 60 == 0)
      spdlog::warn("cannot poll online CPUs: {}", online.error().message);
  }
  const CpuList wanted = cpu_intersection(monitored, topo_.online);
  HeartbeatManager& heartbeats = *deps_.heartbeats;
  retry_sync_ = false;
  std::vector<HotplugCpu> cpus(static_cast<std::size_t>(heartbeats.slot_count()));
  for (std::size_t i = 0; i < cpus.size(); ++i) {
    const int cpu = static_cast<int>(i);
    HotplugCpu& c = cpus[i];
    c.wanted = std::binary_search(wanted.begin(), wanted.end(), cpu);
    c.monitored = watched_[i];
    c.has_thread = heartbeats.has_thread(cpu);
    c.exited = heartbeats.exited(cpu);
    // Wanted back but its old heartbeat is still on its way out (within one interval).
    if (c.wanted && !c.monitored && c.has_thread && !c.exited) retry_sync_ = true;
    // A heartbeat moved off a CPU that is online is put back by its relay (heartbeat.h); one
    // whose CPU went offline is stopped because its CPU is no longer wanted.
    c.displaced = false;
  }
  HotplugPlan plan = plan_hotplug(cpus);
  const std::int64_t now = deps_.mono_now();
  for (int cpu : plan.stop) {
    spdlog::info("CPU {} {}: heartbeat stopped, not monitored while away", cpu,
                 cpus[static_cast<std::size_t>(cpu)].displaced
                     ? "was taken offline (heartbeat displaced)"
                     : "is offline");
    unwatch(cpu, now);
  }
  for (int cpu : plan.start) {
    if (!heartbeats.reap(cpu)) {  // still exiting (within one interval): sync again soon
      retry_sync_ = true;
      continue;
    }
    auto st = heartbeats.start(cpu, deps_.params(cpu));
    if (!st) {
      spdlog::warn("{}; retrying at the next hotplug event", st.error().message);
      topo_.online = cpu_difference(topo_.online, CpuList{cpu});
      continue;
    }
    deps_.runner->post_monitor(cpu, true, deps_.mono_now());
    watched_[static_cast<std::size_t>(cpu)] = true;
    spdlog::info("CPU {} is online: heartbeat started", cpu);
  }
  sync_sentinel();
}

// With fewer than two monitored heartbeats, a stall of the one CPU would stop every check (they
// run on the heartbeats): a check-only heartbeat on another CPU keeps checking, feeding and
// pinging from a healthy CPU. Its CPU is not monitored and never reported.
void HotplugReconciler::sync_sentinel() {
  CpuList watched;
  for (std::size_t i = 0; i < watched_.size(); ++i)
    if (watched_[i]) watched.push_back(static_cast<int>(i));
  int want = plan_sentinel(watched, topo_.online, cpu_union(topo_.isolated, topo_.nohz_full),
                           deps_.allowed_cpus);
  if (want == sentinel_) return;
  if (sentinel_ >= 0) {
    deps_.runner->post_sentinel(sentinel_, false);
    deps_.heartbeats->request_stop(sentinel_);
    spdlog::info("check-only heartbeat on CPU {} stopped", sentinel_);
    sentinel_ = -1;
  }
  if (want < 0 || !deps_.heartbeats->reap(want)) {
    if (want >= 0) retry_sync_ = true;
    return;
  }
  if (auto st = deps_.heartbeats->start(want, deps_.params(want)); !st) {
    spdlog::warn("no check-only heartbeat: {}; a stall of the one monitored CPU is found only "
                 "after it ends",
                 st.error().message);
    return;
  }
  deps_.runner->post_sentinel(want, true);
  sentinel_ = want;
}

}  // namespace stallwatch::daemon
