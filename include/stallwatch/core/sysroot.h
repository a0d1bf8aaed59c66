// SPDX-License-Identifier: GPL-2.0-or-later
// Sysroot: the root-prefix seam. Every path under /proc, /sys and /dev goes through one so that
// tests run on fixture trees (tests/fixtures/<scenario>/proc/...). Immutable after construction;
// safe to share between threads.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "stallwatch/core/result.h"

namespace stallwatch {

class Sysroot {
 public:
  Sysroot() = default;  // the real root
  explicit Sysroot(std::string prefix);

  // "/proc/stat" -> "<prefix>/proc/stat"
  std::string path(std::string_view absolute) const;
  const std::string& prefix() const { return prefix_; }

  // Reads at most max_bytes (procfs files report size 0, so this reads until EOF).
  Result<std::string> read_file(std::string_view absolute, std::size_t max_bytes = 1 << 20) const;
  bool exists(std::string_view absolute) const;
  // Names in a directory (no "." or ".."), unsorted.
  Result<std::vector<std::string>> list_dir(std::string_view absolute) const;

 private:
  std::string prefix_;
};

// Reads a whole file by real path with a byte cap; used by Sysroot and for config files.
Result<std::string> read_file_capped(const std::string& path, std::size_t max_bytes);

}  // namespace stallwatch
