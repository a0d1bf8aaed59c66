// SPDX-License-Identifier: GPL-2.0-or-later
#include "stallwatch/metrics/textfile.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace stallwatch::metrics {

std::string resolve_textfile(const std::string& configured, const std::string& auto_path,
                             bool auto_dir_exists) {
  if (configured == "auto") return auto_dir_exists ? auto_path : std::string();
  return configured;
}

std::string parent_dir(const std::string& path) {
  const auto slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? std::string("/") : path.substr(0, slash);
}

Status write_textfile(const std::string& path, std::string_view text) {
  const std::string tmp = path + ".tmp";
  constexpr int kFlags = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC;
  int fd = ::open(tmp.c_str(), kFlags, 0644);
  if (fd < 0 && errno == EEXIST) {
    ::unlink(tmp.c_str());  // a crash between create and rename; unlink never follows a symlink
    fd = ::open(tmp.c_str(), kFlags, 0644);
  }
  if (fd < 0) return make_error("cannot create {}: {}", tmp, std::strerror(errno));
  // The umask may be tighter than 0644; the collector (user prometheus) must read the file.
  int err = ::fchmod(fd, 0644) == 0 ? 0 : errno;
  std::size_t done = 0;
  while (err == 0 && done < text.size()) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) err = errno;
    else if (n == 0) err = EIO;
    else done += static_cast<std::size_t>(n);
  }
  if (::close(fd) != 0 && err == 0) err = errno;
  if (err != 0) {
    ::unlink(tmp.c_str());
    return make_error("cannot write {}: {}", tmp, std::strerror(err));
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    err = errno;
    ::unlink(tmp.c_str());
    return make_error("cannot rename {} to {}: {}", tmp, path, std::strerror(err));
  }
  return Ok{};
}

}  // namespace stallwatch::metrics
