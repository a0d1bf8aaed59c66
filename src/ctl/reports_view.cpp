// SPDX-License-Identifier: GPL-2.0-or-later
// stallwatchctl reports: listing and showing the JSON stall reports.
#include "stallwatch/ctl/reports_view.h"

#include <dirent.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "stallwatch/core/sanitize.h"
#include "stallwatch/core/status_schema.h"  // get_or
#include "stallwatch/core/sysroot.h"
#include "stallwatch/ctl/status_view.h"

namespace stallwatch::ctl {

using nlohmann::json;

namespace {

constexpr std::size_t kMaxReportBytes = 4 << 20;

// Reports may be old (written before ingestion sanitizing) or edited: every string taken from
// one is escaped before it is printed, so no report can put a control byte on the terminal or
// forge a line. Already-sanitized text passes through unchanged.
std::string safe(std::string_view s) { return escape_controls(s); }

// Looks in the nested object first (the evidence engine's layout), then at the top level.
template <class T>
T nested_or_top(const json& doc, const char* nested, const char* key, T fallback) {
  auto it = doc.find(nested);
  if (it != doc.end() && it->is_object() && it->contains(key)) return get_or<T>(*it, key, fallback);
  return get_or<T>(doc, key, fallback);
}

std::string policy_text(const ReportEntry& e) {
  if (e.policy.empty()) return "";
  if (e.rt_priority > 0) return fmt::format("{}/{}", e.policy, e.rt_priority);
  return e.policy;
}

std::string culprit_text(const ReportEntry& e) {
  if (e.comm.empty() && e.pid <= 0) return "-";
  std::string s = fmt::format("{}[{}]", e.comm.empty() ? "?" : e.comm, e.pid);
  if (auto p = policy_text(e); !p.empty()) s += " " + p;
  return s;
}

void append_list(std::string& out, const json& doc, const char* key, const char* title) {
  auto it = doc.find(key);
  if (it == doc.end() || !it->is_array() || it->empty()) return;
  out += fmt::format("{}:\n", title);
  for (const auto& v : *it)
    out += "  " +
           safe(v.is_string() ? v.get<std::string>()
                              : v.dump(-1, ' ', false, json::error_handler_t::replace)) +
           "\n";
}

}  // namespace

ReportEntry parse_report(std::string_view text, std::string id, std::string path,
                         std::int64_t mtime_ns) {
  ReportEntry e;
  e.id = std::move(id);
  e.path = std::move(path);
  e.mtime_ns = mtime_ns;
  json doc = json::parse(text, nullptr, false);
  if (doc.is_discarded() || !doc.is_object()) {
    e.parse_error = true;
    return e;
  }
  // The evidence engine's envelope holds one object per update; older layouts are one update.
  std::vector<const json*> updates;
  if (auto u = doc.find("updates"); u != doc.end() && u->is_array())
    for (const auto& x : *u)
      if (x.is_object()) updates.push_back(&x);
  if (updates.empty()) updates.push_back(&doc);
  const json* primary = updates.front();
  for (const json* u : updates)
    if (nested_or_top<int>(*u, "culprit", "pid", 0) > 0) {
      primary = u;
      break;
    }
  const json& last = *updates.back();
  for (const json* u : updates) {
    ReportUpdate ru;
    ru.written = get_or<std::string>(*u, "written", "");
    ru.kind = nested_or_top<std::string>(*u, "event", "kind", "");
    std::int64_t ns = nested_or_top<std::int64_t>(*u, "event", "stall_ns", -1);
    ru.stall_ms =
        ns >= 0 ? ns / 1'000'000 : nested_or_top<std::int64_t>(*u, "event", "stall_ms", -1);
    e.stall_ms = std::max(e.stall_ms, ru.stall_ms);
    if (u != &doc) e.updates.push_back(std::move(ru));
  }
  e.written = get_or<std::string>(last, "written", "");
  e.kind = nested_or_top<std::string>(last, "event", "kind", "");
  e.cpu = get_or<int>(doc, "cpu", nested_or_top<int>(*primary, "event", "cpu", -1));
  e.episode = get_or<std::int64_t>(doc, "episode",
                                   nested_or_top<std::int64_t>(*primary, "event", "episode", 0));
  e.stall_class =
      get_or<std::string>(*primary, "class", get_or<std::string>(*primary, "stall_class", ""));
  e.comm = nested_or_top<std::string>(*primary, "culprit", "comm", "");
  e.pid = nested_or_top<int>(*primary, "culprit", "pid", 0);
  e.policy = nested_or_top<std::string>(*primary, "culprit", "policy", "");
  e.rt_priority = nested_or_top<int>(*primary, "culprit", "rt_priority", -1);
  e.summary = get_or<std::string>(*primary, "summary", "");
  for (std::string* field : {&e.written, &e.kind, &e.stall_class, &e.comm, &e.policy})
    *field = safe(*field);
  for (auto& u : e.updates) {
    u.written = safe(u.written);
    u.kind = safe(u.kind);
  }
  e.summary = escape_controls(e.summary, Newlines::kKeep);  // printed line by line, indented
  e.primary = *primary;
  e.doc = std::move(doc);
  return e;
}

Result<std::vector<ReportEntry>> list_reports(const std::string& dir) {
  std::vector<ReportEntry> out;
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) {
    if (errno == ENOENT) return out;
    return make_error("{}: {}", dir, std::strerror(errno));
  }
  while (dirent* ent = ::readdir(d)) {
    std::string name = ent->d_name;
    if (name.size() <= 5 || name.compare(name.size() - 5, 5, ".json") != 0 || name[0] == '.')
      continue;
    std::string path = dir + "/" + name;
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
    std::int64_t mtime_ns =
        static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
    auto text = read_file_capped(path, kMaxReportBytes);
    std::string id = name.substr(0, name.size() - 5);
    if (!text) {
      ReportEntry e;
      e.id = id;
      e.path = path;
      e.mtime_ns = mtime_ns;
      e.parse_error = true;
      out.push_back(std::move(e));
      continue;
    }
    out.push_back(parse_report(*text, id, path, mtime_ns));
  }
  ::closedir(d);
  std::sort(out.begin(), out.end(), [](const ReportEntry& a, const ReportEntry& b) {
    if (a.mtime_ns != b.mtime_ns) return a.mtime_ns > b.mtime_ns;
    return a.id > b.id;
  });
  return out;
}

Result<const ReportEntry*> find_report(const std::vector<ReportEntry>& entries,
                                       const std::string& id) {
  std::vector<const ReportEntry*> matches;
  for (const auto& e : entries) {
    if (e.id == id || e.id + ".json" == id || e.path == id) return &e;
    if (e.id.find(id) != std::string::npos) matches.push_back(&e);
  }
  if (matches.size() == 1) return matches.front();
  if (matches.empty())
    return make_error("no report matches \"{}\" ({} reports)", safe(id), entries.size());
  std::string names;
  for (const auto* m : matches) names += "\n  " + safe(m->id);
  return make_error("\"{}\" matches {} reports:{}", safe(id), matches.size(), names);
}

std::string format_report_list(const std::vector<ReportEntry>& entries) {
  if (entries.empty()) return "no stall reports\n";
  // The id comes from a file name, which may hold any byte but '/'.
  std::string out = fmt::format("{:<20}  {:>4}  {:<12}  {:>8}  {:<16}  {:<28}  {}\n", "WRITTEN",
                                "CPU", "EVENT", "STALL", "CLASS", "CULPRIT", "ID");
  for (const auto& e : entries) {
    if (e.parse_error) {
      out += fmt::format("{:<20}  {:>4}  {:<12}  {:>8}  {:<16}  {:<28}  {}\n", "-", "-",
                         "(unreadable)", "-", "-", "-", safe(e.id));
      continue;
    }
    std::string when = e.written.substr(0, 19);
    std::replace(when.begin(), when.end(), 'T', ' ');
    out += fmt::format("{:<20}  {:>4}  {:<12}  {:>8}  {:<16}  {:<28}  {}\n",
                       when.empty() ? "-" : when, e.cpu >= 0 ? std::to_string(e.cpu) : "-",
                       e.kind.empty() ? "-" : e.kind, e.stall_ms >= 0 ? format_ms(e.stall_ms) : "-",
                       e.stall_class.empty() ? "-" : e.stall_class, culprit_text(e), safe(e.id));
  }
  return out;
}

std::string format_report_list_json(const std::vector<ReportEntry>& entries) {
  json arr = json::array();
  for (const auto& e : entries) {
    json j = {{"id", e.id}, {"path", e.path}, {"readable", !e.parse_error}};
    if (!e.parse_error) {
      j["written"] = e.written;
      j["cpu"] = e.cpu;
      j["event"] = e.kind;
      j["stall_ms"] = e.stall_ms;
      j["episode"] = e.episode;
      j["class"] = e.stall_class;
      j["comm"] = e.comm;
      j["pid"] = e.pid;
      j["policy"] = e.policy;
      j["rt_priority"] = e.rt_priority;
    }
    arr.push_back(std::move(j));
  }
  return arr.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

std::string format_report(const ReportEntry& e) {
  if (e.parse_error) return fmt::format("{}: not a readable JSON report\n", safe(e.path));
  const json& doc = e.primary.is_object() ? e.primary : e.doc;
  std::string out = fmt::format("report {}\n  file:     {}\n", safe(e.id), safe(e.path));
  if (!e.written.empty()) out += fmt::format("  written:  {}\n", e.written);
  out += fmt::format("  event:    {} on CPU {}{}\n", e.kind.empty() ? "?" : e.kind,
                     e.cpu >= 0 ? std::to_string(e.cpu) : "-",
                     e.episode > 0 ? fmt::format(" (episode {})", e.episode) : "");
  if (e.stall_ms >= 0) {
    std::int64_t thr_ns = nested_or_top<std::int64_t>(doc, "event", "threshold_ns", -1);
    out += fmt::format(
        "  stalled:  {}{}\n", format_ms(e.stall_ms),
        thr_ns > 0 ? fmt::format(" (threshold {})", format_ms(thr_ns / 1'000'000)) : "");
  }
  if (!e.stall_class.empty()) {
    std::string reason = safe(get_or<std::string>(doc, "class_reason", ""));
    out += fmt::format("  class:    {}{}\n", e.stall_class, reason.empty() ? "" : " - " + reason);
  }
  if (e.pid > 0 || !e.comm.empty()) {
    out += fmt::format("  culprit:  {}", culprit_text(e));
    int tid = nested_or_top<int>(doc, "culprit", "tid", 0);
    if (tid > 0 && tid != e.pid) out += fmt::format(" tid {}", tid);
    out += "\n";
    std::string cmdline = safe(nested_or_top<std::string>(doc, "culprit", "cmdline", ""));
    if (!cmdline.empty()) out += fmt::format("  cmdline:  {}\n", cmdline);
    std::string cgroup = safe(nested_or_top<std::string>(doc, "culprit", "cgroup", ""));
    if (!cgroup.empty()) out += fmt::format("  cgroup:   {}\n", cgroup);
  }
  if (!e.summary.empty()) {
    out += "summary:\n";
    std::string_view s = e.summary;
    while (!s.empty()) {
      auto nl = s.find('\n');
      out += fmt::format("  {}\n", s.substr(0, nl));
      if (nl == std::string_view::npos) break;
      s.remove_prefix(nl + 1);
    }
  }
  auto culprit = doc.find("culprit");
  const json& stack_holder = (culprit != doc.end() && culprit->is_object()) ? *culprit : doc;
  auto stack = stack_holder.find("stack");
  if (stack != stack_holder.end()) {
    if (stack->is_string() && !stack->get<std::string>().empty()) {
      out += "kernel stack:\n";
      for (std::string_view s = stack->get_ref<const std::string&>(); !s.empty();) {
        auto nl = s.find('\n');
        out += fmt::format("  {}\n", safe(s.substr(0, nl)));
        if (nl == std::string_view::npos) break;
        s.remove_prefix(nl + 1);
      }
    } else if (stack->is_array() && !stack->empty()) {
      append_list(out, stack_holder, "stack", "kernel stack");
    }
  }
  append_list(out, doc, "kernel_verdicts", "kernel messages");
  append_list(out, doc, "notes", "notes");
  append_list(out, doc, "failed_steps", "evidence steps that failed");
  if (e.updates.size() > 1) {
    out += "updates:\n";
    for (const auto& u : e.updates)
      out +=
          fmt::format("  {:<20}  {:<12}  {}\n", u.written.empty() ? "-" : u.written,
                      u.kind.empty() ? "-" : u.kind, u.stall_ms >= 0 ? format_ms(u.stall_ms) : "-");
  }
  if (doc.contains("evidence"))
    out += "(full evidence: stallwatchctl reports --json " + safe(e.id) + ")\n";
  return out;
}

}  // namespace stallwatch::ctl
