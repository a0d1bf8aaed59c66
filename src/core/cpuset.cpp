// SPDX-License-Identifier: GPL-2.0-or-later
#include "stallwatch/core/cpuset.h"

#include <algorithm>
#include <charconv>
#include <cstdint>

#include <fmt/format.h>

#include "stallwatch/core/text.h"

namespace stallwatch {

namespace {

// A CPU number or stride: decimal digits only. Values above kMaxCpu (including ones that do
// not fit any integer type) are kTooLarge, so no arithmetic on them can overflow.
enum class Num { kOk, kBad, kTooLarge };

constexpr int kMaxCpu = 8192;

Num parse_num(std::string_view s, int& out) {
  s = trim(s);
  if (s.empty()) return Num::kBad;
  for (char ch : s)
    if (ch < '0' || ch > '9') return Num::kBad;
  std::uint64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec == std::errc::result_out_of_range || v > static_cast<std::uint64_t>(kMaxCpu))
    return Num::kTooLarge;
  if (ec != std::errc() || p != s.data() + s.size()) return Num::kBad;
  out = static_cast<int>(v);
  return Num::kOk;
}

}  // namespace

Result<CpuList> parse_cpulist(std::string_view text) {
  text = trim(text);
  CpuList out;
  if (text.empty() || text == "(null)") return out;
  std::size_t start = 0;
  while (start <= text.size()) {
    std::size_t comma = text.find(',', start);
    std::string_view part =
        text.substr(start, comma == std::string_view::npos ? text.npos : comma - start);
    int stride = 1;
    if (auto colon = part.find(':'); colon != part.npos) {
      std::string_view st = part.substr(colon + 1);
      Num n = parse_num(st, stride);
      if (n == Num::kTooLarge)
        return make_error("invalid cpulist \"{}\": stride {} is out of range (at most {})", text,
                          trim(st), kMaxCpu);
      if (n != Num::kOk || stride == 0)
        return make_error("invalid cpulist \"{}\": bad stride in \"{}\"", text, part);
      part = part.substr(0, colon);
    }
    int lo = 0, hi = 0;
    auto too_large = [&](std::string_view num) {
      return make_error("invalid cpulist \"{}\": CPU {} is out of range (at most {})", text,
                        trim(num), kMaxCpu - 1);
    };
    if (auto dash = part.find('-'); dash != part.npos) {
      std::string_view a = part.substr(0, dash), b = part.substr(dash + 1);
      Num na = parse_num(a, lo), nb = parse_num(b, hi);
      if (na == Num::kBad || nb == Num::kBad)
        return make_error("invalid cpulist \"{}\": bad range \"{}\"", text, part);
      if (na == Num::kTooLarge) return too_large(a);
      if (nb == Num::kTooLarge) return too_large(b);
    } else {
      Num n = parse_num(part, lo);
      if (n == Num::kBad) return make_error("invalid cpulist \"{}\": bad CPU \"{}\"", text, part);
      if (n == Num::kTooLarge) return too_large(part);
      hi = lo;
    }
    if (lo > hi) return make_error("invalid cpulist \"{}\": range \"{}\" is reversed", text, part);
    if (hi >= kMaxCpu)
      return make_error("invalid cpulist \"{}\": CPU {} is out of range (at most {})", text, hi,
                        kMaxCpu - 1);
    // lo, hi < kMaxCpu and stride <= kMaxCpu: c + stride cannot overflow.
    for (int c = lo; c <= hi; c += stride) out.push_back(c);
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

std::string format_cpulist(const CpuList& cpus) {
  std::string out;
  for (std::size_t i = 0; i < cpus.size();) {
    std::size_t j = i;
    while (j + 1 < cpus.size() && cpus[j + 1] == cpus[j] + 1) ++j;
    if (!out.empty()) out += ',';
    out += j == i ? fmt::format("{}", cpus[i]) : fmt::format("{}-{}", cpus[i], cpus[j]);
    i = j + 1;
  }
  return out;
}

CpuList cpu_union(const CpuList& a, const CpuList& b) {
  CpuList out;
  std::set_union(a.begin(), a.end(), b.begin(), b.end(), std::back_inserter(out));
  return out;
}
CpuList cpu_difference(const CpuList& a, const CpuList& b) {
  CpuList out;
  std::set_difference(a.begin(), a.end(), b.begin(), b.end(), std::back_inserter(out));
  return out;
}
CpuList cpu_intersection(const CpuList& a, const CpuList& b) {
  CpuList out;
  std::set_intersection(a.begin(), a.end(), b.begin(), b.end(), std::back_inserter(out));
  return out;
}

namespace {
Result<CpuList> read_list(const Sysroot& root, std::string_view file, bool optional) {
  auto text = root.read_file(file, 64 * 1024);
  if (!text) {
    if (optional) return CpuList{};
    return text.error();
  }
  auto list = parse_cpulist(*text);
  if (!list) return make_error("{}: {}", root.path(file), list.error().message);
  return list;
}
}  // namespace

Result<CpuList> read_online_cpus(const Sysroot& root) {
  return read_list(root, "/sys/devices/system/cpu/online", false);
}

Result<CpuTopology> read_cpu_topology(const Sysroot& root) {
  CpuTopology t;
  auto possible = read_list(root, "/sys/devices/system/cpu/possible", false);
  if (!possible) return possible.error();
  auto online = read_online_cpus(root);
  if (!online) return online.error();
  auto isolated = read_list(root, "/sys/devices/system/cpu/isolated", true);
  auto nohz = read_list(root, "/sys/devices/system/cpu/nohz_full", true);
  t.possible = *possible;
  t.online = *online;
  t.isolated = isolated.value_or({});
  t.nohz_full = nohz.value_or({});
  return t;
}

Result<CpuList> select_monitored_cpus(const std::string& cpus_setting, bool include_isolated,
                                      const CpuTopology& topo) {
  CpuList wanted;
  if (cpus_setting == "all") {
    wanted = topo.possible;
  } else {
    auto parsed = parse_cpulist(cpus_setting);
    if (!parsed) return parsed.error();
    CpuList missing = cpu_difference(*parsed, topo.possible);
    if (!missing.empty())
      return make_error("heartbeat.cpus names CPUs this machine does not have: {} (possible: {})",
                        format_cpulist(missing), format_cpulist(topo.possible));
    wanted = *parsed;
  }
  if (!include_isolated) wanted = cpu_difference(wanted, cpu_union(topo.isolated, topo.nohz_full));
  if (wanted.empty())
    return make_error(
        "no CPU left to monitor (heartbeat.cpus = \"{}\", isolated: {}, nohz_full: {})",
        cpus_setting, format_cpulist(topo.isolated), format_cpulist(topo.nohz_full));
  return wanted;
}

}  // namespace stallwatch
