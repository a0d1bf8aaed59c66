// SPDX-License-Identifier: GPL-2.0-or-later
#include "stallwatch/evidence/report_json.h"

#include <algorithm>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "stallwatch/core/sanitize.h"
#include "stallwatch/evidence/proc_parse.h"

namespace stallwatch::evidence {

using nlohmann::json;

namespace {

std::string dump(const json& j, int indent = -1) {
  return j.dump(indent, ' ', false, json::error_handler_t::replace);
}

// Strings from /proc and /dev/kmsg are stored in their sanitized form (sanitize.h): readable,
// no control byte, and unescape_text() gives the exact bytes back. When the two differ the raw
// bytes are also kept as hex in a sibling "<key>_raw_hex" field.
void add_raw_hex(json* j, const char* key, const std::string& sanitized) {
  if (sanitized.find('\\') == std::string::npos) return;
  (*j)[std::string(key) + "_raw_hex"] = hex_bytes(unescape_text(sanitized));
}

json task_json(const TaskEvidence& t) {
  json j = json{{"pid", t.pid},
                {"tid", t.tid},
                {"comm", t.comm},
                {"state", std::string(1, t.state)},
                {"processor", t.processor},
                {"policy", policy_name(t.policy)},
                {"rt_priority", t.rt_priority},
                {"nice", t.nice},
                {"priority", t.priority},
                {"utime_ticks", t.utime_ticks},
                {"stime_ticks", t.stime_ticks},
                {"schedstat_run_ns", t.run_ns},
                {"schedstat_growth_ns", t.run_ns_growth},
                {"running", t.running},
                {"syscall", t.syscall},
                {"cgroup", t.cgroup},
                {"cmdline", t.cmdline},
                {"wchan", t.wchan},
                {"stack", t.stack},
                {"read_errors", t.read_errors}};
  add_raw_hex(&j, "comm", t.comm);
  add_raw_hex(&j, "cmdline", t.cmdline);
  add_raw_hex(&j, "cgroup", t.cgroup);
  return j;
}

json counters_json(const CounterEvidence& c) {
  json j{{"have_window", c.have_window}};
  if (!c.have_window) return j;
  j["window_kind"] = c.window_kind;
  j["window_start_mono_ns"] = c.window_start_mono_ns;
  j["window_ns"] = c.window_ns;
  if (c.have_stat)
    j["cpu_ms"] = json{{"user", c.cpu_ms.user},       {"nice", c.cpu_ms.nice},
                       {"system", c.cpu_ms.system},   {"idle", c.cpu_ms.idle},
                       {"iowait", c.cpu_ms.iowait},   {"irq", c.cpu_ms.irq},
                       {"softirq", c.cpu_ms.softirq}, {"steal", c.cpu_ms.steal}};
  auto rows = [](const std::vector<CounterDelta>& v) {
    json a = json::array();
    for (const auto& d : v)
      a.push_back(json{{"name", d.name}, {"description", d.description}, {"delta", d.delta}});
    return a;
  };
  if (c.have_interrupts) {
    j["interrupts"] = json{{"total_delta", c.irq_total_delta}, {"top", rows(c.top_irqs)}};
    if (c.have_loc)
      j["interrupts"]["local_timer"] = json{{"row", c.local_timer_row}, {"delta", c.loc_delta}};
  }
  if (c.have_softirqs) j["softirqs"] = rows(c.softirqs);
  if (c.have_thermal)
    j["thermal_throttle"] =
        json{{"core_delta", c.core_throttle_delta}, {"package_delta", c.package_throttle_delta}};
  if (c.have_machine_checks)
    j["machine_checks"] = json{{"mce_delta", c.mce_delta}, {"mcp_delta", c.mcp_delta}};
  return j;
}

std::string seconds(std::int64_t ns) {
  return fmt::format("{:.2f}s", static_cast<double>(ns) / 1e9);
}

}  // namespace

std::string evidence_to_json(const Evidence& ev) {
  json j;
  j["heartbeat_priority"] = ev.heartbeat_priority;
  j["collected_mono_ns"] = ev.collected_mono_ns;
  j["tasks_scanned"] = ev.tasks_scanned;
  j["running_reason"] = ev.running_reason;
  j["running_certain"] = ev.running_certain;
  json tasks = json::array();
  for (std::size_t i = 0; i < ev.tasks.size() && i < kMaxReportTasks; ++i)
    tasks.push_back(task_json(ev.tasks[i]));
  j["tasks"] = tasks;
  if (ev.tasks.size() > kMaxReportTasks) j["tasks_omitted"] = ev.tasks.size() - kMaxReportTasks;
  const auto& b = ev.backtrace;
  j["backtrace"] = json{{"status", b.status},
                        {"note", b.note},
                        {"cpu", b.cpu},
                        {"have_section", b.have_section},
                        {"idle", b.idle},
                        {"kernel_rip", b.kernel_rip},
                        {"user_rip", b.user_rip},
                        {"irqs_off", b.irqs_off},
                        {"rip", b.rip},
                        {"pid", b.pid},
                        {"comm", b.comm},
                        {"frames", b.frames},
                        {"section", b.section},
                        {"cpus_seen", b.cpus_seen},
                        {"cpus_missing", b.cpus_missing},
                        {"wait_ns", b.wait_ns}};
  json verdicts = json::array();
  for (const auto& v : ev.verdicts)
    verdicts.push_back(json{{"kind", std::string(to_string(v.match.kind))},
                            {"cpus", v.cpus},
                            {"seq", v.seq},
                            {"mono_ns", v.mono_ns},
                            {"text", v.text},
                            {"comm", v.match.comm},
                            {"pid", v.match.pid},
                            {"rip", v.rip},
                            {"context", v.context}});
  j["kernel_verdicts"] = verdicts;
  j["kmsg_lost_records"] = ev.kmsg_lost_records;
  j["counters"] = counters_json(ev.counters);
  j["system"] = json{{"clocksource", ev.system.clocksource}};
  if (ev.system.have_rt_runtime) {
    j["system"]["sched_rt_runtime_us"] = ev.system.sched_rt_runtime_us;
    j["system"]["sched_rt_period_us"] = ev.system.sched_rt_period_us;
  }
  json steps = json::array();
  for (const auto& s : ev.steps)
    steps.push_back(json{{"name", s.name}, {"elapsed_ns", s.elapsed_ns}, {"ok", s.ok}});
  j["steps"] = steps;
  std::string out = dump(j);
  if (out.size() > kMaxDetailsBytes) {
    // Drop the bulky parts, keep the verdict-relevant ones.
    j["backtrace"]["section"] = json::array({"[omitted: report size cap]"});
    for (auto& v : j["kernel_verdicts"]) v["context"] = json::array();
    for (auto& t : j["tasks"]) t["stack"] = json::array();
    j["truncated"] = true;
    out = dump(j);
  }
  return out;
}

void fill_report(const Evidence& ev, const Classification& cls, StallReport* r) {
  r->event = ev.event;
  r->timeline_json = timeline_to_json(ev.timeline);
  r->stall_class = cls.stall_class;
  r->class_reason = cls.reason;
  if (cls.culprit >= 0 && static_cast<std::size_t>(cls.culprit) < ev.tasks.size()) {
    const auto& t = ev.tasks[static_cast<std::size_t>(cls.culprit)];
    r->pid = t.pid;
    r->tid = t.tid;
    r->comm = t.comm;
    r->policy = policy_name(t.policy);
    r->rt_priority = t.rt_priority;
    r->nice = t.nice;
    r->cmdline = t.cmdline;
    r->cgroup = t.cgroup;
    r->stack = t.stack;
  } else if (cls.handler.empty() && ev.backtrace.have_section && ev.backtrace.pid > 0) {
    r->pid = ev.backtrace.pid;
    r->tid = ev.backtrace.pid;
    r->comm = ev.backtrace.comm;
  }
  // A task on a CPU has no readable stack (verified), and a stack read later may show another
  // moment: the NMI backtrace is the CPU's live one, preferred when it shows the culprit.
  const auto& bt = ev.backtrace;
  if (bt.have_section && !bt.idle && (r->tid == 0 || (bt.pid > 0 && bt.pid == r->tid))) {
    r->stack.clear();
    if (!ev.backtrace.rip.empty()) r->stack.push_back(ev.backtrace.rip);
    for (const auto& f : ev.backtrace.frames) r->stack.push_back(f);
  }
  r->kernel_verdicts.clear();
  for (const auto& v : ev.verdicts) r->kernel_verdicts.push_back(v.text);
  r->notes = ev.notes;
  r->failed_steps = ev.failed_steps;
  r->summary = format_summary(ev, cls);
  r->details_json = evidence_to_json(ev);
}

std::string format_summary(const Evidence& ev, const Classification& cls) {
  std::string out = "reason: " + cls.reason;
  const TaskEvidence* t =
      cls.culprit >= 0 && static_cast<std::size_t>(cls.culprit) < ev.tasks.size()
          ? &ev.tasks[static_cast<std::size_t>(cls.culprit)]
          : nullptr;
  if (t != nullptr) {
    out += fmt::format("\nculprit: {} pid {} tid {} {} rt_priority {} nice {}", t->comm, t->pid,
                       t->tid, policy_name(t->policy), t->rt_priority, t->nice);
    if (!t->cgroup.empty()) out += " cgroup " + t->cgroup;
    if (!t->cmdline.empty()) out += "\ncmdline: " + t->cmdline;
  } else if (!cls.handler.empty()) {
    out += "\nculprit: " + cls.handler + " (a handler, no task)";
  } else {
    out += "\nculprit: none identified";
  }
  std::vector<std::string> stack;
  std::string stack_src;
  if (ev.backtrace.have_section && !ev.backtrace.idle) {
    if (!ev.backtrace.rip.empty()) stack.push_back(ev.backtrace.rip);
    stack.insert(stack.end(), ev.backtrace.frames.begin(), ev.backtrace.frames.end());
    stack_src = fmt::format("NMI backtrace cpu {}", ev.event.cpu);
  } else if (t != nullptr && !t->stack.empty()) {
    stack = t->stack;
    stack_src = "kernel stack";
  } else {
    for (const auto& v : ev.verdicts)
      if (!v.rip.empty()) {
        stack.push_back(v.rip);
        stack_src = "kernel report";
        break;
      }
  }
  if (!stack.empty()) {
    out += "\nstack (" + stack_src + "):";
    for (std::size_t i = 0; i < stack.size() && i < 6; ++i) out += (i ? " < " : " ") + stack[i];
  }
  const auto& c = ev.counters;
  if (c.have_stat && c.cpu_ms.total() > 0) {
    const auto& m = c.cpu_ms;
    auto pct = [&](std::int64_t x) {
      return static_cast<double>(x) * 100 / static_cast<double>(m.total());
    };
    out += fmt::format("\ncpu{} over {} ({}): user {:.0f}% system {:.0f}% irq {:.0f}% softirq "
                       "{:.0f}% steal {:.0f}% idle {:.0f}%",
                       ev.event.cpu, seconds(c.window_ns), c.window_kind, pct(m.user + m.nice),
                       pct(m.system), pct(m.irq), pct(m.softirq), pct(m.steal),
                       pct(m.idle + m.iowait));
  } else if (c.have_stat) {
    out += fmt::format("\ncpu{} over {}: /proc/stat times did not move", ev.event.cpu,
                       seconds(c.window_ns));
  }
  if (c.have_interrupts) {
    out += "\nirqs:";
    if (c.top_irqs.empty()) out += " none";
    for (std::size_t i = 0; i < c.top_irqs.size() && i < 4; ++i)
      out += fmt::format(" {} +{}", c.top_irqs[i].name, c.top_irqs[i].delta);
    if (c.have_loc && c.loc_delta == 0) out += fmt::format(" ({} +0)", c.local_timer_row);
  }
  if (c.have_thermal && c.core_throttle_delta + c.package_throttle_delta > 0)
    out += fmt::format("\nCPU {} was thermally throttled {} times during the stall (package {})",
                       ev.event.cpu, c.core_throttle_delta, c.package_throttle_delta);
  if (c.have_machine_checks && c.mce_delta > 0)
    out += fmt::format("\nCPU {} took {} machine check exceptions during the stall", ev.event.cpu,
                       c.mce_delta);
  if (c.have_softirqs && !c.softirqs.empty()) {
    out += "\nsoftirqs:";
    for (std::size_t i = 0; i < c.softirqs.size() && i < 4; ++i)
      out += fmt::format(" {} +{}", c.softirqs[i].name, c.softirqs[i].delta);
  }
  if (std::string tl = timeline_summary(ev.timeline); !tl.empty()) out += "\n" + tl;
  for (const auto& v : ev.verdicts) out += "\nkernel: " + v.text;
  if (!ev.notes.empty()) {
    out += "\nnotes:";
    for (const auto& n : ev.notes) out += " " + n + ";";
    out.pop_back();
  }
  if (!ev.failed_steps.empty()) {
    out += "\nfailed:";
    for (const auto& f : ev.failed_steps) out += " " + f + ";";
    out.pop_back();
  }
  return out;
}

std::string report_to_json(const StallReport& r, const std::string& wall_time) {
  const auto& e = r.event;
  json j;
  j["written"] = wall_time;
  j["event"] = json{{"kind", std::string(to_string(e.kind))},
                    {"cpu", e.cpu},
                    {"stall_ns", e.stall_ns},
                    {"threshold_ns", e.threshold_ns},
                    {"detected_mono_ns", e.detected_mono_ns},
                    {"stall_start_mono_ns", e.stall_start_mono_ns},
                    {"episode", e.episode},
                    {"note", e.note}};
  j["class"] = r.stall_class;
  j["class_reason"] = r.class_reason;
  if (r.drill) j["drill"] = true;
  j["culprit"] = json{{"pid", r.pid},
                      {"tid", r.tid},
                      {"comm", r.comm},
                      {"policy", r.policy},
                      {"rt_priority", r.rt_priority},
                      {"nice", r.nice},
                      {"cmdline", r.cmdline},
                      {"cgroup", r.cgroup},
                      {"stack", r.stack}};
  add_raw_hex(&j["culprit"], "comm", r.comm);
  add_raw_hex(&j["culprit"], "cmdline", r.cmdline);
  add_raw_hex(&j["culprit"], "cgroup", r.cgroup);
  j["text_encoding"] = "sanitized: control bytes, C1 controls and invalid UTF-8 as \\xHH, "
                       "backslash as \\\\; *_raw_hex holds the exact bytes";
  j["summary"] = r.summary;
  j["kernel_verdicts"] = r.kernel_verdicts;
  j["notes"] = r.notes;
  j["failed_steps"] = r.failed_steps;
  if (!r.timeline_json.empty()) {
    json tl = json::parse(r.timeline_json, nullptr, false);
    if (!tl.is_discarded()) j["timeline"] = std::move(tl);
  }
  if (!r.details_json.empty()) {
    json details = json::parse(r.details_json, nullptr, false);
    j["evidence"] = details.is_discarded() ? json(r.details_json) : details;
  }
  return dump(j);
}

}  // namespace stallwatch::evidence
