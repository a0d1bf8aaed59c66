#include "stallwatch/evidence/kmsg_parse.h"

#include <limits>

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
int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool contains(std::string_view s, std::string_view what) {
  return s.find(what) != std::string_view::npos;
}

// Reads the decimal number at s[pos...]; returns -1 when there is none.
int number_at(std::string_view s, std::size_t pos) {
  std::size_t end = pos;
  while (end < s.size() && s[end] >= '0' && s[end] <= '9') ++end;
  int v = -1;
  if (end == pos || !parse_int(s.substr(pos, end - pos), &v)) return -1;
  return v;
}

// The number following the first occurrence of `marker`, -1 when absent.
int number_after(std::string_view s, std::string_view marker) {
  auto p = s.find(marker);
  if (p == std::string_view::npos) return -1;
  return number_at(s, p + marker.size());
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

std::string unescape_kmsg(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\\' && i + 3 < text.size() && text[i + 1] == 'x') {
      int hi = hex_digit(text[i + 2]);
      int lo = hex_digit(text[i + 3]);
      if (hi >= 0 && lo >= 0) {
        out.push_back(static_cast<char>(hi * 16 + lo));
        i += 3;
        continue;
      }
    }
    out.push_back(text[i]);
  }
  return out;
}

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

std::optional<VerdictMatch> match_verdict(std::string_view text) {
  VerdictMatch m{};
  // "watchdog: BUG: soft lockup - CPU#1 stuck for 5s! [insmod:90]"
  if (contains(text, "BUG: soft lockup")) {
    m.kind = VerdictKind::kSoftLockup;
    m.cpu = number_after(text, "CPU#");
    m.stuck_s = std::max(0, number_after(text, "stuck for "));
    auto open = text.rfind('[');
    auto close = text.rfind(']');
    if (open != std::string_view::npos && close != std::string_view::npos && close > open)
      comm_pid(text.substr(open + 1, close - open - 1), &m.comm, &m.pid);
    return m;
  }
  // "watchdog: Watchdog detected hard LOCKUP on cpu 1", "Kernel panic - not syncing: Hard LOCKUP"
  if (contains(text, "hard LOCKUP") || contains(text, "Hard LOCKUP")) {
    m.kind = VerdictKind::kHardLockup;
    m.cpu = number_after(text, "on cpu ");
    return m;
  }
  // "rcu: INFO: rcu_sched self-detected stall on CPU", "rcu: INFO: rcu_preempt detected stalls on
  // CPUs/tasks:" -- the CPU is on the follow-up line.
  if (contains(text, "rcu: INFO:") && contains(text, "stall")) {
    m.kind = VerdictKind::kRcuStall;
    return m;
  }
  // "INFO: task khugepaged:45 blocked for more than 120 seconds."
  if (contains(text, "blocked for more than")) {
    m.kind = VerdictKind::kHungTask;
    auto task = text.find("task ");
    auto end = text.find(" blocked for more than");
    if (task != std::string_view::npos && end != std::string_view::npos && end > task + 5)
      comm_pid(text.substr(task + 5, end - task - 5), &m.comm, &m.pid);
    return m;
  }
  if (contains(text, "RT throttling activated")) {
    m.kind = VerdictKind::kRtThrottling;
    return m;
  }
  // "clocksource: timekeeping watchdog on CPU1: Marking clocksource 'tsc' as unstable because
  // the skew is too large:", "tsc: Marking TSC unstable due to clocksource watchdog"
  if (contains(text, "unstable") && (contains(text, "clocksource") || contains(text, "TSC"))) {
    m.kind = VerdictKind::kClocksourceUnstable;
    m.cpu = number_after(text, "on CPU");
    return m;
  }
  return std::nullopt;
}

int follow_up_cpu(std::string_view text) {
  // "CPU: 1 PID: 90 Comm: insmod Not tainted ..."
  if (text.substr(0, 5) == "CPU: ") return number_at(text, 5);
  // "rcu: \x091-....: (5249 ticks this GP) ..." or with a literal tab
  std::string_view rest;
  if (text.substr(0, 9) == "rcu: \\x09") rest = text.substr(9);
  else if (text.substr(0, 6) == "rcu: \t") rest = text.substr(6);
  else return -1;
  int cpu = number_at(rest, 0);
  if (cpu < 0) return -1;
  std::size_t digits = std::to_string(cpu).size();
  if (rest.size() <= digits || rest[digits] != '-') return -1;
  return cpu;
}

}  // namespace stallwatch::evidence
