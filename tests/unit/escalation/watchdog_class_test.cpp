// SPDX-License-Identifier: GPL-2.0-or-later
// watchdog.device must be a watchdog (issue 10 item 4): the class check on fstat, and arm()
// refusing anything else before a single byte is written.
#include "stallwatch/escalation/watchdog_class.h"

#include <fcntl.h>
#include <sys/sysmacros.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "fakes.h"
#include "stallwatch/escalation/watchdog_device.h"

namespace stallwatch::escalation {
namespace {

using ::testing::ElementsAre;
using testing::FakeWatchdog;
using testing::FakeWatchdogOps;
using testing::fixture;
using testing::TempDir;

std::string devices() {
  Sysroot root(fixture("qemu-6.1-watchdogs"));
  return *root.read_file("/proc/devices");
}

struct stat node(mode_t type, unsigned maj, unsigned min) {
  struct stat st {};
  st.st_mode = type | 0600;
  st.st_rdev = makedev(maj, min);
  return st;
}

std::string check(const struct stat& st, const std::optional<std::string>& proc_devices) {
  Status s = check_watchdog_class("/dev/x", st, proc_devices);
  return s.ok() ? "<ok>" : s.error().message;
}

TEST(WatchdogClass, ParsesTheCharacterMajorOnly) {
  EXPECT_EQ(parse_watchdog_major(devices()), 246u);
  EXPECT_EQ(parse_watchdog_major("Character devices:\n 10 misc\n\nBlock devices:\n246 watchdog\n"),
            std::nullopt);
  EXPECT_EQ(parse_watchdog_major("Character devices:\n 10 misc\n\n  99 watchdog\n"), 99u);
  EXPECT_EQ(parse_watchdog_major(""), std::nullopt);
  EXPECT_EQ(parse_watchdog_major("Character devices:\nxx watchdog\n"), std::nullopt);
}

TEST(WatchdogClass, AcceptsMiscNodeAndDynamicMajor) {
  EXPECT_EQ(check(node(S_IFCHR, 10, 130), std::nullopt), "<ok>");
  EXPECT_EQ(check(node(S_IFCHR, 246, 0), devices()), "<ok>");
  EXPECT_EQ(check(node(S_IFCHR, 246, 1), devices()), "<ok>");
}

TEST(WatchdogClass, RefusesEverythingElseSayingWhy) {
  EXPECT_EQ(check(node(S_IFREG, 0, 0), devices()),
            "watchdog.device /dev/x is not a watchdog: it is a regular file, not a character "
            "device; nothing was written to it");
  EXPECT_EQ(check(node(S_IFBLK, 8, 0), devices()),
            "watchdog.device /dev/x is not a watchdog: it is a block device, not a character "
            "device; nothing was written to it");
  EXPECT_EQ(check(node(S_IFDIR, 0, 0), devices()),
            "watchdog.device /dev/x is not a watchdog: it is a directory, not a character "
            "device; nothing was written to it");
  EXPECT_EQ(check(node(S_IFCHR, 1, 3), devices()),
            "watchdog.device /dev/x is not a watchdog: character device 1:3 is neither misc "
            "10:130 nor the watchdog major (246) from /proc/devices; nothing was written to it");
  EXPECT_EQ(check(node(S_IFCHR, 10, 131), devices()),
            "watchdog.device /dev/x is not a watchdog: character device 10:131 is neither misc "
            "10:130 nor the watchdog major (246) from /proc/devices; nothing was written to it");
  EXPECT_EQ(check(node(S_IFCHR, 246, 0), std::nullopt),
            "watchdog.device /dev/x is not a watchdog: character device 246:0 is neither misc "
            "10:130 nor the watchdog major (/proc/devices unreadable) from /proc/devices; nothing "
            "was written to it");
  EXPECT_EQ(check(node(S_IFCHR, 246, 0), std::string("Character devices:\n 10 misc\n")),
            "watchdog.device /dev/x is not a watchdog: character device 246:0 is neither misc "
            "10:130 nor the watchdog major (none listed: is a watchdog driver loaded?) from "
            "/proc/devices; nothing was written to it");
}

class WatchdogClassArm : public ::testing::Test {
 protected:
  WatchdogSettings settings() {
    WatchdogSettings s;
    s.device = "/dev/watchdog0";
    s.timeout_s = 30;
    return s;
  }
  Sysroot root_{fixture("qemu-6.1-watchdogs")};
  FakeWatchdog dev_;
  FakeWatchdogOps ops_{dev_};
};

TEST_F(WatchdogClassArm, DynamicMajorFromProcDevicesArms) {
  dev_.rdev = makedev(246, 0);
  WatchdogDevice wd(root_, ops_, settings());
  Status st = wd.arm();
  ASSERT_TRUE(st.ok()) << st.error().message;
  EXPECT_TRUE(wd.armed());
}

TEST_F(WatchdogClassArm, RegularFileIsClosedUntouched) {
  dev_.mode = S_IFREG | 0644;
  dev_.rdev = 0;
  WatchdogDevice wd(root_, ops_, settings());
  Status st = wd.arm();
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().message,
            "watchdog.device /dev/watchdog0 is not a watchdog: it is a regular file, not a "
            "character device; nothing was written to it");
  EXPECT_THAT(dev_.calls, ElementsAre("open", "fstat", "close"));
  EXPECT_FALSE(wd.armed());
}

TEST_F(WatchdogClassArm, DevNullIsClosedUntouched) {
  dev_.rdev = makedev(1, 3);
  WatchdogDevice wd(root_, ops_, settings());
  Status st = wd.arm();
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().message,
            "watchdog.device /dev/watchdog0 is not a watchdog: character device 1:3 is neither "
            "misc 10:130 nor the watchdog major (246) from /proc/devices; nothing was written to "
            "it");
  EXPECT_THAT(dev_.calls, ElementsAre("open", "fstat", "close"));
}

TEST_F(WatchdogClassArm, FstatFailureIsRefused) {
  dev_.fstat_error = -EIO;
  WatchdogDevice wd(root_, ops_, settings());
  Status st = wd.arm();
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().message,
            "watchdog.device /dev/watchdog0: fstat failed: Input/output error; nothing was "
            "written to it");
  EXPECT_THAT(dev_.calls, ElementsAre("open", "fstat", "close"));
}

TEST(WatchdogClassSystem, RealRegularFileAndSymlinkAreNeverWritten) {
  // The real syscalls on a sysroot: a regular file at dev/watchdog0 and a symlink at
  // dev/watchdog1 pointing at it.
  TempDir tmp;
  tmp.copy_tree(fixture("qemu-6.1-watchdogs"));
  const std::string content = "root:x:0:0:root:/root:/bin/bash\n";
  tmp.write("dev/watchdog0", content);
  ASSERT_EQ(::unlink((tmp.path() + "/dev/watchdog1").c_str()), 0);
  ASSERT_EQ(::symlink("watchdog0", (tmp.path() + "/dev/watchdog1").c_str()), 0);
  Sysroot root(tmp.path());
  auto ops = make_system_watchdog_ops();
  WatchdogSettings s;
  s.device = "/dev/watchdog0";
  s.timeout_s = 30;
  WatchdogDevice wd(root, *ops, s);
  Status st = wd.arm();
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().message,
            "watchdog.device /dev/watchdog0 is not a watchdog: it is a regular file, not a "
            "character device; nothing was written to it");
  s.device = "/dev/watchdog1";
  WatchdogDevice link(root, *ops, s);
  st = link.arm();
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().message,
            "watchdog.device /dev/watchdog1 is a symbolic link; name the device node itself (e.g. "
            "/dev/watchdog0); nothing was written to it");
  EXPECT_EQ(tmp.read("dev/watchdog0"), content);
}

}  // namespace
}  // namespace stallwatch::escalation
