// SPDX-License-Identifier: GPL-2.0-or-later
#include "stallwatch/evidence/sysrq_parse.h"

#include <charconv>

#include "stallwatch/core/sanitize.h"
#include "stallwatch/evidence/proc_parse.h"

namespace stallwatch::evidence {

namespace {

bool starts_with(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }

// "CPU: 1 PID: 90 Comm: insmod Not tainted 6.1.0-56-amd64 #1 Debian ..."
// "CPU: 1 UID: 0 PID: 90 Comm: insmod Tainted: G O 6.12 ..." (6.10+ adds UID)
void parse_cpu_line(std::string_view line, BacktraceSection* s) {
  auto p = line.find("PID: ");
  if (p != std::string_view::npos) {
    std::size_t e = p + 5;
    while (e < line.size() && line[e] >= '0' && line[e] <= '9') ++e;
    parse_int(line.substr(p + 5, e - p - 5), &s->pid);
  }
  auto c = line.find("Comm: ");
  if (c == std::string_view::npos) return;
  std::string_view rest = line.substr(c + 6);
  std::size_t end = rest.find(" Not tainted");
  if (end == std::string_view::npos) end = rest.find(" Tainted:");
  if (end == std::string_view::npos) end = rest.find(' ');
  s->comm = std::string(rest.substr(0, end));
}

}  // namespace

bool is_idle_function(std::string_view rip) {
  static constexpr std::string_view kIdle[] = {
      "default_idle",  "native_safe_halt", "pv_native_safe_halt", "mwait_idle",
      "intel_idle",    "acpi_idle",        "acpi_safe_halt",      "poll_idle",
      "cpu_idle_poll", "haltpoll",         "amd_e400_idle",       "do_idle"};
  for (auto f : kIdle)
    if (starts_with(rip, f)) return true;
  return false;
}

BacktraceSection* SysrqDumpAssembler::open_section() {
  if (sections_.empty() || sections_.back().complete) return nullptr;
  return &sections_.back();
}

void SysrqDumpAssembler::add_line(std::string_view raw_text) {
  ++lines_seen_;
  // /dev/kmsg text arrives \xNN-escaped by the kernel; escape whatever else could slip in.
  const std::string clean = escape_controls(raw_text);
  std::string_view text = clean;
  std::string_view t = trim(text);
  if (starts_with(t, "sysrq: Show backtrace of all active CPUs") ||
      starts_with(t, "SysRq : Show backtrace of all active CPUs")) {
    saw_trigger_ = true;
    return;
  }
  if (starts_with(t, "NMI backtrace for cpu ")) {
    if (auto* prev = open_section()) prev->complete = true;
    BacktraceSection s;
    std::string_view rest = t.substr(22);
    std::size_t e = 0;
    while (e < rest.size() && rest[e] >= '0' && rest[e] <= '9') ++e;
    if (!parse_int(rest.substr(0, e), &s.cpu)) return;
    s.lines.emplace_back(text);
    auto idle = rest.find("skipped: idling at ");
    if (idle != std::string_view::npos) {
      s.idle = true;
      s.complete = true;
      s.rip = std::string(trim(rest.substr(idle + 19)));
      s.kernel_rip = true;
    }
    // A CPU appears once per dump; a repeat replaces the older section.
    for (auto it = sections_.begin(); it != sections_.end(); ++it)
      if (it->cpu == s.cpu) {
        sections_.erase(it);
        break;
      }
    sections_.push_back(std::move(s));
    return;
  }
  BacktraceSection* s = open_section();
  if (s == nullptr) return;  // between sections ("Sending NMI from CPU 0 to CPUs 1:", others)
  if (starts_with(t, "Sending NMI from CPU")) {
    s->complete = true;
    return;
  }
  if (s->lines.size() < max_lines_)
    s->lines.emplace_back(text);
  else
    s->truncated = true;

  if (starts_with(t, "CPU: ")) {
    parse_cpu_line(t, s);
  } else if (starts_with(t, "RIP: ") && s->rip.empty() && !s->in_trace) {
    std::string_view r = t.substr(5);
    auto colon = r.find(':');
    std::string_view cs = colon == std::string_view::npos ? "" : r.substr(0, colon);
    s->rip = std::string(colon == std::string_view::npos ? r : r.substr(colon + 1));
    s->kernel_rip = cs == "0010";
    s->user_rip = cs == "0033";
  } else if (starts_with(t, "RSP: ") && !s->have_eflags && !s->in_trace) {
    auto e = t.find("EFLAGS: ");
    if (e != std::string_view::npos) {
      std::string_view hex = t.substr(e + 8, 8);
      unsigned long flags = 0;
      auto [p, ec] = std::from_chars(hex.data(), hex.data() + hex.size(), flags, 16);
      if (ec == std::errc() && p != hex.data()) {
        s->have_eflags = true;
        s->irqs_off = (flags & 0x200) == 0;
      }
    }
  } else if (starts_with(t, "FS:") && s->user_rip && t.find("knlGS") == std::string_view::npos) {
    s->complete = true;  // user-mode registers end with FS/GS and no call trace follows
  } else if (t == "Call Trace:") {
    s->in_trace = true;
  } else if (s->in_trace) {
    if (t.size() > 2 && t[0] == '<' && t.back() == '>') {
      if (t[1] == '/') {
        if (t == "</NMI>") s->in_nmi = false;
        if (s->depth > 0 && --s->depth == 0) s->complete = true;
      } else {
        if (t == "<NMI>") s->in_nmi = true;
        ++s->depth;
      }
    } else if (!s->in_nmi && !starts_with(t, "? ") && t.find("+0x") != std::string_view::npos &&
               t.find(": ") == std::string_view::npos && s->frames.size() < 64) {
      // "name+0x1d/0xffb [module]"; register lines ("RIP: 0033:...") of the user-mode entry
      // frame also sit inside <TASK> and are skipped.
      s->frames.emplace_back(t);
    }
  }
}

void SysrqDumpAssembler::finish() {
  if (auto* s = open_section()) s->complete = true;
}

bool SysrqDumpAssembler::complete_for(const std::vector<int>& cpus) const {
  for (int cpu : cpus) {
    const BacktraceSection* s = section(cpu);
    if (s == nullptr || !s->complete) return false;
  }
  return true;
}

const BacktraceSection* SysrqDumpAssembler::section(int cpu) const {
  for (const auto& s : sections_)
    if (s.cpu == cpu) return &s;
  return nullptr;
}

}  // namespace stallwatch::evidence
