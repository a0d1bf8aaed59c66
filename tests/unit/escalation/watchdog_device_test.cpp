// SPDX-License-Identifier: GPL-2.0-or-later
#include "stallwatch/escalation/watchdog_device.h"

#include <fcntl.h>

#include <atomic>
#include <chrono>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "fakes.h"

namespace stallwatch::escalation {
namespace {

using ::testing::ElementsAre;
using testing::FakeWatchdog;
using testing::FakeWatchdogOps;
using testing::fixture;
using ::testing::HasSubstr;
using testing::TempDir;

WatchdogSettings settings(const std::string& device = "/dev/watchdog0", int timeout_s = 30) {
  WatchdogSettings s;
  s.device = device;
  s.timeout_s = timeout_s;
  s.feed_interval_ns = 100'000'000;
  return s;
}

bool any_warning(const WatchdogState& st, const std::string& needle) {
  for (const auto& w : st.warnings)
    if (w.find(needle) != std::string::npos) return true;
  return false;
}

class WatchdogDeviceTest : public ::testing::Test {
 protected:
  Sysroot root_{fixture("qemu-6.1-watchdogs")};
  FakeWatchdog dev_;
  FakeWatchdogOps ops_{dev_};
};

TEST_F(WatchdogDeviceTest, ArmSequenceReadsBackTimeoutAndFeedsOnce) {
  WatchdogDevice wd(root_, ops_, settings());
  ASSERT_TRUE(wd.probe().ok());
  EXPECT_TRUE(dev_.calls.empty()) << "probing must not touch (arm) the device";
  Status st = wd.arm();
  ASSERT_TRUE(st.ok()) << st.error().message;
  // The first feed is a write() of a non-'V' byte (clears a stale magic close).
  EXPECT_THAT(dev_.calls, ElementsAre("open", "fstat", "GETSUPPORT", "GETBOOTSTATUS",
                                      "SETTIMEOUT 30", "GETTIMEOUT", "write 00"));
  EXPECT_EQ(dev_.last_open_path, fixture("qemu-6.1-watchdogs") + "/dev/watchdog0");
  EXPECT_EQ(dev_.last_open_flags & O_ACCMODE, O_RDWR);
  EXPECT_NE(dev_.last_open_flags & O_CLOEXEC, 0);
  EXPECT_NE(dev_.last_open_flags & O_NOFOLLOW, 0);
  EXPECT_TRUE(wd.armed());
  EXPECT_TRUE(dev_.running);
  EXPECT_EQ(wd.state().timeout_s, 30);
  EXPECT_EQ(wd.state().identity, "i6300ESB timer");
  EXPECT_EQ(wd.state().bootstatus, 0u);
  EXPECT_FALSE(wd.state().nowayout);
  EXPECT_FALSE(wd.state().feed_by_write);
  EXPECT_EQ(wd.feeds(), 1u);
  EXPECT_TRUE(wd.state().warnings.empty());
}

TEST_F(WatchdogDeviceTest, RoundedTimeoutIsReadBack) {
  dev_.round = [](int t) { return (t + 7) / 8 * 8; };  // a driver with 8 s granularity
  WatchdogDevice wd(root_, ops_, settings("/dev/watchdog0", 30));
  ASSERT_TRUE(wd.arm().ok());
  EXPECT_EQ(wd.state().requested_timeout_s, 30);
  EXPECT_EQ(wd.state().timeout_s, 32);
  EXPECT_TRUE(any_warning(wd.state(), "uses a timeout of 32s (watchdog.timeout asked for 30s)"));
}

TEST_F(WatchdogDeviceTest, RoundedTimeoutReadBackWithoutWriteBack) {
  dev_.round = [](int t) { return t - t % 4; };
  dev_.settimeout_writes_back = false;  // legacy driver: only GETTIMEOUT tells the truth
  WatchdogDevice wd(root_, ops_, settings("/dev/watchdog0", 30));
  ASSERT_TRUE(wd.arm().ok());
  EXPECT_EQ(wd.state().timeout_s, 28);
}

TEST_F(WatchdogDeviceTest, RoundedBelowFeedCadenceFailsAndDisarms) {
  dev_.round = [](int) { return 1; };
  WatchdogSettings s = settings("/dev/watchdog0", 3);
  s.feed_interval_ns = 500'000'000;  // 1 s / 3 < 500 ms
  WatchdogDevice wd(root_, ops_, s);
  Status st = wd.arm();
  ASSERT_FALSE(st.ok());
  EXPECT_THAT(st.error().message, HasSubstr("real timeout of 1s cannot be fed every timeout/3"));
  EXPECT_FALSE(wd.armed());
  EXPECT_FALSE(dev_.running);
  EXPECT_THAT(dev_.calls,
              ::testing::IsSupersetOf({"SETOPTIONS DISABLECARD", "write 'V'", "close"}));
}

TEST_F(WatchdogDeviceTest, TimeoutOutsideSysfsLimitsIsRefusedBeforeArming) {
  WatchdogDevice wd(root_, ops_, settings("/dev/watchdog0", 3000));
  Status st = wd.arm();
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().message,
            "watchdog.timeout = 3000s is outside what /dev/watchdog0 (i6300ESB timer) supports: "
            "1..2046s");
  EXPECT_TRUE(dev_.calls.empty());
  EXPECT_FALSE(dev_.running);
}

TEST_F(WatchdogDeviceTest, SetTimeoutEinvalFailsAndDisarms) {
  dev_.max_timeout = 20;  // the driver is stricter than sysfs says
  WatchdogDevice wd(root_, ops_, settings());
  Status st = wd.arm();
  ASSERT_FALSE(st.ok());
  EXPECT_THAT(st.error().message, HasSubstr("rejected watchdog.timeout = 30s (EINVAL"));
  EXPECT_FALSE(dev_.running);
  EXPECT_FALSE(dev_.open);
}

TEST_F(WatchdogDeviceTest, FixedTimeoutDriverKeepsItsTimeout) {
  dev_.options &= ~WDIOF_SETTIMEOUT;
  dev_.timeout = 60;
  WatchdogDevice wd(root_, ops_, settings());
  ASSERT_TRUE(wd.arm().ok());
  EXPECT_EQ(wd.state().timeout_s, 60);
  EXPECT_TRUE(any_warning(wd.state(), "cannot change its timeout (no WDIOF_SETTIMEOUT)"));
  for (const auto& c : dev_.calls) EXPECT_EQ(c.find("SETTIMEOUT"), std::string::npos);
}

TEST_F(WatchdogDeviceTest, EbusyExplainsTheTwoWaysOut) {
  dev_.busy = true;
  WatchdogDevice wd(root_, ops_, settings());
  Status st = wd.arm();
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().message, watchdog_busy_message("/dev/watchdog0"));
  EXPECT_THAT(st.error().message, HasSubstr("is busy (EBUSY)"));
  EXPECT_THAT(st.error().message, HasSubstr("RuntimeWatchdogSec"));
  EXPECT_THAT(st.error().message, HasSubstr("escalation.action = \"systemd\""));
  EXPECT_THAT(st.error().message, HasSubstr("RuntimeWatchdogSec=off"));
  EXPECT_FALSE(wd.armed());
  EXPECT_THAT(dev_.calls, ElementsAre("open"));
  EXPECT_EQ(wd.feed(), FeedResult::kNotArmed);
}

TEST_F(WatchdogDeviceTest, MissingDeviceNode) {
  WatchdogDevice wd(root_, ops_, settings("/dev/watchdog5"));
  Status st = wd.arm();
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().message,
            "watchdog.device /dev/watchdog5 does not exist (is the driver loaded?)");
  EXPECT_TRUE(dev_.calls.empty());
}

TEST_F(WatchdogDeviceTest, KeepaliveEnottyFallsBackToWrite) {
  dev_.enotty = {WDIOC_KEEPALIVE};
  WatchdogDevice wd(root_, ops_, settings());
  ASSERT_TRUE(wd.arm().ok());
  dev_.calls.clear();
  EXPECT_EQ(wd.feed(), FeedResult::kFed);
  EXPECT_THAT(dev_.calls, ElementsAre("KEEPALIVE", "write 00"));  // a non-'V' byte
  EXPECT_TRUE(wd.state().feed_by_write);
  dev_.calls.clear();
  EXPECT_EQ(wd.feed(), FeedResult::kFed);
  EXPECT_THAT(dev_.calls, ElementsAre("write 00"));  // no more KEEPALIVE attempts
  EXPECT_EQ(wd.feeds(), 3u);
  EXPECT_FALSE(dev_.expect_close);
}

TEST_F(WatchdogDeviceTest, StaleMagicCloseOfAPreviousOwnerIsCleared) {
  {
    WatchdogDevice previous(root_, ops_, settings());
    ASSERT_TRUE(previous.arm().ok());
    ASSERT_TRUE(previous.disarm().stopped);  // DISABLECARD stopped it, so the 'V' stays set
  }
  ASSERT_TRUE(dev_.expect_close);
  WatchdogDevice wd(root_, ops_, settings());
  ASSERT_TRUE(wd.arm().ok());
  EXPECT_FALSE(dev_.expect_close);
  wd.abandon();  // e.g. the daemon dies after an escalation
  EXPECT_TRUE(dev_.running) << "a stale magic close must not stop the watchdog";
}

TEST_F(WatchdogDeviceTest, FirstWriteFailingFallsBackToKeepalive) {
  dev_.write_error = -EIO;
  WatchdogDevice wd(root_, ops_, settings());
  ASSERT_TRUE(wd.arm().ok());
  EXPECT_EQ(dev_.calls.back(), "KEEPALIVE");
  EXPECT_TRUE(
      any_warning(wd.state(), "a magic close left by a previous owner may still be pending"));
}

TEST_F(WatchdogDeviceTest, NoKeepalivePingOptionFeedsByWriteFromTheStart) {
  dev_.options &= ~WDIOF_KEEPALIVEPING;  // the core answers KEEPALIVE with EOPNOTSUPP
  WatchdogDevice wd(root_, ops_, settings());
  ASSERT_TRUE(wd.arm().ok());
  EXPECT_EQ(wd.feed(), FeedResult::kFed);
  for (const auto& c : dev_.calls) EXPECT_NE(c, "KEEPALIVE");
  EXPECT_EQ(dev_.calls.back(), "write 00");
}

TEST_F(WatchdogDeviceTest, KeepaliveEopnotsuppAtFeedTimeFallsBack) {
  WatchdogDevice wd(root_, ops_, settings());
  ASSERT_TRUE(wd.arm().ok());
  dev_.options &= ~WDIOF_KEEPALIVEPING;
  dev_.calls.clear();
  EXPECT_EQ(wd.feed(), FeedResult::kFed);
  EXPECT_THAT(dev_.calls, ElementsAre("KEEPALIVE", "write 00"));
}

TEST_F(WatchdogDeviceTest, GetsupportFailureIsRefusedBeforeAnyWrite) {
  dev_.enotty = {WDIOC_GETSUPPORT, WDIOC_GETBOOTSTATUS};
  WatchdogDevice wd(root_, ops_, settings());
  Status st = wd.arm();
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().message,
            "watchdog.device /dev/watchdog0: WDIOC_GETSUPPORT failed: Inappropriate ioctl for "
            "device: not a usable watchdog");
  EXPECT_FALSE(wd.armed());
  // It passed the class check, so it is a watchdog: disarmed again (ioctl first, then 'V').
  EXPECT_THAT(dev_.calls, ElementsAre("open", "fstat", "GETSUPPORT", "SETOPTIONS DISABLECARD",
                                      "write 'V'", "close"));
}

TEST_F(WatchdogDeviceTest, BootstatusFromIoctl) {
  dev_.bootstatus = WDIOF_CARDRESET;
  WatchdogDevice wd(root_, ops_, settings());
  ASSERT_TRUE(wd.arm().ok());
  EXPECT_EQ(wd.state().bootstatus, static_cast<std::uint32_t>(WDIOF_CARDRESET));
}

TEST_F(WatchdogDeviceTest, PretimeoutWhenSupported) {
  dev_.options |= WDIOF_PRETIMEOUT;
  WatchdogSettings s = settings();
  s.pretimeout_s = 10;
  WatchdogDevice wd(root_, ops_, s);
  ASSERT_TRUE(wd.arm().ok());
  EXPECT_THAT(dev_.calls,
              ElementsAre("open", "fstat", "GETSUPPORT", "GETBOOTSTATUS", "SETTIMEOUT 30",
                          "GETTIMEOUT", "SETPRETIMEOUT 10", "GETPRETIMEOUT", "write 00"));
  EXPECT_EQ(wd.state().pretimeout_s, 10);
}

TEST_F(WatchdogDeviceTest, PretimeoutUnsupportedIsSkippedWithAWarning) {
  WatchdogSettings s = settings();
  s.pretimeout_s = 10;
  WatchdogDevice wd(root_, ops_, s);
  ASSERT_TRUE(wd.arm().ok());
  for (const auto& c : dev_.calls) EXPECT_EQ(c.find("PRETIMEOUT"), std::string::npos);
  EXPECT_TRUE(any_warning(wd.state(), "has no pretimeout (no WDIOF_PRETIMEOUT)"));
  EXPECT_EQ(wd.state().pretimeout_s, 0);
}

TEST(WatchdogDeviceGovernor, WrittenThroughSysfsWhenAvailable) {
  TempDir tmp;
  tmp.copy_tree(fixture("qemu-6.1-watchdogs"));
  Sysroot root(tmp.path());
  FakeWatchdog dev;
  dev.options |= WDIOF_PRETIMEOUT;
  FakeWatchdogOps ops(dev);
  WatchdogSettings s = settings();
  s.pretimeout_s = 10;
  s.pretimeout_governor = "panic";
  WatchdogDevice wd(root, ops, s);
  ASSERT_TRUE(wd.arm().ok());
  EXPECT_EQ(tmp.read("sys/class/watchdog/watchdog0/pretimeout_governor"), "panic");
  EXPECT_EQ(wd.state().pretimeout_governor, "panic");
}

TEST(WatchdogDeviceGovernor, UnknownGovernorIsAWarning) {
  TempDir tmp;
  tmp.copy_tree(fixture("qemu-6.1-watchdogs"));
  Sysroot root(tmp.path());
  FakeWatchdog dev;
  FakeWatchdogOps ops(dev);
  WatchdogSettings s = settings();
  s.pretimeout_governor = "reboot";
  WatchdogDevice wd(root, ops, s);
  ASSERT_TRUE(wd.arm().ok());
  EXPECT_EQ(tmp.read("sys/class/watchdog/watchdog0/pretimeout_governor"), "noop\n");
  EXPECT_TRUE(any_warning(wd.state(), "pretimeout governor \"reboot\" is not available (have: "
                                      "panic, noop); load pretimeout_reboot first"));
}

TEST_F(WatchdogDeviceTest, DisarmIsDisablecardThenMagicCloseThenClose) {
  WatchdogDevice wd(root_, ops_, settings());
  ASSERT_TRUE(wd.arm().ok());
  dev_.calls.clear();
  DisarmOutcome out = wd.disarm();
  EXPECT_THAT(dev_.calls, ElementsAre("SETOPTIONS DISABLECARD", "write 'V'", "close"));
  EXPECT_TRUE(out.stopped);
  EXPECT_EQ(out.detail, "/dev/watchdog0 disarmed (WDIOS_DISABLECARD and magic close)");
  EXPECT_FALSE(dev_.running);
  EXPECT_FALSE(dev_.ran_on_after_close);
  EXPECT_FALSE(wd.armed());
  EXPECT_EQ(wd.feed(), FeedResult::kNotArmed);
}

TEST_F(WatchdogDeviceTest, DisarmWithoutDisablecardStillMagicCloses) {
  dev_.enotty = {WDIOC_SETOPTIONS};
  WatchdogDevice wd(root_, ops_, settings());
  ASSERT_TRUE(wd.arm().ok());
  DisarmOutcome out = wd.disarm();
  EXPECT_TRUE(out.stopped);
  EXPECT_EQ(out.detail, "/dev/watchdog0 disarmed (magic close)");
  EXPECT_FALSE(dev_.running);
}

TEST_F(WatchdogDeviceTest, NowayoutIsReportedAndCannotBeDisarmed) {
  dev_.nowayout = true;
  dev_.identity = "Software Watchdog";
  WatchdogDevice wd(root_, ops_, settings("/dev/watchdog1", 60));
  ASSERT_TRUE(wd.probe().ok());
  EXPECT_TRUE(wd.state().nowayout);
  EXPECT_TRUE(any_warning(wd.state(), "has nowayout set: once stallwatchd opens it, it cannot be "
                                      "disarmed"));
  ASSERT_TRUE(wd.arm().ok());
  DisarmOutcome out = wd.disarm();
  EXPECT_FALSE(out.stopped);
  EXPECT_THAT(out.detail, HasSubstr("nowayout set and cannot be disarmed"));
  EXPECT_THAT(out.detail, HasSubstr("in about 60s"));
  EXPECT_TRUE(dev_.running);
  EXPECT_TRUE(dev_.ran_on_after_close);
}

TEST_F(WatchdogDeviceTest, NowayoutDetectedFromEbusyWithoutSysfs) {
  dev_.nowayout = true;
  TempDir tmp;
  tmp.write("dev/watchdog0", "");
  Sysroot root(tmp.path());
  WatchdogDevice wd(root, ops_, settings());
  ASSERT_TRUE(wd.arm().ok());
  EXPECT_FALSE(wd.state().sysfs.has_value());
  EXPECT_TRUE(any_warning(wd.state(), "no sysfs information"));
  DisarmOutcome out = wd.disarm();
  EXPECT_FALSE(out.stopped);
  EXPECT_THAT(out.detail, HasSubstr("nowayout"));
}

TEST_F(WatchdogDeviceTest, AbandonLeavesTheResetDue) {
  WatchdogDevice wd(root_, ops_, settings());
  ASSERT_TRUE(wd.arm().ok());
  dev_.calls.clear();
  DisarmOutcome out = wd.abandon();
  EXPECT_THAT(dev_.calls, ElementsAre("close"));  // no DISABLECARD, no 'V'
  EXPECT_FALSE(out.stopped);
  EXPECT_TRUE(dev_.running);
  EXPECT_TRUE(dev_.ran_on_after_close);
}

TEST_F(WatchdogDeviceTest, AbandonWithoutMagicCloseSupportIsStoppedByTheKernel) {
  dev_.options &= ~WDIOF_MAGICCLOSE;
  WatchdogDevice wd(root_, ops_, settings());
  ASSERT_TRUE(wd.arm().ok());
  EXPECT_TRUE(any_warning(wd.state(), "has no magic close"));
  DisarmOutcome out = wd.abandon();
  EXPECT_TRUE(out.stopped);
  EXPECT_FALSE(dev_.running);
  EXPECT_THAT(out.detail, HasSubstr("pending reset is cancelled"));
}

TEST_F(WatchdogDeviceTest, DestructorNeverMagicCloses) {
  {
    WatchdogDevice wd(root_, ops_, settings());
    ASSERT_TRUE(wd.arm().ok());
    dev_.calls.clear();
  }
  EXPECT_THAT(dev_.calls, ElementsAre("close"));
  EXPECT_TRUE(dev_.running);
}

TEST_F(WatchdogDeviceTest, SetTimeoutShortensAndReadsBack) {
  dev_.round = [](int t) { return t < 2 ? 2 : t; };
  WatchdogDevice wd(root_, ops_, settings());
  ASSERT_TRUE(wd.arm().ok());
  dev_.calls.clear();
  auto t = wd.set_timeout(1);
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(*t, 2);
  EXPECT_EQ(wd.state().timeout_s, 2);
  EXPECT_THAT(dev_.calls, ElementsAre("SETTIMEOUT 1", "GETTIMEOUT"));
}

TEST_F(WatchdogDeviceTest, FirstFeedFailureFailsTheArm) {
  dev_.keepalive_error = -EIO;
  dev_.write_error = -EIO;
  WatchdogDevice wd(root_, ops_, settings());
  Status st = wd.arm();
  ASSERT_FALSE(st.ok());
  EXPECT_THAT(st.error().message, HasSubstr("the first feed failed"));
  EXPECT_FALSE(wd.armed());
}

TEST_F(WatchdogDeviceTest, FeedFailureIsReported) {
  WatchdogDevice wd(root_, ops_, settings());
  ASSERT_TRUE(wd.arm().ok());
  dev_.keepalive_error = -EIO;
  EXPECT_EQ(wd.feed(), FeedResult::kFailed);
  dev_.keepalive_error = 0;
  EXPECT_EQ(wd.feed(), FeedResult::kFed);
}

TEST(WatchdogSettingsFrom, RoundsUpToWholeSeconds) {
  Config c;
  c.watchdog.device = "/dev/watchdog0";
  c.watchdog.timeout = std::chrono::milliseconds(1500);
  c.watchdog.pretimeout = std::chrono::seconds(5);
  c.checker.interval = std::chrono::milliseconds(250);
  WatchdogSettings s = WatchdogSettings::from(c);
  EXPECT_EQ(s.timeout_s, 2);
  EXPECT_EQ(s.pretimeout_s, 5);
  EXPECT_EQ(s.feed_interval_ns, 250'000'000);
}

}  // namespace
}  // namespace stallwatch::escalation

namespace stallwatch::escalation {
namespace {

// Issue 19, item 3: a keepalive stuck inside a slow driver (the fake's sleeps 3 s) holds the
// device lock; the stop's disarm gives up after kDisarmWait and says the device stays armed,
// instead of waiting for the driver (a stop that ends in SIGKILL). Once the keepalive returns,
// disarming works.
TEST_F(WatchdogDeviceTest, DisarmDoesNotWaitForAKeepaliveStuckInTheDriver) {
  WatchdogDevice wd(root_, ops_, settings());
  ASSERT_TRUE(wd.probe().ok());
  ASSERT_TRUE(wd.arm().ok());
  (void)wd.feed();  // the first feed after arming uses WDIOC_KEEPALIVE from now on
  dev_.keepalive_delay_us = 3'000'000;
  std::atomic<bool> inside{false};
  std::thread feeder([&] {
    inside.store(true);
    (void)wd.feed();
  });
  while (!inside.load()) std::this_thread::yield();
  std::this_thread::sleep_for(std::chrono::milliseconds(100));  // inside the driver now
  const auto t0 = std::chrono::steady_clock::now();
  DisarmOutcome out = wd.disarm();
  const auto waited = std::chrono::steady_clock::now() - t0;
  EXPECT_FALSE(out.stopped);
  EXPECT_THAT(out.detail, HasSubstr("cannot be disarmed: a keepalive has been inside the driver"));
  // It gave up (the lock was still held: the keepalive had 2.9 s to go) instead of waiting.
  EXPECT_GE(waited, WatchdogDevice::kDisarmWait);
  feeder.join();
  dev_.keepalive_delay_us = 0;
  EXPECT_TRUE(wd.disarm().stopped);
  EXPECT_FALSE(dev_.running);
}

}  // namespace
}  // namespace stallwatch::escalation
