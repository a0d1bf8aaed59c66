// SPDX-License-Identifier: GPL-2.0-or-later
// Config limits (issue 10 item 5): the 1 MiB file cap, overflow-safe cpulists and
// --print-config output that stays valid TOML for any string value.
#include <stdlib.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <fstream>
#include <string>

#include "stallwatch/core/config.h"
#include "stallwatch/core/cpuset.h"

namespace stallwatch {
namespace {

class TempFile {
 public:
  explicit TempFile(const std::string& content) {
    const char* base = std::getenv("TMPDIR");
    path_ = std::string(base != nullptr ? base : "/tmp") + "/stallwatch-cfg-XXXXXX";
    int fd = ::mkstemp(path_.data());
    if (fd < 0) std::abort();
    ::close(fd);
    std::ofstream(path_, std::ios::binary) << content;
  }
  ~TempFile() { ::unlink(path_.c_str()); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

constexpr std::size_t kMiB = std::size_t{1} << 20;

// A valid config padded with a comment to exactly `size` bytes.
std::string padded(const std::string& tail, std::size_t size) {
  std::string head = "[checker]\nthreshold = \"3s\"\n#";
  std::string body = head + std::string(size - head.size() - 1 - tail.size(), 'x') + "\n" + tail;
  return body;
}

TEST(ConfigLimits, FileOfExactlyOneMiBIsRead) {
  TempFile f(padded("", kMiB));
  auto c = load_config(f.path(), true);
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->checker.threshold, std::chrono::seconds(3));
}

TEST(ConfigLimits, FileOverOneMiBIsRefusedNotTruncated) {
  // The bad key sits past the first MiB: a truncating reader would call this file valid.
  TempFile f(padded("[heartbeat]\nbogus = 1\n", kMiB + kMiB / 2));
  auto c = load_config(f.path(), true);
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().message,
            f.path() + ":0:0: config: file is larger than 1 MiB (1572864 bytes)");
}

TEST(ConfigLimits, OneByteOverIsRefused) {
  TempFile f(padded("", kMiB + 1));
  auto c = load_config(f.path(), true);
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().message,
            f.path() + ":0:0: config: file is larger than 1 MiB (1048577 bytes)");
}

TEST(CpulistLimits, OverflowingNumbersAreClearErrors) {
  EXPECT_EQ(parse_cpulist("1-3:2147483647").error().message,
            "invalid cpulist \"1-3:2147483647\": stride 2147483647 is out of range (at most 8192)");
  EXPECT_EQ(parse_cpulist("0-4294967295").error().message,
            "invalid cpulist \"0-4294967295\": CPU 4294967295 is out of range (at most 8191)");
  EXPECT_EQ(parse_cpulist("99999999999999999999999").error().message,
            "invalid cpulist \"99999999999999999999999\": CPU 99999999999999999999999 is out of "
            "range (at most 8191)");
  EXPECT_EQ(parse_cpulist("18446744073709551616-1").error().message,
            "invalid cpulist \"18446744073709551616-1\": CPU 18446744073709551616 is out of range "
            "(at most 8191)");
  EXPECT_EQ(parse_cpulist("8192").error().message,
            "invalid cpulist \"8192\": CPU 8192 is out of range (at most 8191)");
  EXPECT_EQ(
      parse_cpulist("0-3:99999999999").error().message,
      "invalid cpulist \"0-3:99999999999\": stride 99999999999 is out of range (at most 8192)");
  EXPECT_EQ(parse_cpulist("0-3:+1").error().message,
            "invalid cpulist \"0-3:+1\": bad stride in \"0-3:+1\"");
  EXPECT_EQ(parse_cpulist("-1").error().message, "invalid cpulist \"-1\": bad range \"-1\"");
}

TEST(CpulistLimits, BoundariesAreAccepted) {
  EXPECT_EQ(*parse_cpulist("8191"), (CpuList{8191}));
  EXPECT_EQ(*parse_cpulist("1-3:8192"), (CpuList{1}));
  EXPECT_EQ(parse_cpulist("8190-8191:8192")->size(), 1u);
  EXPECT_EQ(parse_cpulist("0-8191")->size(), 8192u);
}

TEST(ConfigLimits, HeartbeatCpusOverflowIsAConfigError) {
  auto c = parse_config("[heartbeat]\ncpus = \"1-3:2147483647\"\n", "t.toml");
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().message,
            "t.toml:2:8: heartbeat.cpus: invalid cpulist \"1-3:2147483647\": stride 2147483647 is "
            "out of range (at most 8192)");
}

TEST(TomlQuote, EscapesQuotesBackslashesAndControls) {
  EXPECT_EQ(toml_quote("plain /var/lib"), "\"plain /var/lib\"");
  EXPECT_EQ(toml_quote("a\"b\\c"), "\"a\\\"b\\\\c\"");
  EXPECT_EQ(toml_quote("\n\t\r\b\f"), "\"\\n\\t\\r\\b\\f\"");
  EXPECT_EQ(toml_quote(std::string("\x01\x1b\x7f", 3)), "\"\\u0001\\u001B\\u007F\"");
  EXPECT_EQ(toml_quote(std::string("\0", 1)), "\"\\u0000\"");
  EXPECT_EQ(toml_quote("\xff\xfe"), "\"\\uFFFD\\uFFFD\"");
  EXPECT_EQ(toml_quote("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x90\x9b"),
            "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x90\x9b\"");
  EXPECT_EQ(toml_quote("\xc0\xaf"), "\"\\uFFFD\\uFFFD\"");             // overlong '/'
  EXPECT_EQ(toml_quote("\xed\xa0\x80"), "\"\\uFFFD\\uFFFD\\uFFFD\"");  // surrogate
  EXPECT_EQ(toml_quote("\xe2\x82"), "\"\\uFFFD\\uFFFD\"");             // truncated
}

TEST(TomlQuote, PrintedConfigRoundTripsNastyStrings) {
  const std::string nasty[] = {
      "/var/lib/a\"b",
      "/var/lib/back\\slash\\",
      "/run/x\n[heartbeat]\npriority = 1",
      std::string("/run/nul\0byte", 13),
      "/run/\x1b]0;pwn\x07\x7f",
      "/run/\xc3\xa9t\xc3\xa9 \xf0\x9f\x90\x9b",
      "/run/'''\"\"\"",
  };
  for (const auto& s : nasty) {
    Config c;
    c.daemon.state_dir = s;
    c.daemon.runtime_dir = s + "2";
    c.source = "/etc/odd\nname.toml";
    std::string text = format_config(c);
    auto again = parse_config(text, "p.toml");
    ASSERT_TRUE(again) << again.error().message << "\n" << text;
    EXPECT_EQ(again->daemon.state_dir, s);
    EXPECT_EQ(again->daemon.runtime_dir, s + "2");
  }
}

TEST(TomlQuote, InvalidUtf8BecomesReplacementAndStillParses) {
  Config c;
  c.daemon.state_dir = "/var/lib/\xff\xfe";
  auto again = parse_config(format_config(c), "p.toml");
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_EQ(again->daemon.state_dir, "/var/lib/\xef\xbf\xbd\xef\xbf\xbd");
}

}  // namespace
}  // namespace stallwatch
