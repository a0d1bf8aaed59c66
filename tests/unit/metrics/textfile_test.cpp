// SPDX-License-Identifier: GPL-2.0-or-later
// The textfile: where it goes ("auto", off, explicit) and how it is replaced (atomically, 0644,
// never through a symlink).
#include "stallwatch/metrics/textfile.h"

#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

#include "temp_dir.h"

namespace stallwatch::metrics {
namespace {

using testing::TempDir;

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

TEST(Textfile, ResolvesAutoOffAndExplicitPaths) {
  const std::string a = "/var/lib/prometheus/node-exporter/stallwatch.prom";
  EXPECT_EQ(resolve_textfile("auto", a, true), a);
  EXPECT_EQ(resolve_textfile("auto", a, false), "");
  EXPECT_EQ(resolve_textfile("", a, true), "");
  EXPECT_EQ(resolve_textfile("/srv/t/x.prom", a, false), "/srv/t/x.prom");
  EXPECT_EQ(parent_dir(a), "/var/lib/prometheus/node-exporter");
  EXPECT_EQ(parent_dir("/x.prom"), "/");
}

TEST(Textfile, WritesWholeFileWithMode0644WhateverTheUmask) {
  TempDir dir;
  const std::string path = dir.path() + "/stallwatch.prom";
  const mode_t old = ::umask(077);
  auto st = write_textfile(path, "a 1\n");
  ::umask(old);
  ASSERT_TRUE(st) << st.error().message;
  EXPECT_EQ(slurp(path), "a 1\n");
  struct stat sb {};
  ASSERT_EQ(::stat(path.c_str(), &sb), 0);
  EXPECT_EQ(sb.st_mode & 0777, 0644u);
  EXPECT_NE(::access((path + ".tmp").c_str(), F_OK), 0) << "no temporary file left behind";
  ASSERT_TRUE(write_textfile(path, "a 2\n"));
  EXPECT_EQ(slurp(path), "a 2\n");
}

TEST(Textfile, StaleTemporaryFileIsReplaced) {
  TempDir dir;
  const std::string path = dir.path() + "/stallwatch.prom";
  { std::ofstream(path + ".tmp") << "half a file"; }
  ASSERT_TRUE(write_textfile(path, "b 1\n"));
  EXPECT_EQ(slurp(path), "b 1\n");
}

TEST(Textfile, SymlinkAtTheTemporaryNameIsNotFollowed) {
  TempDir dir;
  const std::string path = dir.path() + "/stallwatch.prom";
  const std::string victim = dir.path() + "/victim";
  { std::ofstream(victim) << "keep me"; }
  ASSERT_EQ(::symlink(victim.c_str(), (path + ".tmp").c_str()), 0);
  ASSERT_TRUE(write_textfile(path, "c 1\n"));
  EXPECT_EQ(slurp(victim), "keep me");
  EXPECT_EQ(slurp(path), "c 1\n");
}

TEST(Textfile, MissingDirectoryIsAnExactError) {
  TempDir dir;
  const std::string path = dir.path() + "/nope/stallwatch.prom";
  auto st = write_textfile(path, "x 1\n");
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().message, "cannot create " + path + ".tmp: No such file or directory");
}

}  // namespace
}  // namespace stallwatch::metrics
