#include "stallwatch/fs_util.h"

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

}  // namespace stallwatch
