// SPDX-License-Identifier: GPL-2.0-or-later
#include "stallwatch/metrics/textfile.h"

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

}  // namespace stallwatch::metrics
