// SPDX-License-Identifier: GPL-2.0-or-later
#include "stallwatch/core/drill_announcement.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstring>

#include <fmt/format.h>

#include "stallwatch/core/unique_fd.h"

namespace stallwatch {

std::string encode_drill_announcement(const DrillAnnouncement& a) {
  return fmt::format("{{\"format\":\"stallwatch-drill/1\",\"cpu\":{},\"pid\":{},"
                     "\"start_mono_ns\":{},\"end_mono_ns\":{}}}\n",
                     a.cpu, a.pid, a.start_mono_ns, a.end_mono_ns);
}

namespace {

// The file is flat and written by stallwatchctl: a JSON object of integers and one string.
// Finds "key": and the integer after it.
bool int_field(std::string_view text, std::string_view key, std::int64_t& out) {
  const std::string quoted = fmt::format("\"{}\"", key);
  std::size_t at = text.find(quoted);
  if (at == std::string_view::npos) return false;
  at += quoted.size();
  while (at < text.size() && (text[at] == ' ' || text[at] == '\t')) ++at;
  if (at >= text.size() || text[at] != ':') return false;
  ++at;
  while (at < text.size() && (text[at] == ' ' || text[at] == '\t')) ++at;
  const char* first = text.data() + at;
  const char* last = text.data() + text.size();
  auto [p, ec] = std::from_chars(first, last, out);
  if (ec != std::errc() || p == first) return false;
  return p == last || *p == ',' || *p == '}' || *p == ' ' || *p == '\n';
}

std::string_view trim_ws(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

}  // namespace

Result<DrillAnnouncement> parse_drill_announcement(std::string_view text) {
  text = trim_ws(text);
  if (text.size() < 2 || text.front() != '{' || text.back() != '}')
    return make_error("not a JSON object");
  if (text.find("\"format\":\"stallwatch-drill/1\"") == std::string_view::npos)
    return make_error("format is not \"stallwatch-drill/1\"");
  std::int64_t v[4] = {0, 0, 0, 0};
  const char* keys[4] = {"cpu", "pid", "start_mono_ns", "end_mono_ns"};
  for (int i = 0; i < 4; ++i)
    if (!int_field(text, keys[i], v[i]))
      return make_error("{}: missing or not an integer", keys[i]);
  if (v[0] < 0 || v[0] > 1 << 20 || v[1] <= 0 || v[1] > (std::int64_t{1} << 22) || v[3] < v[2])
    return make_error("cpu, pid or times out of range");
  DrillAnnouncement a;
  a.cpu = static_cast<int>(v[0]);
  a.pid = static_cast<int>(v[1]);
  a.start_mono_ns = v[2];
  a.end_mono_ns = v[3];
  return a;
}

bool drill_matches(const DrillAnnouncement& a, int cpu, int culprit_pid, int culprit_tid,
                   std::int64_t now_mono_ns) {
  if (a.cpu != cpu) return false;
  if (culprit_pid > 0 || culprit_tid > 0) return a.pid == culprit_pid || a.pid == culprit_tid;
  return now_mono_ns >= a.start_mono_ns && now_mono_ns <= a.end_mono_ns + kDrillWindowGraceNs;
}

namespace {

bool trusted(const struct stat& st, uid_t owner) {
  return st.st_uid == owner && (st.st_mode & (S_IWGRP | S_IWOTH)) == 0;
}

void say(std::string* out, const std::string& line) {
  if (out == nullptr) return;
  if (!out->empty()) *out += '\n';
  *out += line;
}

}  // namespace

std::vector<DrillMatch> list_drills(const DrillLookup& lookup, std::string* ignored) {
  std::vector<DrillMatch> out;
  const std::string dir = lookup.runtime_dir + "/" + kDrillDir;
  UniqueFd dfd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!dfd.valid()) return out;  // no drill announced (the usual case)
  struct stat dst {};
  if (::fstat(dfd.get(), &dst) != 0 || !trusted(dst, lookup.owner)) {
    say(ignored, fmt::format("{}: not owned by uid {} or writable by group/others; drill "
                             "announcements there are ignored",
                             dir, lookup.owner));
    return out;
  }
  auto alive =
      lookup.alive ? lookup.alive : [](int pid) { return ::kill(pid, 0) == 0 || errno == EPERM; };
  DIR* d = ::fdopendir(::dup(dfd.get()));
  if (d == nullptr) return out;
  while (dirent* e = ::readdir(d)) {
    std::string name = e->d_name;
    if (name.size() < 6 || name.compare(name.size() - 5, 5, ".json") != 0) continue;
    const std::string path = dir + "/" + name;
    UniqueFd fd(::openat(dfd.get(), name.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
    struct stat st {};
    if (!fd.valid() || ::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode) ||
        !trusted(st, lookup.owner)) {
      say(ignored, fmt::format("{}: not a regular file owned by uid {} and closed to "
                               "group/others; ignored",
                               path, lookup.owner));
      continue;
    }
    char buf[1024];
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n <= 0 || n == static_cast<ssize_t>(sizeof buf)) {
      say(ignored, fmt::format("{}: empty or too large; ignored", path));
      continue;
    }
    auto a = parse_drill_announcement(std::string_view(buf, static_cast<std::size_t>(n)));
    if (!a) {
      say(ignored, fmt::format("{}: {}; ignored", path, a.error().message));
      continue;
    }
    if (name != fmt::format("{}.json", a->pid)) {
      say(ignored, fmt::format("{}: names pid {}; ignored", path, a->pid));
      continue;
    }
    if (!alive(a->pid)) continue;  // a leftover of a drill that ended
    out.push_back(DrillMatch{*a, path});
  }
  ::closedir(d);
  return out;
}

std::optional<DrillMatch> find_drill(const DrillLookup& lookup, int cpu, int culprit_pid,
                                     int culprit_tid, std::int64_t now_mono_ns,
                                     std::string* ignored) {
  for (auto& m : list_drills(lookup, ignored))
    if (drill_matches(m.announcement, cpu, culprit_pid, culprit_tid, now_mono_ns)) return m;
  return std::nullopt;
}

}  // namespace stallwatch
