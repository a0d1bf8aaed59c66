// SPDX-License-Identifier: GPL-2.0-or-later
#include "stallwatch/evidence/kmsg_parse.h"

#include <limits>

#include "stallwatch/core/sanitize.h"
#include "stallwatch/evidence/proc_parse.h"

namespace stallwatch::evidence {

Result<KmsgRecord> parse_kmsg_record(std::string_view data) {
  auto semi = data.find(';');
  if (semi == std::string_view::npos) return make_error("kmsg: no ';' in record");
  std::string_view header = data.substr(0, semi);
  std::string_view fields[4];
  std::size_t n = 0;
  while (n < 4) {
    auto comma = header.find(',');
    fields[n++] = header.substr(0, comma);
    if (comma == std::string_view::npos) break;
    header.remove_prefix(comma + 1);
  }
  if (n < 4) return make_error("kmsg: header has {} fields, want 4", n);
  KmsgRecord r;
  int prio = 0;
  if (!parse_int(fields[0], &prio) || prio < 0) return make_error("kmsg: bad prio '{}'", fields[0]);
  r.level = prio & 7;
  r.facility = prio >> 3;
  if (!parse_u64(fields[1], &r.seq)) return make_error("kmsg: bad seq '{}'", fields[1]);
  // Callers turn usec into nanoseconds: keep that representable.
  if (!parse_i64(fields[2], &r.usec) || r.usec < 0 ||
      r.usec > std::numeric_limits<std::int64_t>::max() / 1000)
    return make_error("kmsg: bad usec '{}'", fields[2]);
  r.flag = fields[3].empty() ? '-' : fields[3][0];
  std::string_view body = data.substr(semi + 1);
  auto nl = body.find('\n');
  r.text = body.substr(0, nl);
  if (nl == std::string_view::npos) return r;
  body.remove_prefix(nl + 1);
  while (!body.empty()) {
    nl = body.find('\n');
    std::string_view line = body.substr(0, nl);
    body.remove_prefix(nl == std::string_view::npos ? body.size() : nl + 1);
    if (line.empty()) continue;
    if (line[0] != ' ') return make_error("kmsg: continuation line without leading space");
    r.dict.push_back(line.substr(1));
  }
  return r;
}

std::vector<std::string_view> split_kmsg_records(std::string_view data) {
  std::vector<std::string_view> out;
  std::size_t start = std::string_view::npos;
  std::size_t i = 0;
  while (i < data.size()) {
    auto nl = data.find('\n', i);
    std::size_t end = nl == std::string_view::npos ? data.size() : nl + 1;
    if (data[i] != ' ') {
      if (start != std::string_view::npos) out.push_back(data.substr(start, i - start));
      start = i;
    }
    i = end;
  }
  if (start != std::string_view::npos) out.push_back(data.substr(start));
  return out;
}

namespace {
// Reads the decimal number at s[pos...]; returns -1 when there is none.
int number_at(std::string_view s, std::size_t pos) {
  std::size_t end = pos;
  while (end < s.size() && s[end] >= '0' && s[end] <= '9') ++end;
  int v = -1;
  if (end == pos || !parse_int(s.substr(pos, end - pos), &v)) return -1;
  return v;
}

// "[comm:pid]" or "task comm:pid " -> comm, pid. comm may contain ':' so split at the last one.
void comm_pid(std::string_view s, std::string* comm, int* pid) {
  auto colon = s.rfind(':');
  if (colon == std::string_view::npos) return;
  int p = 0;
  if (!parse_int(s.substr(colon + 1), &p)) return;
  *comm = std::string(s.substr(0, colon));
  *pid = p;
}
}  // namespace

std::string unescape_kmsg(std::string_view text) { return unescape_text(text, false); }

std::string_view to_string(VerdictKind kind) {
  switch (kind) {
    case VerdictKind::kSoftLockup: return "soft-lockup";
    case VerdictKind::kHardLockup: return "hard-lockup";
    case VerdictKind::kRcuStall: return "rcu-stall";
    case VerdictKind::kHungTask: return "hung-task";
    case VerdictKind::kRtThrottling: return "rt-throttling";
    case VerdictKind::kClocksourceUnstable: return "clocksource-unstable";
  }
  return "unknown";
}

namespace {

bool starts_with(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }
bool ends_with(std::string_view s, std::string_view p) {
  return s.size() >= p.size() && s.substr(s.size() - p.size()) == p;
}

// Removes `prefix` from *s when it is there.
bool consume(std::string_view* s, std::string_view prefix) {
  if (!starts_with(*s, prefix)) return false;
  s->remove_prefix(prefix.size());
  return true;
}

// Reads the decimal number at the start of *s and removes it; false when there is none.
bool consume_number(std::string_view* s, int* out) {
  std::size_t n = 0;
  while (n < s->size() && (*s)[n] >= '0' && (*s)[n] <= '9') ++n;
  if (n == 0 || !parse_int(s->substr(0, n), out)) return false;
  s->remove_prefix(n);
  return true;
}

// The kernel's pr_fmt prefix of the lockup detectors: "watchdog: " (5.x+) or "NMI watchdog: ".
std::string_view strip_watchdog_prefix(std::string_view s) {
  if (!consume(&s, "watchdog: ")) consume(&s, "NMI watchdog: ");
  return s;
}

// "rcu_preempt", "rcu_sched", "rcu_bh", "rcu_tasks...": the flavour word before the phrase.
bool consume_rcu_flavour(std::string_view* s) {
  if (!starts_with(*s, "rcu_")) return false;
  std::size_t n = 4;
  while (n < s->size() && (*s)[n] != ' ') ++n;
  s->remove_prefix(n);
  return true;
}

}  // namespace

// Each verdict is matched against the whole shape of the kernel's format string, anchored at the
// start of the text: a phrase that merely appears in a line (a task named "BUG: soft lockup"
// printed by some other message) is not a verdict.
std::optional<VerdictMatch> match_verdict(std::string_view text) {
  VerdictMatch m{};
  // kernel/watchdog.c: "BUG: soft lockup - CPU#%d stuck for %us! [%s:%d]"
  {
    std::string_view s = strip_watchdog_prefix(text);
    int cpu = -1;
    int secs = 0;
    if (consume(&s, "BUG: soft lockup - CPU#") && consume_number(&s, &cpu) &&
        consume(&s, " stuck for ") && consume_number(&s, &secs) && consume(&s, "s! [") &&
        ends_with(s, "]")) {
      m.kind = VerdictKind::kSoftLockup;
      m.cpu = cpu;
      m.stuck_s = secs;
      comm_pid(s.substr(0, s.size() - 1), &m.comm, &m.pid);
      if (m.pid > 0) return m;
    }
  }
  // kernel/watchdog_*.c: "Watchdog detected hard LOCKUP on cpu %d"; panic: "... Hard LOCKUP"
  {
    std::string_view s = strip_watchdog_prefix(text);
    int cpu = -1;
    if (consume(&s, "Watchdog detected hard LOCKUP on cpu ") && consume_number(&s, &cpu)) {
      m.kind = VerdictKind::kHardLockup;
      m.cpu = cpu;
      return m;
    }
    if (text == "Kernel panic - not syncing: Hard LOCKUP") {
      m.kind = VerdictKind::kHardLockup;
      return m;
    }
  }
  // kernel/rcu/tree_stall.h: "rcu: INFO: %s self-detected stall on CPU", "rcu: INFO: %s detected
  // stalls on CPUs/tasks:", "rcu: INFO: %s detected expedited stalls on CPUs/tasks: {" (older
  // kernels without the "rcu: " prefix) -- the CPU is on the follow-up line.
  {
    std::string_view s = text;
    consume(&s, "rcu: ");
    if (consume(&s, "INFO: ") && consume_rcu_flavour(&s) &&
        (starts_with(s, " self-detected stall on CPU") ||
         starts_with(s, " detected stalls on CPUs/tasks:") ||
         starts_with(s, " detected expedited stalls on CPUs/tasks:"))) {
      m.kind = VerdictKind::kRcuStall;
      return m;
    }
  }
  // kernel/hung_task.c: "INFO: task %s:%d blocked for more than %ld seconds."
  {
    std::string_view s = text;
    constexpr std::string_view kBlocked = " blocked for more than ";
    auto end = s.rfind(kBlocked);
    if (consume(&s, "INFO: task ") && end != std::string_view::npos &&
        ends_with(text, " seconds.")) {
      std::string_view secs = text.substr(end + kBlocked.size());
      secs.remove_suffix(9);
      int n = 0;
      if (parse_int(secs, &n) && end > 11) {
        m.kind = VerdictKind::kHungTask;
        comm_pid(text.substr(11, end - 11), &m.comm, &m.pid);
        if (m.pid > 0) return m;
      }
    }
  }
  // kernel/sched/rt.c: "sched: RT throttling activated"
  if (text == "sched: RT throttling activated") {
    m.kind = VerdictKind::kRtThrottling;
    return m;
  }
  // kernel/time/clocksource.c: "clocksource: timekeeping watchdog on CPU%d: Marking clocksource
  // '%s' as unstable because the skew is too large:"; arch/x86/kernel/tsc.c: "tsc: Marking TSC
  // unstable due to %s"
  {
    std::string_view s = text;
    int cpu = -1;
    if (consume(&s, "clocksource: timekeeping watchdog on CPU") && consume_number(&s, &cpu) &&
        consume(&s, ": Marking clocksource '") &&
        s.find("' as unstable because") != std::string_view::npos) {
      m.kind = VerdictKind::kClocksourceUnstable;
      m.cpu = cpu;
      return m;
    }
    if (starts_with(text, "tsc: Marking TSC unstable due to ")) {
      m.kind = VerdictKind::kClocksourceUnstable;
      return m;
    }
  }
  return std::nullopt;
}

int follow_up_cpu(std::string_view text) {
  // "CPU: 1 PID: 90 Comm: insmod Not tainted ..."
  if (text.substr(0, 5) == "CPU: ") return number_at(text, 5);
  // "rcu: \x091-....: (5249 ticks this GP) ..." or with a literal tab
  std::string_view rest;
  if (text.substr(0, 9) == "rcu: \\x09")
    rest = text.substr(9);
  else if (text.substr(0, 6) == "rcu: \t")
    rest = text.substr(6);
  else
    return -1;
  int cpu = number_at(rest, 0);
  if (cpu < 0) return -1;
  std::size_t digits = std::to_string(cpu).size();
  if (rest.size() <= digits || rest[digits] != '-') return -1;
  return cpu;
}

}  // namespace stallwatch::evidence
