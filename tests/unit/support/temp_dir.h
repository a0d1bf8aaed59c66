// SPDX-License-Identifier: GPL-2.0-or-later
// The unit tests' one scratch directory: a fresh directory under $TMPDIR (or /tmp), removed with
// everything in it when the TempDir goes out of scope. Single test thread; header-only.
//
//   stallwatch::test_support::TempDir dir;
//   dir.write("proc/stat", "cpu  1 2 3\n");  // creates the parent directories
//   Sysroot root(dir.path());
#pragma once

#include <stdlib.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace stallwatch::test_support {

class TempDir {
 public:
  explicit TempDir(const std::string& prefix = "stallwatch-test") {
    const char* base = std::getenv("TMPDIR");
    std::string templ =
        std::string(base != nullptr && *base != '\0' ? base : "/tmp") + "/" + prefix + "-XXXXXX";
    if (::mkdtemp(templ.data()) == nullptr) std::abort();
    path_ = templ;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  std::string path(const std::string& relative) const { return path_ + "/" + relative; }

  // Copies what is in `from` (a directory) into this directory, symbolic links as links.
  void copy_tree(const std::string& from) const {
    std::filesystem::copy(from, path_,
                          std::filesystem::copy_options::recursive |
                              std::filesystem::copy_options::copy_symlinks |
                              std::filesystem::copy_options::overwrite_existing);
  }
  void write(const std::string& relative, const std::string& content) const {
    const std::filesystem::path p = std::filesystem::path(path_) / relative;
    std::filesystem::create_directories(p.parent_path());
    std::ofstream(p, std::ios::binary) << content;
  }
  std::string read(const std::string& relative) const {
    std::ifstream in(std::filesystem::path(path_) / relative, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }

 private:
  std::string path_;
};

}  // namespace stallwatch::test_support
