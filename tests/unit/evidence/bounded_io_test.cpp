// SPDX-License-Identifier: GPL-2.0-or-later
#include "stallwatch/evidence/bounded_io.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <string>
#include <thread>

#include <gtest/gtest.h>
#include "fixture_util.h"

namespace stallwatch::evidence {
namespace {

using namespace std::chrono_literals;

using testing::TempDir;

TEST(BoundedIo, InlineWithoutStart) {
  TempDir dir;
  std::string f = dir.path() + "/f";
  BoundedIo io;
  EXPECT_FALSE(io.read(f, 100, 10ms).ok());
  ::close(::open(f.c_str(), O_CREAT | O_WRONLY, 0600));
  EXPECT_TRUE(io.write(f, "hello", 10ms).ok());
  EXPECT_EQ(*io.read(f, 100, 10ms), "hello");
  EXPECT_EQ(*io.read(f, 3, 10ms), "hel");
}

TEST(BoundedIo, AReadThatBlocksTimesOutAndTheHelperRecovers) {
  // open() of a FIFO for reading blocks until a writer appears: a stand-in for a /proc read
  // stuck on a lock in the kernel.
  TempDir dir;
  std::string fifo = dir.path() + "/fifo";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  std::string plain = dir.path() + "/plain";
  ::close(::open(plain.c_str(), O_CREAT | O_WRONLY, 0600));
  BoundedIo io;
  ASSERT_TRUE(io.start().ok());
  auto t0 = std::chrono::steady_clock::now();
  auto r = io.read(fifo, 100, 30ms);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message, "timed out after 30 ms");
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 2s);
  // Still stuck: the next call waits its own timeout for the helper, then fails fast.
  auto r2 = io.read(plain, 100, 20ms);
  ASSERT_FALSE(r2.ok());
  EXPECT_EQ(r2.error().message, "previous call still blocked");
  // Unblock it: a writer opens and closes the FIFO; the helper's read sees EOF.
  int w = ::open(fifo.c_str(), O_WRONLY | O_NONBLOCK);
  ASSERT_GE(w, 0);
  ::close(w);
  auto r3 = io.read(plain, 100, 5s);
  EXPECT_TRUE(r3.ok()) << r3.error().message;
  io.stop();
}

TEST(BoundedIo, StopWhileStuckDoesNotHang) {
  TempDir dir;
  std::string fifo = dir.path() + "/fifo";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  {
    BoundedIo io;
    ASSERT_TRUE(io.start().ok());
    EXPECT_FALSE(io.read(fifo, 100, 10ms).ok());
    io.stop();  // detaches the stuck helper
  }
  // Release the detached helper so the test process exits cleanly.
  int w = ::open(fifo.c_str(), O_WRONLY | O_NONBLOCK);
  if (w >= 0) ::close(w);
}

TEST(BoundedIo, WriteToAMissingFileFails) {
  BoundedIo io;
  ASSERT_TRUE(io.start().ok());
  auto s = io.write("/nonexistent-dir/x", "l", 1s);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().message, "/nonexistent-dir/x: No such file or directory");
}

}  // namespace
}  // namespace stallwatch::evidence
