// SPDX-License-Identifier: GPL-2.0-or-later
#include "stallwatch/escalation/watchdog_sysfs.h"

#include <gtest/gtest.h>

#include "fakes.h"

namespace stallwatch::escalation {
namespace {

using testing::fixture;

TEST(WatchdogSysfsName, MapsDeviceNodesToClassEntries) {
  EXPECT_EQ(watchdog_sysfs_name("/dev/watchdog0"), "watchdog0");
  EXPECT_EQ(watchdog_sysfs_name("/dev/watchdog12"), "watchdog12");
  EXPECT_EQ(watchdog_sysfs_name("/dev/watchdog"), "watchdog0");  // legacy node = id 0
  EXPECT_EQ(watchdog_sysfs_name("/dev/watchdogX"), "");
  EXPECT_EQ(watchdog_sysfs_name("/dev/wdt"), "");
}

TEST(WatchdogSysfsParse, IntsAndFlags) {
  EXPECT_EQ(parse_sysfs_int("30\n"), 30);
  EXPECT_EQ(parse_sysfs_int(""), std::nullopt);
  EXPECT_EQ(parse_sysfs_int("3x"), std::nullopt);
  EXPECT_EQ(parse_sysfs_flags("0\n"), 0u);  // bootstatus: "%u"
  EXPECT_EQ(parse_sysfs_flags("32\n"), 32u);
  EXPECT_EQ(parse_sysfs_flags("0x8200\n"), 0x8200u);  // status: "0x%x"
  EXPECT_EQ(parse_sysfs_flags("0x"), std::nullopt);
  EXPECT_EQ(parse_sysfs_flags("zz"), std::nullopt);
}

TEST(WatchdogSysfsRead, I6300esbCapturedFromQemu) {
  Sysroot root(fixture("qemu-6.1-watchdogs"));
  auto info = read_watchdog_sysfs(root, "/dev/watchdog0");
  ASSERT_TRUE(info.ok()) << info.error().message;
  EXPECT_EQ(info->name, "watchdog0");
  EXPECT_EQ(info->sysfs_dir, "/sys/class/watchdog/watchdog0");
  EXPECT_EQ(info->identity, "i6300ESB timer");
  EXPECT_EQ(info->timeout_s, 30);
  EXPECT_EQ(info->min_timeout_s, 1);
  EXPECT_EQ(info->max_timeout_s, 2046);
  EXPECT_EQ(info->pretimeout_s, 0);
  EXPECT_EQ(info->timeleft_s, std::nullopt);  // the driver has no get_timeleft
  EXPECT_EQ(info->nowayout, false);
  EXPECT_EQ(info->bootstatus, 0u);
  EXPECT_EQ(info->status, 0x200u);
  EXPECT_EQ(info->state, "inactive");
  EXPECT_EQ(info->pretimeout_governor, "noop");
  EXPECT_EQ(info->pretimeout_available_governors, (std::vector<std::string>{"panic", "noop"}));
}

TEST(WatchdogSysfsRead, SoftdogWithNowayout) {
  Sysroot root(fixture("qemu-6.1-watchdogs"));
  auto info = read_watchdog_sysfs(root, "/dev/watchdog1");
  ASSERT_TRUE(info.ok()) << info.error().message;
  EXPECT_EQ(info->identity, "Software Watchdog");
  EXPECT_EQ(info->timeout_s, 60);
  EXPECT_EQ(info->max_timeout_s, 65535);
  EXPECT_EQ(info->nowayout, true);
}

TEST(WatchdogSysfsRead, LegacyNodeIsWatchdogZero) {
  Sysroot root(fixture("qemu-6.1-watchdogs"));
  auto info = read_watchdog_sysfs(root, "/dev/watchdog");
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->identity, "i6300ESB timer");
}

TEST(WatchdogSysfsRead, MissingDeviceIsAnError) {
  Sysroot root(fixture("qemu-6.1-watchdogs"));
  auto info = read_watchdog_sysfs(root, "/dev/watchdog7");
  ASSERT_FALSE(info.ok());
  EXPECT_NE(info.error().message.find("no such watchdog"), std::string::npos);
  EXPECT_FALSE(read_watchdog_sysfs(root, "/dev/wdt").ok());
}

TEST(WatchdogFlags, Described) {
  EXPECT_EQ(describe_watchdog_flags(0), "0x0");
  EXPECT_EQ(describe_watchdog_flags(WDIOF_CARDRESET), "0x20 (card-reset)");
  EXPECT_EQ(describe_watchdog_flags(WDIOF_MAGICCLOSE | WDIOF_KEEPALIVEPING),
            "0x8100 (magicclose,keepaliveping)");
}

}  // namespace
}  // namespace stallwatch::escalation
