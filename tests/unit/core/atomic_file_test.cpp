// SPDX-License-Identifier: GPL-2.0-or-later
// AtomicFile: replaced atomically, mode 0644 whatever the umask, never through a symlink or a hard
// link planted at the spare's name, and never changing a version that a reader still holds open.
#include "stallwatch/core/atomic_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>

#include "temp_dir.h"

namespace stallwatch {
namespace {

using test_support::TempDir;

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string read_fd(int fd) {
  char buf[256];
  const ssize_t n = ::pread(fd, buf, sizeof buf, 0);
  return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string();
}

ino_t inode(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 ? st.st_ino : 0;
}

// Leases are a filesystem feature (and fs.leases-enable): where the scratch directory has none,
// AtomicFile always writes a fresh file, and the reuse assertions do not apply.
bool leases_work(const std::string& dir) {
  const std::string probe = dir + "/probe";
  int fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
  const bool ok = fd >= 0 && ::fcntl(fd, F_SETLEASE, F_WRLCK) == 0;
  if (fd >= 0) ::close(fd);
  ::unlink(probe.c_str());
  return ok;
}

TEST(AtomicFile, WritesWholeFileWithMode0644WhateverTheUmask) {
  TempDir dir;
  const std::string path = dir.path() + "/stallwatch.prom";
  AtomicFile f(path);
  const mode_t old = ::umask(077);
  auto st = f.write("a 1\n");
  ::umask(old);
  ASSERT_TRUE(st) << st.error().message;
  EXPECT_EQ(slurp(path), "a 1\n");
  struct stat sb {};
  ASSERT_EQ(::stat(path.c_str(), &sb), 0);
  EXPECT_EQ(sb.st_mode & 0777, 0644u);
  EXPECT_NE(::access((path + ".tmp").c_str(), F_OK), 0) << "the first write leaves no spare";
  ASSERT_TRUE(f.write("a 2 longer\n"));
  EXPECT_EQ(slurp(path), "a 2 longer\n");
  ASSERT_TRUE(f.write("a 3\n"));
  EXPECT_EQ(slurp(path), "a 3\n") << "a shorter version is truncated";
  ASSERT_TRUE(f.write(""));
  EXPECT_EQ(slurp(path), "");
}

TEST(AtomicFile, ReusesItsSpareInPlaceWhenNobodyHoldsIt) {
  TempDir dir;
  if (!leases_work(dir.path())) GTEST_SKIP() << dir.path() << ": no file leases on this filesystem";
  const std::string path = dir.path() + "/status.json";
  AtomicFile f(path);
  ASSERT_TRUE(f.write("v1"));
  const ino_t first = inode(path);
  ASSERT_TRUE(f.write("v2"));
  EXPECT_FALSE(f.reused_spare()) << "the spare did not exist yet";
  EXPECT_EQ(inode(path + ".tmp"), first) << "the previous version stays behind as the spare";
  const ino_t second = inode(path);
  ASSERT_TRUE(f.write("v3"));
  EXPECT_TRUE(f.reused_spare());
  EXPECT_EQ(inode(path), first) << "overwritten in place, then swapped back";
  EXPECT_EQ(inode(path + ".tmp"), second);
  EXPECT_EQ(slurp(path), "v3");
  for (int i = 4; i < 10; ++i) {
    ASSERT_TRUE(f.write("v" + std::to_string(i)));
    EXPECT_TRUE(f.reused_spare());
    EXPECT_EQ(slurp(path), "v" + std::to_string(i));
  }
}

TEST(AtomicFile, AVersionAReaderHoldsOpenIsNeverOverwritten) {
  TempDir dir;
  const std::string path = dir.path() + "/stallwatch.prom";
  AtomicFile f(path);
  ASSERT_TRUE(f.write("v1"));
  ASSERT_TRUE(f.write("v2"));
  ASSERT_TRUE(f.write("v3"));
  // A scrape opens the current version (v3) and is descheduled before it reads.
  const int reader = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(reader, 0);
  ASSERT_TRUE(f.write("v4"));  // v3's inode becomes the spare
  ASSERT_TRUE(f.write("v5"));  // the spare is held open: a fresh file instead
  EXPECT_FALSE(f.reused_spare());
  ASSERT_TRUE(f.write("v6"));
  EXPECT_EQ(read_fd(reader), "v3") << "the reader's version must not change under it";
  EXPECT_EQ(slurp(path), "v6");
  ::close(reader);
}

TEST(AtomicFile, AHardLinkToTheSpareIsNeverWrittenThrough) {
  TempDir dir;
  const std::string path = dir.path() + "/stallwatch.prom";
  const std::string other = dir.path() + "/elsewhere";
  AtomicFile f(path);
  ASSERT_TRUE(f.write("v1"));
  ASSERT_TRUE(f.write("v2"));  // v1 is the spare now
  ASSERT_EQ(::link((path + ".tmp").c_str(), other.c_str()), 0);
  ASSERT_TRUE(f.write("v3"));
  EXPECT_FALSE(f.reused_spare());
  EXPECT_EQ(slurp(other), "v1");
  EXPECT_EQ(slurp(path), "v3");
}

TEST(AtomicFile, StaleTemporaryFileIsReplaced) {
  TempDir dir;
  const std::string path = dir.path() + "/stallwatch.prom";
  { std::ofstream(path + ".tmp") << "half a file"; }
  ASSERT_TRUE(AtomicFile(path).write("b 1\n"));
  EXPECT_EQ(slurp(path), "b 1\n");
}

// A symlink or a hard link planted at the spare's name (before the first write, or after the
// spare exists) is replaced, never written through.
TEST(AtomicFile, NothingPlantedAtTheSparesNameIsWrittenThrough) {
  for (const bool hard : {false, true}) {
    for (const int writes_before : {0, 2}) {
      TempDir dir;
      const std::string path = dir.path() + "/stallwatch.prom";
      const std::string victim = dir.path() + "/victim";
      { std::ofstream(victim) << "keep me"; }
      AtomicFile f(path);
      for (int i = 0; i < writes_before; ++i) ASSERT_TRUE(f.write("v" + std::to_string(i)));
      ::unlink((path + ".tmp").c_str());
      ASSERT_EQ(hard ? ::link(victim.c_str(), (path + ".tmp").c_str())
                     : ::symlink(victim.c_str(), (path + ".tmp").c_str()),
                0);
      ASSERT_TRUE(f.write("c 1\n"));
      ASSERT_TRUE(f.write("c 2\n"));
      EXPECT_EQ(slurp(victim), "keep me")
          << (hard ? "hard link" : "symlink") << " after " << writes_before;
      EXPECT_EQ(slurp(path), "c 2\n");
    }
  }
}

TEST(AtomicFile, MissingDirectoryIsAnExactError) {
  TempDir dir;
  const std::string path = dir.path() + "/nope/stallwatch.prom";
  auto st = AtomicFile(path).write("x 1\n");
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().message, "cannot create " + path + ".tmp: No such file or directory");
}

// A reader opening the file by name while it is rewritten sees one whole version, never a mix.
TEST(AtomicFile, ConcurrentReadersSeeWholeVersionsOnly) {
  TempDir dir;
  const std::string path = dir.path() + "/status.json";
  const std::string a(3000, 'a');
  const std::string b(1000, 'b');
  AtomicFile f(path);
  ASSERT_TRUE(f.write(a));
  std::atomic<bool> done{false};
  std::atomic<int> torn{0};
  std::thread reader([&] {
    while (!done.load()) {
      const std::string s = slurp(path);
      if (s != a && s != b) torn.fetch_add(1);
    }
  });
  for (int i = 0; i < 3000; ++i) ASSERT_TRUE(f.write(i % 2 ? a : b));
  done.store(true);
  reader.join();
  EXPECT_EQ(torn.load(), 0);
}

}  // namespace
}  // namespace stallwatch
