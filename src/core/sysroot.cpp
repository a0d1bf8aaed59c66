// SPDX-License-Identifier: GPL-2.0-or-later
#include "stallwatch/core/sysroot.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "stallwatch/core/unique_fd.h"

namespace stallwatch {

Sysroot::Sysroot(std::string prefix) : prefix_(std::move(prefix)) {
  while (!prefix_.empty() && prefix_.back() == '/') prefix_.pop_back();
}

std::string Sysroot::path(std::string_view absolute) const {
  std::string out = prefix_;
  out += absolute;
  return out;
}

Result<std::string> read_file_capped(const std::string& path, std::size_t max_bytes) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return make_error("{}: {}", path, std::strerror(errno));
  std::string out;
  char buf[8192];
  while (out.size() < max_bytes) {
    std::size_t want = std::min(sizeof buf, max_bytes - out.size());
    ssize_t n = ::read(fd.get(), buf, want);
    if (n < 0) {
      if (errno == EINTR) continue;
      return make_error("{}: {}", path, std::strerror(errno));
    }
    if (n == 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  return out;
}

Result<std::string> Sysroot::read_file(std::string_view absolute, std::size_t max_bytes) const {
  return read_file_capped(path(absolute), max_bytes);
}

bool Sysroot::exists(std::string_view absolute) const {
  struct stat st {};
  return ::stat(path(absolute).c_str(), &st) == 0;
}

Result<std::vector<std::string>> Sysroot::list_dir(std::string_view absolute) const {
  std::string p = path(absolute);
  DIR* dir = ::opendir(p.c_str());
  if (dir == nullptr) return make_error("{}: {}", p, std::strerror(errno));
  std::vector<std::string> names;
  while (dirent* e = ::readdir(dir)) {
    if (std::strcmp(e->d_name, ".") == 0 || std::strcmp(e->d_name, "..") == 0) continue;
    names.emplace_back(e->d_name);
  }
  ::closedir(dir);
  return names;
}

}  // namespace stallwatch
