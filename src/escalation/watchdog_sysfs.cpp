// SPDX-License-Identifier: GPL-2.0-or-later
#include "stallwatch/escalation/watchdog_sysfs.h"

#include <linux/watchdog.h>

#include <cctype>
#include <charconv>

#include <fmt/format.h>

#include "stallwatch/core/text.h"

namespace stallwatch::escalation {

std::string watchdog_sysfs_name(std::string_view device_path) {
  auto slash = device_path.rfind('/');
  std::string_view base =
      slash == std::string_view::npos ? device_path : device_path.substr(slash + 1);
  constexpr std::string_view kPrefix = "watchdog";
  if (base.substr(0, kPrefix.size()) != kPrefix) return "";
  std::string_view id = base.substr(kPrefix.size());
  // The legacy misc device /dev/watchdog is attached to the watchdog with id 0.
  if (id.empty()) return "watchdog0";
  for (char c : id)
    if (!std::isdigit(static_cast<unsigned char>(c))) return "";
  return std::string(base);
}

std::optional<int> parse_sysfs_int(std::string_view text) {
  std::string t(trim(text));
  int value = 0;
  auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), value);
  if (ec != std::errc() || end != t.data() + t.size() || t.empty()) return std::nullopt;
  return value;
}

std::optional<std::uint32_t> parse_sysfs_flags(std::string_view text) {
  std::string t(trim(text));
  int base = 10;
  std::string_view digits = t;
  if (digits.size() > 2 && digits[0] == '0' && (digits[1] == 'x' || digits[1] == 'X')) {
    base = 16;
    digits.remove_prefix(2);
  }
  std::uint32_t value = 0;
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value, base);
  if (ec != std::errc() || end != digits.data() + digits.size() || digits.empty())
    return std::nullopt;
  return value;
}

Result<WatchdogSysfsInfo> read_watchdog_sysfs(const Sysroot& root, std::string_view device_path) {
  WatchdogSysfsInfo info;
  info.name = watchdog_sysfs_name(device_path);
  if (info.name.empty())
    return make_error("{}: not a /dev/watchdogN name, cannot find it in /sys/class/watchdog",
                      device_path);
  info.sysfs_dir = "/sys/class/watchdog/" + info.name;
  if (!root.exists(info.sysfs_dir))
    return make_error("{}: no such watchdog ({} is missing)", device_path,
                      root.path(info.sysfs_dir));
  auto attr = [&](std::string_view name) -> std::optional<std::string> {
    auto r = root.read_file(info.sysfs_dir + "/" + std::string(name), 4096);
    if (!r.ok()) return std::nullopt;
    return std::move(r).value();
  };
  if (auto v = attr("identity")) info.identity = std::string(trim(*v));
  if (auto v = attr("timeout")) info.timeout_s = parse_sysfs_int(*v);
  if (auto v = attr("min_timeout")) info.min_timeout_s = parse_sysfs_int(*v);
  if (auto v = attr("max_timeout")) info.max_timeout_s = parse_sysfs_int(*v);
  if (auto v = attr("pretimeout")) info.pretimeout_s = parse_sysfs_int(*v);
  if (auto v = attr("timeleft")) info.timeleft_s = parse_sysfs_int(*v);
  if (auto v = attr("nowayout")) {
    if (auto n = parse_sysfs_int(*v)) info.nowayout = *n != 0;
  }
  if (auto v = attr("bootstatus")) info.bootstatus = parse_sysfs_flags(*v);
  if (auto v = attr("status")) info.status = parse_sysfs_flags(*v);
  if (auto v = attr("state")) info.state = std::string(trim(*v));
  if (auto v = attr("pretimeout_governor")) info.pretimeout_governor = std::string(trim(*v));
  if (auto v = attr("pretimeout_available_governors")) {
    std::string_view rest = *v;
    while (!rest.empty()) {
      auto nl = rest.find('\n');
      std::string line(trim(rest.substr(0, nl)));
      if (!line.empty()) info.pretimeout_available_governors.push_back(line);
      if (nl == std::string_view::npos) break;
      rest.remove_prefix(nl + 1);
    }
  }
  return info;
}

std::string describe_watchdog_flags(std::uint32_t flags) {
  struct Bit {
    std::uint32_t bit;
    const char* name;
  };
  static constexpr Bit kBits[] = {
      {WDIOF_OVERHEAT, "overheat"},      {WDIOF_FANFAULT, "fan-fault"},
      {WDIOF_EXTERN1, "extern1"},        {WDIOF_EXTERN2, "extern2"},
      {WDIOF_POWERUNDER, "power-under"}, {WDIOF_CARDRESET, "card-reset"},
      {WDIOF_POWEROVER, "power-over"},   {WDIOF_SETTIMEOUT, "settimeout"},
      {WDIOF_MAGICCLOSE, "magicclose"},  {WDIOF_PRETIMEOUT, "pretimeout"},
      {WDIOF_ALARMONLY, "alarm-only"},   {WDIOF_KEEPALIVEPING, "keepaliveping"},
  };
  std::string names;
  for (const auto& b : kBits) {
    if ((flags & b.bit) == 0) continue;
    if (!names.empty()) names += ',';
    names += b.name;
  }
  if (names.empty()) return fmt::format("{:#x}", flags);
  return fmt::format("{:#x} ({})", flags, names);
}

}  // namespace stallwatch::escalation
