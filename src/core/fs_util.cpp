// SPDX-License-Identifier: GPL-2.0-or-later
#include "stallwatch/core/fs_util.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>

namespace stallwatch {

Status make_dirs(const std::string& path, mode_t mode) {
  if (path.empty()) return make_error("cannot create an empty path");
  std::size_t pos = 0;
  while (pos != std::string::npos) {
    pos = path.find('/', pos + 1);
    const std::string partial = path.substr(0, pos);
    if (partial.empty()) continue;
    if (::mkdir(partial.c_str(), mode) != 0 && errno != EEXIST)
      return make_error("cannot create {}: {}", partial, std::strerror(errno));
  }
  return Ok{};
}

Status check_private_dir(const std::string& key, const std::string& path, uid_t euid) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return Ok{};
    return make_error("{}: {}: {}", key, path, std::strerror(errno));
  }
  if (!S_ISDIR(st.st_mode)) return make_error("{}: {} is not a directory", key, path);
  if (st.st_uid != euid)
    return make_error("{}: {} is owned by uid {}, not {} (uid {}); another user could plant the "
                      "files stallwatchd trusts there: run `chown {} {}`",
                      key, path, st.st_uid, euid == 0 ? "root" : "stallwatchd's user", euid, euid,
                      path);
  if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0)
    return make_error("{}: {} is writable by group or others (mode {:04o}); another user could "
                      "plant or replace the files stallwatchd trusts there: run `chmod go-w {}`",
                      key, path, st.st_mode & 07777, path);
  return Ok{};
}

}  // namespace stallwatch
