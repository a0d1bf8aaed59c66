// SPDX-License-Identifier: GPL-2.0-or-later
#include "stallwatch/escalation/watchdog_class.h"

#include <sys/sysmacros.h>

#include <charconv>

#include <fmt/format.h>

#include "stallwatch/core/text.h"

namespace stallwatch::escalation {
namespace {

const char* file_kind(mode_t mode) {
  switch (mode & S_IFMT) {
    case S_IFREG: return "a regular file";
    case S_IFDIR: return "a directory";
    case S_IFBLK: return "a block device";
    case S_IFIFO: return "a FIFO";
    case S_IFSOCK: return "a socket";
    case S_IFLNK: return "a symbolic link";
  }
  return "not a character device";
}

}  // namespace

std::optional<unsigned> parse_watchdog_major(std::string_view text) {
  bool in_char = false;
  while (!text.empty()) {
    std::size_t nl = text.find('\n');
    std::string_view line = trim(text.substr(0, nl));
    text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
    if (!line.empty() && line.back() == ':') {  // a section header
      in_char = line == "Character devices:";
      continue;
    }
    if (!in_char || line.empty()) continue;
    std::size_t sp = line.find_first_of(" \t");
    if (sp == std::string_view::npos) continue;
    if (trim(line.substr(sp)) != "watchdog") continue;
    unsigned major = 0;
    auto [p, ec] = std::from_chars(line.data(), line.data() + sp, major);
    if (ec == std::errc() && p == line.data() + sp) return major;
  }
  return std::nullopt;
}

Status check_watchdog_class(const std::string& device, const struct stat& st,
                            const std::optional<std::string>& proc_devices) {
  if (!S_ISCHR(st.st_mode))
    return make_error("watchdog.device {} is not a watchdog: it is {}, not a character device; "
                      "nothing was written to it",
                      device, file_kind(st.st_mode));
  const unsigned maj = major(st.st_rdev), min = minor(st.st_rdev);
  if (maj == kMiscMajor && min == kWatchdogMiscMinor) return Ok{};
  std::optional<unsigned> wd = proc_devices ? parse_watchdog_major(*proc_devices) : std::nullopt;
  if (wd && maj == *wd) return Ok{};
  std::string known = !proc_devices ? std::string("(/proc/devices unreadable)")
                      : wd          ? fmt::format("({})", *wd)
                                    : std::string("(none listed: is a watchdog driver loaded?)");
  return make_error("watchdog.device {} is not a watchdog: character device {}:{} is neither "
                    "misc {}:{} nor the watchdog major {} from /proc/devices; nothing was "
                    "written to it",
                    device, maj, min, kMiscMajor, kWatchdogMiscMinor, known);
}

}  // namespace stallwatch::escalation
