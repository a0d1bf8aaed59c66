// SPDX-License-Identifier: GPL-2.0-or-later
// TOML -> Config. Parsing walks every table so unknown keys are errors; each known key checks its
// type and range; cross-key rules run afterwards. Errors read "FILE:LINE:COL: key: message".
#include "stallwatch/core/config.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <functional>
#include <map>
#include <set>

#include <fmt/format.h>
#include <toml++/toml.h>

#include "stallwatch/core/cpuset.h"
#include "stallwatch/core/escalation_rules.h"
#include "stallwatch/core/sysroot.h"

namespace stallwatch {

std::string_view to_string(EscalationAction action) {
  switch (action) {
    case EscalationAction::kNone: return "none";
    case EscalationAction::kWatchdogDevice: return "watchdog-device";
    case EscalationAction::kSystemd: return "systemd";
    case EscalationAction::kPanic: return "panic";
  }
  return "none";
}

namespace {

struct Failure {
  std::string message;
};

std::string type_name(const toml::node& n) {
  switch (n.type()) {
    case toml::node_type::string: return "string";
    case toml::node_type::integer: return "integer";
    case toml::node_type::floating_point: return "float";
    case toml::node_type::boolean: return "boolean";
    case toml::node_type::table: return "table";
    case toml::node_type::array: return "array";
    default: return "date/time";
  }
}

std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j)
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] != b[j - 1])});
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

class Parser {
 public:
  explicit Parser(std::string file) : file_(std::move(file)) {}

  using Handler = std::function<void(const toml::node&, const std::string& key)>;
  using Section = std::map<std::string, Handler, std::less<>>;

  [[noreturn]] void fail(const toml::source_region& src, std::string_view key,
                         std::string_view message) const {
    throw Failure{
        fmt::format("{}:{}:{}: {}: {}", file_, src.begin.line, src.begin.column, key, message)};
  }
  [[noreturn]] void fail_key(std::string_view key, std::string_view message) const {
    auto it = pos_.find(std::string(key));
    toml::source_region src{};
    if (it != pos_.end())
      src = it->second;
    else
      src.begin = {1, 1};
    fail(src, key, message);
  }
  bool has(std::string_view key) const { return pos_.count(std::string(key)) != 0; }
  std::string where(const toml::source_region& src, std::string_view key,
                    std::string_view message) const {
    return fmt::format("{}:{}:{}: {}: {}", file_, src.begin.line, src.begin.column, key, message);
  }

  void walk(const toml::table& root, const std::map<std::string, Section, std::less<>>& sections) {
    for (auto&& [k, node] : root) {
      std::string name(k.str());
      auto sec = sections.find(name);
      if (sec == sections.end()) fail(k.source(), name, unknown("section", name, sections));
      const toml::table* tbl = node.as_table();
      if (tbl == nullptr) fail(k.source(), name, "expected a table ([" + name + "])");
      for (auto&& [kk, value] : *tbl) {
        std::string key = name + "." + std::string(kk.str());
        auto h = sec->second.find(kk.str());
        if (h == sec->second.end()) fail(kk.source(), key, unknown("key", kk.str(), sec->second));
        pos_[key] = value.source();
        h->second(value, key);
      }
    }
  }

  template <class Map>
  static std::string unknown(std::string_view what, std::string_view name, const Map& known) {
    std::string best;
    std::size_t best_d = 3;
    for (const auto& [candidate, _] : known) {
      std::size_t d = edit_distance(name, candidate);
      if (d < best_d) best_d = d, best = candidate;
    }
    if (best.empty()) return fmt::format("unknown {}", what);
    return fmt::format("unknown {} (did you mean \"{}\"?)", what, best);
  }

  // Typed getters: each checks the node type and fails with a precise message.
  std::string str(const toml::node& n, const std::string& key) const {
    if (auto v = n.value_exact<std::string>()) return *v;
    fail(n.source(), key, "expected a string, got " + type_name(n));
  }
  bool boolean(const toml::node& n, const std::string& key) const {
    if (auto v = n.value_exact<bool>()) return *v;
    fail(n.source(), key, "expected true or false, got " + type_name(n));
  }
  std::int64_t integer(const toml::node& n, const std::string& key, std::int64_t lo,
                       std::int64_t hi) const {
    auto v = n.value_exact<std::int64_t>();
    if (!v) fail(n.source(), key, "expected an integer, got " + type_name(n));
    if (*v < lo || *v > hi)
      fail(n.source(), key, fmt::format("must be between {} and {}, got {}", lo, hi, *v));
    return *v;
  }
  Nanos duration(const toml::node& n, const std::string& key, Nanos lo, Nanos hi) const {
    auto v = n.value_exact<std::string>();
    if (!v)
      fail(n.source(), key,
           "expected a duration string with a unit such as \"500ms\", got " + type_name(n));
    auto d = parse_duration(*v);
    if (!d) fail(n.source(), key, d.error().message);
    if (*d < lo || *d > hi)
      fail(n.source(), key,
           fmt::format("must be between {} and {}, got {}", format_duration(lo),
                       format_duration(hi), format_duration(*d)));
    return *d;
  }
  std::string choice(const toml::node& n, const std::string& key,
                     std::initializer_list<std::string_view> options) const {
    std::string v = str(n, key);
    for (auto o : options)
      if (v == o) return v;
    std::string list;
    for (auto o : options) list += fmt::format("{}\"{}\"", list.empty() ? "" : ", ", o);
    fail(n.source(), key, fmt::format("must be one of {}, got \"{}\"", list, v));
  }

 private:
  std::string file_;
  std::map<std::string, toml::source_region> pos_;
};

using std::chrono::hours;
using std::chrono::microseconds;
using std::chrono::milliseconds;
using std::chrono::seconds;

void validate(const Config& c, const Parser& p) {
  const auto& hb = c.heartbeat;
  const auto& ck = c.checker;
  if (ck.threshold < 2 * hb.interval)
    p.fail_key(p.has("checker.threshold") ? "checker.threshold" : "heartbeat.interval",
               fmt::format("checker.threshold ({}) must be at least 2 x heartbeat.interval ({})",
                           format_duration(ck.threshold), format_duration(hb.interval)));
  if (ck.interval * 2 > ck.threshold)
    p.fail_key(p.has("checker.interval") ? "checker.interval" : "checker.threshold",
               fmt::format("checker.interval ({}) must be at most half of checker.threshold ({})",
                           format_duration(ck.interval), format_duration(ck.threshold)));
  if (ck.repeat_interval < ck.threshold)
    p.fail_key("checker.repeat_interval",
               fmt::format("must be at least checker.threshold ({}), got {}",
                           format_duration(ck.threshold), format_duration(ck.repeat_interval)));
  // The device is fed from a check, and checks ride on heartbeat wakeups: with every other CPU
  // stalled, one heartbeat interval can pass between two checks.
  if (!c.watchdog.device.empty() && hb.interval * 3 > c.watchdog.timeout)
    p.fail_key(p.has("heartbeat.interval") ? "heartbeat.interval" : "watchdog.timeout",
               fmt::format("heartbeat.interval ({}) must be at most a third of watchdog.timeout "
                           "({}): the device is fed from checks that run on heartbeat wakeups",
                           format_duration(hb.interval), format_duration(c.watchdog.timeout)));
  if (ck.pause_tolerance < ck.interval)
    p.fail_key("checker.pause_tolerance",
               fmt::format("must be at least checker.interval ({}), got {}",
                           format_duration(ck.interval), format_duration(ck.pause_tolerance)));
  // Escalation and watchdog rules live with the escalation code that knows the device API.
  auto problems = validate_escalation(c);
  if (!problems.empty()) {
    const auto& first = problems.front();
    // Point at the key named, or at the key that made the rule apply when it is not in the file.
    std::string at = first.key;
    if (!p.has(at)) {
      for (const char* k : {"escalation.action", "watchdog.device"})
        if (p.has(k)) {
          at = k;
          break;
        }
    }
    p.fail_key(at, at == first.key ? first.message : first.key + ": " + first.message);
  }
}

}  // namespace

Result<Config> parse_config(std::string_view text, const std::string& file_name) {
  Config c;
  c.source = file_name;
  Parser p(file_name);
  try {
    toml::table root;
    try {
      root = toml::parse(text, file_name);
    } catch (const toml::parse_error& e) {
      const auto& b = e.source().begin;
      return make_error("{}:{}:{}: syntax: {}", file_name, b.line, b.column, e.description());
    }
    const Nanos kNs0 = Nanos::zero();
    const Nanos kYear = hours(24 * 365);
    std::map<std::string, Parser::Section, std::less<>> sections;
    auto& hb = c.heartbeat;
    sections["heartbeat"] = {
        {"interval",
         [&](auto& n, auto& k) { hb.interval = p.duration(n, k, milliseconds(1), seconds(10)); }},
        {"priority",
         [&](auto& n, auto& k) { hb.priority = static_cast<int>(p.integer(n, k, 1, 99)); }},
        {"cpus",
         [&](auto& n, auto& k) {
           hb.cpus = p.str(n, k);
           if (hb.cpus != "all") {
             auto set = parse_cpulist(hb.cpus);
             if (!set) p.fail(n.source(), k, set.error().message);
             if (set->empty()) p.fail(n.source(), k, "names no CPU");
           }
         }},
        {"include_isolated", [&](auto& n, auto& k) { hb.include_isolated = p.boolean(n, k); }},
        {"allow_degraded", [&](auto& n, auto& k) { hb.allow_degraded = p.boolean(n, k); }},
        {"stack_kib",
         [&](auto& n, auto& k) {
           hb.stack_kib = static_cast<std::size_t>(p.integer(n, k, 16, 1024));
         }},
    };
    auto& ck = c.checker;
    sections["checker"] = {
        {"interval",
         [&](auto& n, auto& k) { ck.interval = p.duration(n, k, milliseconds(1), seconds(60)); }},
        {"threshold",
         [&](auto& n, auto& k) { ck.threshold = p.duration(n, k, milliseconds(10), hours(1)); }},
        {"repeat_interval",
         [&](auto& n, auto& k) {
           ck.repeat_interval = p.duration(n, k, milliseconds(10), hours(24));
         }},
        // Deprecated (0.1.0): the feeder's priority, now watchdog.feeder_priority.
        {"priority",
         [&](auto& n, auto& k) {
           c.watchdog.feeder_priority = static_cast<int>(p.integer(n, k, 1, 99));
           c.warnings.push_back(p.where(n.source(), k,
                                        "deprecated: use watchdog.feeder_priority (the watchdog "
                                        "feeder's and escalation actor's SCHED_FIFO priority)"));
         }},
        {"pause_tolerance",
         [&](auto& n, auto& k) {
           ck.pause_tolerance = p.duration(n, k, milliseconds(1), hours(1));
         }},
    };
    sections["log"] = {
        {"level",
         [&](auto& n, auto& k) {
           c.log.level =
               p.choice(n, k, {"trace", "debug", "info", "warn", "error", "critical", "off"});
         }},
    };
    auto abs_path = [&](auto& n, const std::string& k) {
      std::string v = p.str(n, k);
      if (v.empty() || v[0] != '/')
        p.fail(n.source(), k, fmt::format("must be an absolute path, got \"{}\"", v));
      return v;
    };
    sections["daemon"] = {
        {"state_dir", [&](auto& n, auto& k) { c.daemon.state_dir = abs_path(n, k); }},
        {"runtime_dir", [&](auto& n, auto& k) { c.daemon.runtime_dir = abs_path(n, k); }},
        {"huge_code", [&](auto& n, auto& k) { c.daemon.huge_code = p.boolean(n, k); }},
    };
    auto& ev = c.evidence;
    sections["evidence"] = {
        {"enabled", [&](auto& n, auto& k) { ev.enabled = p.boolean(n, k); }},
        {"sysrq_backtrace", [&](auto& n, auto& k) { ev.sysrq_backtrace = p.boolean(n, k); }},
        {"sysrq_min_interval",
         [&](auto& n, auto& k) { ev.sysrq_min_interval = p.duration(n, k, kNs0, kYear); }},
        {"sysrq_wait",
         [&](auto& n, auto& k) {
           ev.sysrq_wait = p.duration(n, k, milliseconds(10), seconds(10));
         }},
        {"budget",
         [&](auto& n, auto& k) { ev.budget = p.duration(n, k, milliseconds(10), seconds(60)); }},
        {"ongoing_min_interval",
         [&](auto& n, auto& k) { ev.ongoing_min_interval = p.duration(n, k, kNs0, kYear); }},
        {"max_reports",
         [&](auto& n, auto& k) { ev.max_reports = static_cast<int>(p.integer(n, k, 1, 100000)); }},
        {"max_report_bytes",
         [&](auto& n, auto& k) {
           ev.max_report_bytes = p.integer(n, k, 4096, std::int64_t{1} << 40);
         }},
    };
    auto& esc = c.escalation;
    sections["escalation"] = {
        {"action",
         [&](auto& n, auto& k) {
           std::string a = p.choice(n, k, {"none", "watchdog-device", "systemd", "panic"});
           esc.action = a == "watchdog-device" ? EscalationAction::kWatchdogDevice
                        : a == "systemd"       ? EscalationAction::kSystemd
                        : a == "panic"         ? EscalationAction::kPanic
                                               : EscalationAction::kNone;
         }},
        {"after",
         [&](auto& n, auto& k) { esc.after = p.duration(n, k, milliseconds(10), hours(24)); }},
        {"dry_run", [&](auto& n, auto& k) { esc.dry_run = p.boolean(n, k); }},
        {"allow_panic", [&](auto& n, auto& k) { esc.allow_panic = p.boolean(n, k); }},
    };
    auto& wd = c.watchdog;
    sections["watchdog"] = {
        {"device",
         [&](auto& n, auto& k) {
           wd.device = p.str(n, k);
           if (!wd.device.empty() && wd.device.rfind("/dev/", 0) != 0)
             p.fail(n.source(), k,
                    fmt::format("must be a device under /dev, got \"{}\"", wd.device));
         }},
        {"timeout", [&](auto& n, auto& k) { wd.timeout = p.duration(n, k, seconds(1), hours(1)); }},
        {"pretimeout", [&](auto& n, auto& k) { wd.pretimeout = p.duration(n, k, kNs0, hours(1)); }},
        {"pretimeout_governor", [&](auto& n, auto& k) { wd.pretimeout_governor = p.str(n, k); }},
        {"feeder_priority",
         [&](auto& n, auto& k) {
           c.watchdog.feeder_priority = static_cast<int>(p.integer(n, k, 1, 99));
         }},
    };
    sections["metrics"] = {
        {"textfile",
         [&](auto& n, auto& k) {
           c.metrics.textfile = p.str(n, k);
           const std::string& t = c.metrics.textfile;
           const bool prom =
               t.size() > 6 && t[0] == '/' && t.ends_with(".prom") && t[t.size() - 6] != '/';
           if (!t.empty() && t != "auto" && !prom)
             p.fail(n.source(), k,
                    fmt::format("must be \"auto\", \"\" (off) or an absolute path ending "
                                "in .prom, got \"{}\"",
                                t));
         }},
        {"interval",
         [&](auto& n, auto& k) { c.metrics.interval = p.duration(n, k, seconds(1), seconds(60)); }},
    };
    auto& tl = c.timeline;
    sections["timeline"] = {
        {"enabled", [&](auto& n, auto& k) { tl.enabled = p.boolean(n, k); }},
        {"seconds",
         [&](auto& n, auto& k) { tl.seconds = p.duration(n, k, seconds(1), seconds(10)); }},
        {"buffer_kib",
         [&](auto& n, auto& k) {
           tl.buffer_kib = static_cast<std::size_t>(p.integer(n, k, 16, 16384));
         }},
    };
    p.walk(root, sections);
    if (p.has("checker.priority") && p.has("watchdog.feeder_priority"))
      p.fail_key("checker.priority",
                 "set together with watchdog.feeder_priority: remove checker.priority (the "
                 "deprecated name of watchdog.feeder_priority)");
    if (!p.has("checker.interval")) {
      // The backstop between check deadlines; the deadlines themselves drive detection, so the
      // default is as long as the rules allow: fewer heartbeat wakeups carry a check.
      ck.interval = std::min({Nanos(seconds(1)), ck.threshold / 2, ck.pause_tolerance});
    }
    validate(c, p);
  } catch (const Failure& f) {
    return Error{f.message};
  }
  return c;
}

Result<Config> load_config(const std::string& path, bool required) {
  if (!required && ::access(path.c_str(), F_OK) != 0 && errno == ENOENT) {
    Config c;
    c.source = "<defaults: " + path + " not found>";
    return c;
  }
  // One byte past the limit tells "exactly 1 MiB" from "more": a longer file is refused, never
  // silently truncated (a bad key past the cut would otherwise pass as valid).
  constexpr std::size_t kMaxConfigBytes = std::size_t{1} << 20;
  auto text = read_file_capped(path, kMaxConfigBytes + 1);
  if (!text) {
    return make_error("{}:0:0: config: cannot read file: {}", path, text.error().message);
  }
  if (text->size() > kMaxConfigBytes) {
    struct stat st {};
    std::uint64_t size = text->size();
    if (::stat(path.c_str(), &st) == 0 && static_cast<std::uint64_t>(st.st_size) > size)
      size = static_cast<std::uint64_t>(st.st_size);
    return make_error("{}:0:0: config: file is larger than 1 MiB ({} bytes)", path, size);
  }
  return parse_config(*text, path);
}

namespace {

// Length of the valid UTF-8 sequence at s[i], or 0 (overlong, surrogate, > U+10FFFF, truncated).
std::size_t utf8_length(std::string_view s, std::size_t i) {
  auto b = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  unsigned char c = b(i);
  std::size_t n = c < 0x80           ? 1
                  : (c >> 5) == 0x6  ? 2
                  : (c >> 4) == 0xe  ? 3
                  : (c >> 3) == 0x1e ? 4
                                     : 0;
  if (n == 0 || i + n > s.size()) return 0;
  for (std::size_t k = 1; k < n; ++k)
    if ((b(i + k) & 0xc0) != 0x80) return 0;
  if (n == 2 && c < 0xc2) return 0;
  if (n == 3) {
    std::uint32_t cp = ((c & 0x0fu) << 12) | ((b(i + 1) & 0x3fu) << 6) | (b(i + 2) & 0x3fu);
    if (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
  }
  if (n == 4) {
    std::uint32_t cp = ((c & 0x07u) << 18) | ((b(i + 1) & 0x3fu) << 12);
    if (cp < 0x10000 || cp > 0x10ffff) return 0;
  }
  return n;
}

}  // namespace

std::string toml_quote(std::string_view s) {
  std::string out = "\"";
  for (std::size_t i = 0; i < s.size();) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    switch (c) {
      case '"':
        out += "\\\"";
        ++i;
        continue;
      case '\\':
        out += "\\\\";
        ++i;
        continue;
      case '\b':
        out += "\\b";
        ++i;
        continue;
      case '\t':
        out += "\\t";
        ++i;
        continue;
      case '\n':
        out += "\\n";
        ++i;
        continue;
      case '\f':
        out += "\\f";
        ++i;
        continue;
      case '\r':
        out += "\\r";
        ++i;
        continue;
      default: break;
    }
    if (c < 0x20 || c == 0x7f) {
      out += fmt::format("\\u{:04X}", c);
      ++i;
      continue;
    }
    std::size_t n = utf8_length(s, i);
    if (n == 0) {
      out += "\\uFFFD";  // not UTF-8: TOML cannot carry the byte
      ++i;
      continue;
    }
    out.append(s.substr(i, n));
    i += n;
  }
  out += '"';
  return out;
}

std::string format_config(const Config& c) {
  // A TOML basic string for any bytes: quote, backslash and control characters escaped (bytes
  // that are not UTF-8 cannot be written in TOML; they become U+FFFD).
  auto q = [](const std::string& s) { return toml_quote(s); };
  auto d = [&](Nanos n) { return q(format_duration(n)); };
  auto b = [](bool v) { return v ? "true" : "false"; };
  std::string source = toml_quote(c.source);  // a comment must not span lines either
  std::string out = fmt::format("# effective configuration (from {})\n",
                                std::string_view(source).substr(1, source.size() - 2));
  const auto& hb = c.heartbeat;
  out += fmt::format("[heartbeat]\ninterval = {}\npriority = {}\ncpus = {}\ninclude_isolated = {}\n"
                     "allow_degraded = {}\nstack_kib = {}\n\n",
                     d(hb.interval), hb.priority, q(hb.cpus), b(hb.include_isolated),
                     b(hb.allow_degraded), hb.stack_kib);
  const auto& ck = c.checker;
  out += fmt::format("[checker]\ninterval = {}\nthreshold = {}\nrepeat_interval = {}\n"
                     "pause_tolerance = {}\n\n",
                     d(ck.interval), d(ck.threshold), d(ck.repeat_interval), d(ck.pause_tolerance));
  out += fmt::format("[log]\nlevel = {}\n\n", q(c.log.level));
  out += fmt::format("[daemon]\nstate_dir = {}\nruntime_dir = {}\nhuge_code = {}\n\n",
                     q(c.daemon.state_dir), q(c.daemon.runtime_dir), b(c.daemon.huge_code));
  const auto& ev = c.evidence;
  out +=
      fmt::format("[evidence]\nenabled = {}\nsysrq_backtrace = {}\nsysrq_min_interval = {}\n"
                  "sysrq_wait = {}\nbudget = {}\nongoing_min_interval = {}\nmax_reports = {}\n"
                  "max_report_bytes = {}\n\n",
                  b(ev.enabled), b(ev.sysrq_backtrace), d(ev.sysrq_min_interval), d(ev.sysrq_wait),
                  d(ev.budget), d(ev.ongoing_min_interval), ev.max_reports, ev.max_report_bytes);
  const auto& esc = c.escalation;
  out += fmt::format("[escalation]\naction = {}\nafter = {}\ndry_run = {}\nallow_panic = {}\n\n",
                     q(std::string(to_string(esc.action))), d(esc.after), b(esc.dry_run),
                     b(esc.allow_panic));
  const auto& wd = c.watchdog;
  out += fmt::format(
      "[watchdog]\ndevice = {}\ntimeout = {}\npretimeout = {}\npretimeout_governor = {}\n"
      "feeder_priority = {}\n",
      q(wd.device), d(wd.timeout), d(wd.pretimeout), q(wd.pretimeout_governor), wd.feeder_priority);
  out += fmt::format("\n[metrics]\ntextfile = {}\ninterval = {}\n", q(c.metrics.textfile),
                     d(c.metrics.interval));
  const auto& tl = c.timeline;
  out += fmt::format("\n[timeline]\nenabled = {}\nseconds = {}\nbuffer_kib = {}\n", b(tl.enabled),
                     d(tl.seconds), tl.buffer_kib);
  return out;
}

}  // namespace stallwatch
