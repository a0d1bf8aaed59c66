// SPDX-License-Identifier: GPL-2.0-or-later
#include "stallwatch/evidence/proc_parse.h"
#include "stallwatch/core/sanitize.h"

#include <algorithm>
#include <charconv>

namespace stallwatch::evidence {

bool parse_u64(std::string_view s, std::uint64_t* out) {
  if (s.empty()) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && p == s.data() + s.size();
}

bool parse_i64(std::string_view s, std::int64_t* out) {
  if (s.empty()) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && p == s.data() + s.size();
}

bool parse_int(std::string_view s, int* out) {
  if (s.empty()) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && p == s.data() + s.size();
}

namespace {

// Splits on runs of spaces; stops after max tokens.
std::size_t split_spaces(std::string_view s, std::string_view* out, std::size_t max) {
  std::size_t n = 0;
  std::size_t i = 0;
  while (i < s.size() && n < max) {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\n')) ++i;
    if (i >= s.size()) break;
    std::size_t j = i;
    while (j < s.size() && s[j] != ' ' && s[j] != '\n') ++j;
    out[n++] = s.substr(i, j - i);
    i = j;
  }
  return n;
}

std::string_view next_line(std::string_view* rest) {
  auto nl = rest->find('\n');
  std::string_view line = rest->substr(0, nl);
  rest->remove_prefix(nl == std::string_view::npos ? rest->size() : nl + 1);
  return line;
}

}  // namespace

Result<TaskStat> parse_task_stat(std::string_view text) {
  auto open = text.find('(');
  auto close = text.rfind(')');
  if (open == std::string_view::npos || close == std::string_view::npos || close < open)
    return make_error("stat: no '(comm)'");
  TaskStat st;
  if (!parse_int(trim(text.substr(0, open)), &st.tid)) return make_error("stat: bad pid");
  st.comm = sanitize_text(text.substr(open + 1, close - open - 1));  // untrusted: escaped
  // Fields 3.. after the last ')'. Index i holds field i + 3.
  constexpr std::size_t kMax = 50;
  std::string_view f[kMax];
  std::size_t n = split_spaces(text.substr(close + 1), f, kMax);
  if (n < 18) return make_error("stat: only {} fields after comm", n);
  if (f[0].size() != 1) return make_error("stat: bad state '{}'", f[0]);
  st.state = f[0][0];
  auto field = [&](int number, auto* out) {
    std::size_t i = static_cast<std::size_t>(number - 3);
    if (i >= n) return true;  // older kernels: leave the default
    using T = std::remove_pointer_t<decltype(out)>;
    if constexpr (std::is_same_v<T, int>)
      return parse_int(f[i], out);
    else
      return parse_u64(f[i], out);
  };
  bool ok = field(4, &st.ppid) && field(14, &st.utime_ticks) && field(15, &st.stime_ticks) &&
            field(18, &st.priority) && field(19, &st.nice) && field(20, &st.num_threads) &&
            field(39, &st.processor) && field(40, &st.rt_priority) && field(41, &st.policy);
  if (!ok) return make_error("stat: bad numeric field");
  return st;
}

std::string policy_name(int policy) {
  switch (policy) {
    case 0: return "SCHED_OTHER";
    case 1: return "SCHED_FIFO";
    case 2: return "SCHED_RR";
    case 3: return "SCHED_BATCH";
    case 5: return "SCHED_IDLE";
    case 6: return "SCHED_DEADLINE";
    case 7: return "SCHED_EXT";
    default: return "SCHED_" + std::to_string(policy);
  }
}

bool is_rt_policy(int policy) { return policy == 1 || policy == 2; }

Result<SchedStat> parse_schedstat(std::string_view text) {
  std::string_view f[3];
  if (split_spaces(text, f, 3) != 3) return make_error("schedstat: want 3 fields");
  SchedStat s;
  if (!parse_u64(f[0], &s.run_ns) || !parse_u64(f[1], &s.wait_ns) ||
      !parse_u64(f[2], &s.timeslices))
    return make_error("schedstat: bad number");
  return s;
}

Result<std::vector<CpuTimes>> parse_proc_stat(std::string_view text) {
  std::vector<CpuTimes> out;
  std::string_view rest = text;
  while (!rest.empty()) {
    std::string_view line = next_line(&rest);
    if (line.size() < 4 || line.substr(0, 3) != "cpu" || line[3] < '0' || line[3] > '9') continue;
    std::string_view f[12];
    std::size_t n = split_spaces(line, f, 12);
    if (n < 5) return make_error("stat: short cpu line '{}'", line);
    CpuTimes t;
    if (!parse_int(f[0].substr(3), &t.cpu)) return make_error("stat: bad cpu '{}'", f[0]);
    std::uint64_t* fields[] = {&t.user, &t.nice,    &t.system, &t.idle,  &t.iowait,
                               &t.irq,  &t.softirq, &t.steal,  &t.guest, &t.guest_nice};
    for (std::size_t i = 1; i < n && i - 1 < std::size(fields); ++i)
      if (!parse_u64(f[i], fields[i - 1])) return make_error("stat: bad number in '{}'", line);
    out.push_back(t);
  }
  if (out.empty()) return make_error("stat: no per-CPU lines");
  return out;
}

const CpuTimes* find_cpu(const std::vector<CpuTimes>& all, int cpu) {
  for (const auto& t : all)
    if (t.cpu == cpu) return &t;
  return nullptr;
}

int CounterTable::column_of(int cpu) const {
  auto it = std::find(cpus.begin(), cpus.end(), cpu);
  return it == cpus.end() ? -1 : static_cast<int>(it - cpus.begin());
}

bool CounterTable::count(const CounterRow& row, int cpu, std::uint64_t* out) const {
  int col = column_of(cpu);
  if (col < 0 || static_cast<std::size_t>(col) >= row.counts.size()) return false;
  *out = row.counts[static_cast<std::size_t>(col)];
  return true;
}

const CounterRow* CounterTable::find(std::string_view name) const {
  for (const auto& r : rows)
    if (r.name == name) return &r;
  return nullptr;
}

namespace {

Result<CounterTable> parse_counter_table(std::string_view text, const char* what) {
  CounterTable table;
  std::string_view rest = text;
  std::string_view header = next_line(&rest);
  // Header: "           CPU0       CPU1       "
  std::size_t i = 0;
  while (i < header.size()) {
    while (i < header.size() && header[i] == ' ') ++i;
    std::size_t j = i;
    while (j < header.size() && header[j] != ' ') ++j;
    if (j > i) {
      std::string_view tok = header.substr(i, j - i);
      int cpu = -1;
      if (tok.size() < 4 || tok.substr(0, 3) != "CPU" || !parse_int(tok.substr(3), &cpu))
        return make_error("{}: bad header token '{}'", what, tok);
      table.cpus.push_back(cpu);
    }
    i = j;
  }
  if (table.cpus.empty()) return make_error("{}: no CPU columns in header", what);
  while (!rest.empty()) {
    std::string_view line = next_line(&rest);
    if (trim(line).empty()) continue;
    auto colon = line.find(':');
    if (colon == std::string_view::npos) return make_error("{}: no ':' in '{}'", what, line);
    CounterRow row;
    row.name = std::string(trim(line.substr(0, colon)));
    std::string_view cells = line.substr(colon + 1);
    std::size_t pos = 0;
    while (row.counts.size() < table.cpus.size()) {
      std::size_t a = pos;
      while (a < cells.size() && cells[a] == ' ') ++a;
      std::size_t b = a;
      while (b < cells.size() && cells[b] >= '0' && cells[b] <= '9') ++b;
      if (b == a || (b < cells.size() && cells[b] != ' ')) break;  // not a number: description
      std::uint64_t v = 0;
      if (!parse_u64(cells.substr(a, b - a), &v)) break;
      row.counts.push_back(v);
      pos = b;
    }
    row.description = std::string(trim(cells.substr(pos)));
    // Collapse the column padding inside descriptions ("IO-APIC   5-edge      ACPI:Ged").
    std::string collapsed;
    for (char c : row.description)
      if (c != ' ' || collapsed.empty() || collapsed.back() != ' ') collapsed.push_back(c);
    row.description = std::move(collapsed);
    table.rows.push_back(std::move(row));
  }
  return table;
}

}  // namespace

Result<CounterTable> parse_interrupts(std::string_view text) {
  return parse_counter_table(text, "interrupts");
}

Result<CounterTable> parse_softirqs(std::string_view text) {
  return parse_counter_table(text, "softirqs");
}

}  // namespace stallwatch::evidence
