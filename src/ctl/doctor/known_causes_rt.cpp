// SPDX-License-Identifier: GPL-2.0-or-later
// Doctor, report group Known causes: rt-throttling, the kernel's RT bandwidth limit and the user RT
// tasks that run at or above the stallwatch heartbeat priority (whose stalls the heartbeat cannot
// see).
#include <fmt/format.h>

#include "stallwatch/ctl/doctor/doctor.h"
#include "stallwatch/ctl/doctor/parse.h"
#include "stallwatch/evidence/proc_parse.h"

namespace stallwatch::ctl {

namespace {

struct RtTask {
  int pid = 0;
  int tid = 0;
  std::string comm;
  int policy = 0;
  int rt_priority = 0;
};

bool numeric(const std::string& s) {
  return !s.empty() && s.find_first_not_of("0123456789") == std::string::npos;
}

// User threads with an RT policy at rt_priority >= min_priority; kernel threads (children of
// kthreadd) and stallwatchd's own threads are left out.
std::vector<RtTask> scan_rt_tasks(const Sysroot& root, int min_priority, int* scanned) {
  std::vector<RtTask> out;
  auto pids = root.list_dir("/proc");
  if (!pids) return out;
  for (const auto& p : *pids) {
    if (!numeric(p)) continue;
    if (read_trimmed(root, "/proc/" + p + "/comm").value_or("") == "stallwatchd") continue;
    auto tids = root.list_dir("/proc/" + p + "/task");
    if (!tids) continue;
    for (const auto& t : *tids) {
      auto text = root.read_file("/proc/" + p + "/task/" + t + "/stat", 4096);
      if (!text) continue;
      auto st = evidence::parse_task_stat(*text);
      if (!st) continue;
      ++*scanned;
      if (p == "2" || st->ppid == 2) continue;
      if (!evidence::is_rt_policy(st->policy) || st->rt_priority < min_priority) continue;
      out.push_back({std::stoi(p), st->tid, st->comm, st->policy, st->rt_priority});
    }
  }
  return out;
}

}  // namespace

Finding audit_rt_throttling(const DoctorContext& ctx) {
  Finding r;
  auto runtime_text = read_trimmed(ctx.root, "/proc/sys/kernel/sched_rt_runtime_us");
  auto period_text = read_trimmed(ctx.root, "/proc/sys/kernel/sched_rt_period_us");
  r.add("/proc/sys/kernel/sched_rt_runtime_us", runtime_text.value_or("absent"));
  r.add("/proc/sys/kernel/sched_rt_period_us", period_text.value_or("absent"));
  const int prio = ctx.config.heartbeat.priority;
  r.add("heartbeat.priority", std::to_string(prio));
  int scanned = 0;
  const auto tasks = scan_rt_tasks(ctx.root, prio, &scanned);
  std::string names;
  for (const auto& t : tasks)
    names += fmt::format("{}{}[{}] {} {}", names.empty() ? "" : ", ", t.comm, t.tid,
                         evidence::policy_name(t.policy), t.rt_priority);
  r.add("/proc/*/task/*/stat", fmt::format("{} threads scanned (kernel threads not counted); at "
                                           "or above priority {}: {}",
                                           scanned, prio, names.empty() ? "none" : names));
  auto runtime = runtime_text ? parse_integer(*runtime_text) : std::nullopt;
  if (!runtime) {
    r.status = FindingStatus::kUnknown;
    r.summary = "kernel.sched_rt_runtime_us is not readable";
    return r;
  }
  const std::string tasks_text =
      tasks.empty() ? ""
                    : fmt::format("{} RT thread{} at or above the heartbeat priority {} ({}): a "
                                  "stall they cause is invisible to stallwatch",
                                  tasks.size(), tasks.size() == 1 ? "" : "s", prio, names);
  if (*runtime < 0) {
    r.status = FindingStatus::kWarn;
    r.summary = "RT throttling is off (sched_rt_runtime_us = -1): a runaway RT task can own a CPU "
                "forever" +
                (tasks_text.empty() ? "" : "; " + tasks_text);
    r.fix = "sysctl -w kernel.sched_rt_runtime_us=950000 (the default: 5% of each second is left "
            "to other tasks)";
    return r;
  }
  if (!tasks.empty()) {
    r.status = FindingStatus::kWarn;
    r.summary = tasks_text;
    r.fix = "lower their priority (chrt -f -p 50 TID) or raise heartbeat.priority above them";
    return r;
  }
  r.status = FindingStatus::kOk;
  r.summary = fmt::format("RT throttling on ({}us per {}us); no RT thread at or above the "
                          "heartbeat priority {}",
                          *runtime, period_text.value_or("?"), prio);
  return r;
}

}  // namespace stallwatch::ctl
