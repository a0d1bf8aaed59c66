// SPDX-License-Identifier: GPL-2.0-or-later
// A scratch directory for one test, removed with everything in it afterwards.
#pragma once

#include <stdlib.h>

#include <filesystem>
#include <string>

namespace stallwatch::metrics::testing {

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/sw-metrics-test-XXXXXX";
    path_ = ::mkdtemp(tmpl);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace stallwatch::metrics::testing
