// SPDX-License-Identifier: GPL-2.0-or-later
// Doctor parsers: taint mask, kernel command line, systemd watchdog settings, /proc/stat totals,
// kernel-log history.
#include "stallwatch/ctl/doctor/parse.h"

#include <charconv>

#include "stallwatch/core/text.h"
#include "stallwatch/evidence/kmsg_parse.h"

namespace stallwatch::ctl {

namespace {

constexpr TaintFlag kTaintFlags[] = {
    {0, 'P', "proprietary module was loaded"},
    {1, 'F', "module was force loaded"},
    {2, 'S', "kernel running on an out of specification system"},
    {3, 'R', "module was force unloaded"},
    {4, 'M', "processor reported a Machine Check Exception (MCE)"},
    {5, 'B', "bad page referenced or some unexpected page flags"},
    {6, 'U', "taint requested by userspace application"},
    {7, 'D', "kernel died recently, i.e. there was an OOPS or BUG"},
    {8, 'A', "an ACPI table was overridden by user"},
    {9, 'W', "kernel issued warning"},
    {10, 'C', "staging driver was loaded"},
    {11, 'I', "workaround for bug in platform firmware applied"},
    {12, 'O', "externally-built (\"out-of-tree\") module was loaded"},
    {13, 'E', "unsigned module was loaded"},
    {14, 'L', "soft lockup occurred"},
    {15, 'K', "kernel has been live patched"},
    {16, 'X', "auxiliary taint, defined for and used by distros"},
    {17, 'T', "kernel was built with the struct randomization plugin"},
    {18, 'N', "an in-kernel test has been run"},
};

}  // namespace

std::optional<std::string> read_trimmed(const Sysroot& root, std::string_view path) {
  auto text = root.read_file(path, 1 << 20);
  if (!text) return std::nullopt;
  return std::string(trim(*text));
}

std::optional<std::int64_t> parse_integer(std::string_view text) {
  text = trim(text);
  if (text.empty()) return std::nullopt;
  std::int64_t v = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || p != text.data() + text.size()) return std::nullopt;
  return v;
}

std::vector<TaintFlag> decode_taint(std::uint64_t mask) {
  std::vector<TaintFlag> out;
  for (int bit = 0; bit < 64; ++bit) {
    if ((mask & (std::uint64_t{1} << bit)) == 0) continue;
    if (bit < static_cast<int>(std::size(kTaintFlags)))
      out.push_back(kTaintFlags[bit]);
    else
      out.push_back({bit, '?', "unknown taint bit"});
  }
  return out;
}

std::string taint_letters(std::uint64_t mask) {
  std::string s;
  for (const auto& f : decode_taint(mask)) s += f.letter;
  return s.empty() ? "-" : s;
}

std::optional<std::string> cmdline_param(std::string_view cmdline, std::string_view key) {
  std::optional<std::string> found;
  std::size_t i = 0;
  while (i < cmdline.size()) {
    while (i < cmdline.size() && (cmdline[i] == ' ' || cmdline[i] == '\n' || cmdline[i] == '\t'))
      ++i;
    if (i >= cmdline.size()) break;
    // A word, with double quotes protecting spaces.
    std::string word;
    bool quoted = false;
    while (i < cmdline.size() && (quoted || (cmdline[i] != ' ' && cmdline[i] != '\n'))) {
      if (cmdline[i] == '"')
        quoted = !quoted;
      else
        word += cmdline[i];
      ++i;
    }
    if (word == "--") break;
    std::string_view w = word;
    if (w == key) {
      found = std::string();
    } else if (w.size() > key.size() && w.substr(0, key.size()) == key && w[key.size()] == '=') {
      found = std::string(w.substr(key.size() + 1));
    }
  }
  return found;
}

std::optional<Nanos> parse_systemd_timespan(std::string_view text) {
  text = trim(text);
  if (text.empty()) return std::nullopt;
  struct Unit {
    std::string_view name;
    std::int64_t ns;
  };
  static constexpr Unit kUnits[] = {
      {"usec", 1'000},
      {"us", 1'000},
      {"msec", 1'000'000},
      {"ms", 1'000'000},
      {"seconds", 1'000'000'000},
      {"second", 1'000'000'000},
      {"sec", 1'000'000'000},
      {"s", 1'000'000'000},
      {"minutes", 60'000'000'000},
      {"minute", 60'000'000'000},
      {"min", 60'000'000'000},
      {"m", 60'000'000'000},
      {"hours", 3'600'000'000'000},
      {"hour", 3'600'000'000'000},
      {"hr", 3'600'000'000'000},
      {"h", 3'600'000'000'000},
  };
  std::int64_t total = 0;
  std::size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && text[i] == ' ') ++i;
    if (i >= text.size()) break;
    std::size_t start = i;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') ++i;
    if (i == start) return std::nullopt;
    std::int64_t n = 0;
    std::from_chars(text.data() + start, text.data() + i, n);
    while (i < text.size() && text[i] == ' ') ++i;
    std::size_t ustart = i;
    while (i < text.size() && text[i] != ' ' && (text[i] < '0' || text[i] > '9')) ++i;
    std::string_view unit = text.substr(ustart, i - ustart);
    std::int64_t mult = unit.empty() ? 1'000'000'000 : 0;  // bare number: seconds
    for (const auto& u : kUnits)
      if (unit == u.name) mult = u.ns;
    if (mult == 0) return std::nullopt;
    total += n * mult;
  }
  return Nanos(total);
}

SystemdWatchdog parse_systemd_watchdog(const std::vector<std::string>& texts_in_order) {
  SystemdWatchdog w;
  for (const auto& text : texts_in_order) {
    bool in_manager = false;
    std::string_view rest = text;
    while (!rest.empty()) {
      auto nl = rest.find('\n');
      std::string_view line = trim(rest.substr(0, nl));
      rest = nl == std::string_view::npos ? std::string_view() : rest.substr(nl + 1);
      if (line.empty() || line[0] == '#' || line[0] == ';') continue;
      if (line[0] == '[') {
        in_manager = line == "[Manager]";
        continue;
      }
      if (!in_manager) continue;
      auto eq = line.find('=');
      if (eq == std::string_view::npos) continue;
      std::string_view key = trim(line.substr(0, eq));
      std::string_view value = trim(line.substr(eq + 1));
      if (key == "RuntimeWatchdogSec") {
        w.set = true;
        w.value = std::string(value);
      } else if (key == "WatchdogDevice") {
        w.device = std::string(value);
      }
    }
  }
  const std::string& v = w.value;
  w.enabled = w.set && !v.empty() && v != "0" && v != "off" && v != "default";
  if (w.enabled && v != "infinity") {
    auto d = parse_systemd_timespan(v);
    if (d && d->count() > 0)
      w.timeout = *d;
    else if (d)
      w.enabled = false;  // "0s"
  }
  return w;
}

std::optional<StatTotals> parse_stat_totals(std::string_view stat_text) {
  std::string_view rest = stat_text;
  while (!rest.empty()) {
    auto nl = rest.find('\n');
    std::string_view line = rest.substr(0, nl);
    rest = nl == std::string_view::npos ? std::string_view() : rest.substr(nl + 1);
    if (line.substr(0, 4) != "cpu ") continue;
    line.remove_prefix(4);
    std::uint64_t f[8] = {};
    int n = 0;
    while (n < 8) {
      line = trim(line);
      if (line.empty()) break;
      auto sp = line.find(' ');
      std::string_view tok = line.substr(0, sp);
      auto [p, ec] = std::from_chars(tok.data(), tok.data() + tok.size(), f[n]);
      if (ec != std::errc() || p != tok.data() + tok.size()) return std::nullopt;
      ++n;
      line = sp == std::string_view::npos ? std::string_view() : line.substr(sp);
    }
    if (n < 8) return std::nullopt;  // steal appeared in 2.6.11
    StatTotals t;
    for (auto v : f) t.total += v;
    t.steal = f[7];
    return t;
  }
  return std::nullopt;
}

LogHistory scan_kernel_log(const std::vector<std::string>& messages) {
  LogHistory h;
  for (const auto& m : messages) {
    auto v = evidence::match_verdict(m);
    if (!v) continue;
    const int k = static_cast<int>(v->kind);
    if (k < 0 || k >= LogHistory::kKinds) continue;
    ++h.count[k];
    h.last[k] = m;
  }
  return h;
}

std::string_view history_kind_name(int kind) {
  static constexpr std::string_view kNames[] = {"soft lockup",   "hard lockup",
                                                "RCU stall",     "hung task",
                                                "RT throttling", "clocksource unstable"};
  return kind >= 0 && kind < LogHistory::kKinds ? kNames[kind] : "?";
}

}  // namespace stallwatch::ctl
