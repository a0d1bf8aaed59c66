// SPDX-License-Identifier: GPL-2.0-or-later
#include "stallwatch/core/config.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

namespace stallwatch {
namespace {

using namespace std::chrono_literals;

std::string err(std::string_view text) {
  auto c = parse_config(text, "t.toml");
  return c ? std::string("<ok>") : c.error().message;
}

TEST(Duration, ParsesUnits) {
  EXPECT_EQ(*parse_duration("500ms"), 500ms);
  EXPECT_EQ(*parse_duration("2s"), 2s);
  EXPECT_EQ(*parse_duration("1m"), 60s);
  EXPECT_EQ(*parse_duration("1.5s"), 1500ms);
  EXPECT_EQ(*parse_duration("250us"), 250us);
  EXPECT_EQ(*parse_duration("0"), 0s);
  EXPECT_FALSE(parse_duration("5"));
  EXPECT_FALSE(parse_duration("ms"));
  EXPECT_FALSE(parse_duration("5 s"));
  EXPECT_FALSE(parse_duration("-1s"));
}

TEST(Duration, FormatsWithLargestExactUnit) {
  EXPECT_EQ(format_duration(500ms), "500ms");
  EXPECT_EQ(format_duration(2s), "2s");
  EXPECT_EQ(format_duration(60s), "1m");
  EXPECT_EQ(format_duration(1500ms), "1500ms");
}

TEST(Config, EmptyFileGivesDefaults) {
  auto c = parse_config("", "t.toml");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->heartbeat.interval, 500ms);
  EXPECT_EQ(c->heartbeat.priority, 99);
  EXPECT_EQ(c->checker.threshold, 2s);
  EXPECT_EQ(c->checker.interval, 1s);
  EXPECT_EQ(c->checker.repeat_interval, 10s);
  EXPECT_EQ(c->heartbeat.cpus, "all");
  EXPECT_EQ(c->heartbeat.stack_kib, 16u);
}

TEST(Config, HugeCodeIsOffByDefaultAndCanBeTurnedOn) {
  auto off = parse_config("", "t.toml");
  ASSERT_TRUE(off);
  EXPECT_FALSE(off->daemon.huge_code);
  auto on = parse_config("[daemon]\nhuge_code = true\n", "t.toml");
  ASSERT_TRUE(on) << on.error().message;
  EXPECT_TRUE(on->daemon.huge_code);
  EXPECT_NE(format_config(*on).find("huge_code = true\n"), std::string::npos);
  EXPECT_EQ(err("[daemon]\nhuge_code = \"no\"\n").rfind("t.toml:2:", 0), 0U)
      << err("[daemon]\nhuge_code = \"no\"\n");
  EXPECT_NE(err("[daemon]\nhuge_code = \"no\"\n").find("daemon.huge_code"), std::string::npos);
}

TEST(Config, CheckIntervalDefaultFollowsThresholdAndPauseTolerance) {
  // The backstop defaults to the longest the rules allow, so a file that sets only a short
  // threshold or pause tolerance stays valid.
  auto c =
      parse_config("[heartbeat]\ninterval = \"100ms\"\n[checker]\nthreshold = \"1s\"\n", "t.toml");
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->checker.interval, 500ms);
  c = parse_config("[checker]\npause_tolerance = \"300ms\"\n", "t.toml");
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->checker.interval, 300ms);
  c = parse_config("[checker]\nthreshold = \"30s\"\nrepeat_interval = \"30s\"\n", "t.toml");
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->checker.interval, 1s);
  c = parse_config("[checker]\ninterval = \"250ms\"\n", "t.toml");
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->checker.interval, 250ms);
}

TEST(Config, ParsesEveryKeyKind) {
  auto c = parse_config(R"(
[heartbeat]
interval = "250ms"
priority = 50
cpus = "0-1"
include_isolated = true
[checker]
threshold = "1s"
interval = "50ms"
repeat_interval = "5s"
[log]
level = "debug"
[escalation]
action = "systemd"
after = "30s"
)",
                        "t.toml");
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->heartbeat.interval, 250ms);
  EXPECT_EQ(c->heartbeat.priority, 50);
  EXPECT_EQ(c->heartbeat.cpus, "0-1");
  EXPECT_TRUE(c->heartbeat.include_isolated);
  EXPECT_EQ(c->checker.threshold, 1s);
  EXPECT_EQ(c->log.level, "debug");
  EXPECT_EQ(c->escalation.action, EscalationAction::kSystemd);
}

TEST(ConfigErrors, Syntax) {
  EXPECT_EQ(err("[heartbeat\ninterval = \"1s\""),
            "t.toml:1:11: syntax: Error while parsing table header: expected ']', saw '\\n'");
}

TEST(ConfigErrors, UnknownKeyWithSuggestion) {
  EXPECT_EQ(err("[heartbeat]\nintervall = \"1s\"\n"),
            "t.toml:2:1: heartbeat.intervall: unknown key (did you mean \"interval\"?)");
  EXPECT_EQ(err("[heartbeat]\nbogus = 1\n"), "t.toml:2:1: heartbeat.bogus: unknown key");
  EXPECT_EQ(err("[cheker]\n"), "t.toml:1:2: cheker: unknown section (did you mean \"checker\"?)");
  EXPECT_EQ(err("threshold = \"2s\"\n"), "t.toml:1:1: threshold: unknown section");
}

// checker.priority (0.1.0) set what is now watchdog.feeder_priority: still read, with a warning
// that names the new key and where the old one is; both together are an error naming both.
TEST(Config, FeederPriorityUnderWatchdog) {
  auto c = parse_config("[watchdog]\nfeeder_priority = 70\n", "t.toml");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->watchdog.feeder_priority, 70);
  EXPECT_TRUE(c->warnings.empty());
  EXPECT_NE(format_config(*c).find("feeder_priority = 70\n"), std::string::npos);
}

TEST(Config, DeprecatedCheckerPriorityStillWorksWithAWarning) {
  auto c = parse_config("[checker]\nthreshold = \"2s\"\npriority = 60\n", "t.toml");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->watchdog.feeder_priority, 60);
  ASSERT_EQ(c->warnings.size(), 1u);
  EXPECT_EQ(c->warnings[0],
            "t.toml:3:12: checker.priority: deprecated: use watchdog.feeder_priority (the "
            "watchdog feeder's and escalation actor's SCHED_FIFO priority)");
}

TEST(ConfigErrors, OldAndNewFeederPriorityTogether) {
  EXPECT_EQ(err("[checker]\npriority = 60\n[watchdog]\nfeeder_priority = 70\n"),
            "t.toml:2:12: checker.priority: set together with watchdog.feeder_priority: remove "
            "checker.priority (the deprecated name of watchdog.feeder_priority)");
}

TEST(ConfigErrors, WrongType) {
  EXPECT_EQ(err("[heartbeat]\npriority = \"high\"\n"),
            "t.toml:2:12: heartbeat.priority: expected an integer, got string");
  EXPECT_EQ(err("[checker]\nthreshold = 2\n"),
            "t.toml:2:13: checker.threshold: expected a duration string with a unit such as "
            "\"500ms\", got integer");
  EXPECT_EQ(err("[heartbeat]\ninclude_isolated = \"yes\"\n"),
            "t.toml:2:20: heartbeat.include_isolated: expected true or false, got string");
}

TEST(ConfigErrors, BadDurationAndRange) {
  EXPECT_EQ(err("[checker]\nthreshold = \"2 parsecs\"\n"),
            "t.toml:2:13: checker.threshold: invalid duration \"2 parsecs\": expected a number "
            "followed by a unit (ns, us, ms, s, m, h), e.g. \"500ms\"");
  EXPECT_EQ(err("[heartbeat]\npriority = 120\n"),
            "t.toml:2:12: heartbeat.priority: must be between 1 and 99, got 120");
  EXPECT_EQ(err("[heartbeat]\ninterval = \"20s\"\n"),
            "t.toml:2:12: heartbeat.interval: must be between 1ms and 10s, got 20s");
  EXPECT_EQ(err("[log]\nlevel = \"loud\"\n"),
            "t.toml:2:9: log.level: must be one of \"trace\", \"debug\", \"info\", \"warn\", "
            "\"error\", \"critical\", \"off\", got \"loud\"");
  EXPECT_EQ(err("[heartbeat]\ncpus = \"0-\"\n"),
            "t.toml:2:8: heartbeat.cpus: invalid cpulist \"0-\": bad range \"0-\"");
}

TEST(ConfigErrors, StackKibBetweenGlibcsMinimumAndOneMiB) {
  // 16 KiB is PTHREAD_STACK_MIN on x86-64: below it pthread_attr_setstacksize refuses.
  EXPECT_EQ(err("[heartbeat]\nstack_kib = 15\n"),
            "t.toml:2:13: heartbeat.stack_kib: must be between 16 and 1024, got 15");
  EXPECT_EQ(err("[heartbeat]\nstack_kib = 1025\n"),
            "t.toml:2:13: heartbeat.stack_kib: must be between 16 and 1024, got 1025");
  EXPECT_EQ(err("[heartbeat]\nstack_kib = \"16k\"\n"),
            "t.toml:2:13: heartbeat.stack_kib: expected an integer, got string");
  auto c = parse_config("[heartbeat]\nstack_kib = 16\n", "t.toml");
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->heartbeat.stack_kib, 16u);
}

TEST(ConfigErrors, Boundaries) {
  // Exactly 2 x heartbeat.interval is a valid threshold; exactly checker.interval is a valid
  // pause tolerance; exactly a third of the watchdog timeout is a valid heartbeat interval.
  EXPECT_TRUE(
      parse_config("[heartbeat]\ninterval = \"1s\"\n[checker]\nthreshold = \"2s\"\n", "t.toml"));
  EXPECT_TRUE(
      parse_config("[checker]\ninterval = \"200ms\"\npause_tolerance = \"200ms\"\n", "t.toml"));
  EXPECT_TRUE(
      parse_config("[heartbeat]\ninterval = \"1s\"\n[watchdog]\ndevice = \"/dev/watchdog0\"\n"
                   "timeout = \"3s\"\n",
                   "t.toml"));
}

TEST(ConfigErrors, PauseToleranceBelowTheCheckIntervalIsRejected) {
  // It would turn most checks into global pauses and silently disable detection.
  EXPECT_EQ(
      err("[checker]\ninterval = \"200ms\"\npause_tolerance = \"150ms\"\n"),
      "t.toml:3:19: checker.pause_tolerance: must be at least checker.interval (200ms), got 150ms");
}

TEST(ConfigErrors, HeartbeatTooSlowToFeedTheWatchdog) {
  EXPECT_EQ(err("[heartbeat]\ninterval = \"4s\"\n[checker]\nthreshold = \"10s\"\nrepeat_interval = "
                "\"10s\"\n"
                "[watchdog]\ndevice = \"/dev/watchdog0\"\ntimeout = \"10s\"\n"),
            "t.toml:2:12: heartbeat.interval: heartbeat.interval (4s) must be at most a third of "
            "watchdog.timeout (10s): the device is fed from checks that run on heartbeat wakeups");
}

TEST(ConfigErrors, Inconsistent) {
  EXPECT_EQ(err("[checker]\nthreshold = \"800ms\"\n"),
            "t.toml:2:13: checker.threshold: checker.threshold (800ms) must be at least 2 x "
            "heartbeat.interval (500ms)");
  EXPECT_EQ(err("[heartbeat]\ninterval = \"2s\"\n"),
            "t.toml:2:12: heartbeat.interval: checker.threshold (2s) must be at least 2 x "
            "heartbeat.interval (2s)");
  EXPECT_EQ(err("[checker]\ninterval = \"1500ms\"\n"),
            "t.toml:2:12: checker.interval: checker.interval (1500ms) must be at most half of "
            "checker.threshold (2s)");
  EXPECT_EQ(err("[escalation]\naction = \"panic\"\n"),
            "t.toml:2:10: escalation.action: \"panic\" crashes the kernel: it requires "
            "escalation.allow_panic = true");
  EXPECT_EQ(err("[escalation]\naction = \"watchdog-device\"\n"),
            "t.toml:2:10: escalation.action: \"watchdog-device\" requires watchdog.device (e.g. "
            "\"/dev/watchdog0\")");
  EXPECT_EQ(
      err("[checker]\nrepeat_interval = \"1s\"\n"),
      "t.toml:2:19: checker.repeat_interval: must be at least checker.threshold (2s), got 1s");
}

TEST(Config, MissingDefaultFileMeansDefaultsButExplicitFileIsRequired) {
  auto c = load_config("/nonexistent/stallwatch.toml", false);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->checker.threshold, 2s);
  auto e = load_config("/nonexistent/stallwatch.toml", true);
  ASSERT_FALSE(e);
  EXPECT_EQ(e.error().message, "/nonexistent/stallwatch.toml:0:0: config: cannot read file: "
                               "/nonexistent/stallwatch.toml: No such file or directory");
}

TEST(Config, ShippedFileIsValidAndAtDefaults) {
  auto shipped =
      load_config(std::string(STALLWATCH_FIXTURES) + "/../../config/stallwatch.toml", true);
  ASSERT_TRUE(shipped) << shipped.error().message;
  Config defaults;
  defaults.source = shipped->source;
  EXPECT_EQ(format_config(*shipped), format_config(defaults));
}

TEST(Config, PrintedConfigRoundTrips) {
  auto c =
      parse_config("[heartbeat]\ninterval = \"250ms\"\n[checker]\nthreshold = \"3s\"\n", "a.toml");
  ASSERT_TRUE(c);
  std::string text = format_config(*c);
  auto again = parse_config(text, "a.toml");
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_EQ(format_config(*again), text);
}

TEST(Config, MetricsDefaultsAndKeys) {
  Config defaults;
  EXPECT_EQ(defaults.metrics.textfile, "auto");
  EXPECT_EQ(defaults.metrics.interval, 60s);
  auto c = parse_config(
      "[metrics]\ntextfile = \"/srv/textfile/stallwatch.prom\"\ninterval = \"1s\"\n", "m.toml");
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->metrics.textfile, "/srv/textfile/stallwatch.prom");
  EXPECT_EQ(c->metrics.interval, 1s);
  auto off = parse_config("[metrics]\ntextfile = \"\"\n", "m.toml");
  ASSERT_TRUE(off) << off.error().message;
  EXPECT_EQ(off->metrics.textfile, "");
  EXPECT_NE(format_config(*c).find(
                "[metrics]\ntextfile = \"/srv/textfile/stallwatch.prom\"\ninterval = \"1s\"\n"),
            std::string::npos);
}

TEST(Config, MetricsErrorsAreExact) {
  EXPECT_EQ(
      err("[metrics]\ntextfile = \"stallwatch.prom\"\n"),
      "t.toml:2:12: metrics.textfile: must be \"auto\", \"\" (off) or an absolute path ending in "
      ".prom, got \"stallwatch.prom\"");
  EXPECT_EQ(
      err("[metrics]\ntextfile = \"/var/lib/x/stallwatch.txt\"\n"),
      "t.toml:2:12: metrics.textfile: must be \"auto\", \"\" (off) or an absolute path ending in "
      ".prom, got \"/var/lib/x/stallwatch.txt\"");
  EXPECT_EQ(
      err("[metrics]\ntextfile = \"/var/lib/x/.prom\"\n"),
      "t.toml:2:12: metrics.textfile: must be \"auto\", \"\" (off) or an absolute path ending in "
      ".prom, got \"/var/lib/x/.prom\"");
  EXPECT_EQ(err("[metrics]\ntextfile = 1\n"),
            "t.toml:2:12: metrics.textfile: expected a string, got integer");
  EXPECT_EQ(err("[metrics]\ninterval = \"500ms\"\n"),
            "t.toml:2:12: metrics.interval: must be between 1s and 1m, got 500ms");
  EXPECT_EQ(err("[metrics]\ninterval = \"2m\"\n"),
            "t.toml:2:12: metrics.interval: must be between 1s and 1m, got 2m");
  EXPECT_EQ(err("[metrics]\ntextfil = \"\"\n"),
            "t.toml:2:1: metrics.textfil: unknown key (did you mean \"textfile\"?)");
}

TEST(Config, TimelineDefaultsAndKeys) {
  auto defaults = parse_config("", "t.toml");
  ASSERT_TRUE(defaults);
  EXPECT_FALSE(defaults->timeline.enabled);  // its cost: docs/timeline-cost.md
  EXPECT_EQ(defaults->timeline.seconds, 2s);
  EXPECT_EQ(defaults->timeline.buffer_kib, 512u);
  EXPECT_NE(format_config(*defaults).find(
                "\n[timeline]\nenabled = false\nseconds = \"2s\"\nbuffer_kib = 512\n"),
            std::string::npos);
  auto c = parse_config("[timeline]\nenabled = true\nseconds = \"1500ms\"\nbuffer_kib = 1024\n",
                        "t.toml");
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_TRUE(c->timeline.enabled);
  EXPECT_EQ(c->timeline.seconds, 1500ms);
  EXPECT_EQ(c->timeline.buffer_kib, 1024u);
  // The bounds themselves are accepted.
  for (const char* text : {"[timeline]\nseconds = \"1s\"\nbuffer_kib = 16\n",
                           "[timeline]\nseconds = \"10s\"\nbuffer_kib = 16384\n"}) {
    auto edge = parse_config(text, "t.toml");
    ASSERT_TRUE(edge) << edge.error().message;
  }
}

TEST(Config, TimelineRoundTripsThroughPrintedConfig) {
  auto c =
      parse_config("[timeline]\nenabled = false\nseconds = \"7s\"\nbuffer_kib = 4096\n", "t.toml");
  ASSERT_TRUE(c) << c.error().message;
  std::string text = format_config(*c);
  EXPECT_NE(text.find("\n[timeline]\nenabled = false\nseconds = \"7s\"\nbuffer_kib = 4096\n"),
            std::string::npos)
      << text;
  auto again = parse_config(text, "t.toml");
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_FALSE(again->timeline.enabled);
  EXPECT_EQ(again->timeline.seconds, 7s);
  EXPECT_EQ(again->timeline.buffer_kib, 4096u);
  EXPECT_EQ(format_config(*again), text);
}

TEST(ConfigErrors, TimelineErrorsAreExact) {
  EXPECT_EQ(err("[timeline]\nseconds = \"999ms\"\n"),
            "t.toml:2:11: timeline.seconds: must be between 1s and 10s, got 999ms");
  EXPECT_EQ(err("[timeline]\nseconds = \"11s\"\n"),
            "t.toml:2:11: timeline.seconds: must be between 1s and 10s, got 11s");
  EXPECT_EQ(err("[timeline]\nseconds = 2\n"),
            "t.toml:2:11: timeline.seconds: expected a duration string with a unit such as "
            "\"500ms\", got integer");
  EXPECT_EQ(err("[timeline]\nbuffer_kib = 15\n"),
            "t.toml:2:14: timeline.buffer_kib: must be between 16 and 16384, got 15");
  EXPECT_EQ(err("[timeline]\nbuffer_kib = 16385\n"),
            "t.toml:2:14: timeline.buffer_kib: must be between 16 and 16384, got 16385");
  EXPECT_EQ(err("[timeline]\nbuffer_kib = \"256\"\n"),
            "t.toml:2:14: timeline.buffer_kib: expected an integer, got string");
  EXPECT_EQ(err("[timeline]\nenabled = \"yes\"\n"),
            "t.toml:2:11: timeline.enabled: expected true or false, got string");
  EXPECT_EQ(err("[timeline]\nsecond = \"2s\"\n"),
            "t.toml:2:1: timeline.second: unknown key (did you mean \"seconds\"?)");
  EXPECT_EQ(err("[timelime]\n"),
            "t.toml:1:2: timelime: unknown section (did you mean \"timeline\"?)");
}

}  // namespace
}  // namespace stallwatch
