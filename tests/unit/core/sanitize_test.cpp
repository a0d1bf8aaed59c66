// SPDX-License-Identifier: GPL-2.0-or-later
#include "stallwatch/core/sanitize.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace stallwatch {
namespace {

using namespace std::string_literals;

bool has_control_byte(const std::string& s) {
  for (char ch : s) {
    auto c = static_cast<unsigned char>(ch);
    if (c < 0x20 || c == 0x7f) return true;
  }
  return false;
}

TEST(Sanitize, NotUtf8TerminalTitleName) {
  std::string raw = "\xff\xfe\x1b]0;pwn\a"s;
  std::string s = sanitize_text(raw);
  EXPECT_EQ(s, R"(\xff\xfe\x1b]0;pwn\x07)");
  EXPECT_EQ(unescape_text(s), raw);
  EXPECT_TRUE(is_clean_text(s));
}

TEST(Sanitize, ColourAndForgedLine) {
  std::string raw = "\x1b[31mEVIL\nX=1"s;
  std::string s = sanitize_text(raw);
  EXPECT_EQ(s, R"(\x1b[31mEVIL\x0aX=1)");
  EXPECT_FALSE(has_control_byte(s));
  EXPECT_EQ(unescape_text(s), raw);
  // Multi-line kernel text may keep its newlines; other controls are still escaped.
  EXPECT_EQ(sanitize_text(raw, Newlines::kKeep), "\\x1b[31mEVIL\nX=1");
  EXPECT_EQ(unescape_text(sanitize_text(raw, Newlines::kKeep)), raw);
}

TEST(Sanitize, EmptyAnd15ByteNamesUnchanged) {
  EXPECT_EQ(sanitize_text(""), "");
  EXPECT_EQ(unescape_text(""), "");
  std::string fifteen = "abcdefghijklmno";
  ASSERT_EQ(fifteen.size(), 15u);
  EXPECT_EQ(sanitize_text(fifteen), fifteen);
  EXPECT_EQ(sanitize_text("kworker/1:1H-kblockd"), "kworker/1:1H-kblockd");
}

TEST(Sanitize, BackslashIsEscapedSoTheFormIsReversible) {
  // A name that looks like an escape must not decode to a control byte.
  std::string raw = R"(a\x1bb\)";
  std::string s = sanitize_text(raw);
  EXPECT_EQ(s, R"(a\\x1bb\\)");
  EXPECT_EQ(unescape_text(s), raw);
}

TEST(Sanitize, Utf8KeptC1AndInvalidEscaped) {
  EXPECT_EQ(sanitize_text("caf\xc3\xa9 \xe2\x9c\x93 \xf0\x9f\x92\xa5"),
            "caf\xc3\xa9 \xe2\x9c\x93 \xf0\x9f\x92\xa5");
  // U+009B (CSI as a C1 control) and U+0085 (NEL).
  EXPECT_EQ(sanitize_text("a\xc2\x9b"
                          "31mb\xc2\x85"),
            R"(a\xc2\x9b31mb\xc2\x85)");
  EXPECT_EQ(sanitize_text("\xc0\xaf"), R"(\xc0\xaf)");                  // overlong '/'
  EXPECT_EQ(sanitize_text("\xed\xa0\x80"), R"(\xed\xa0\x80)");          // surrogate
  EXPECT_EQ(sanitize_text("\xe2\x9c"), R"(\xe2\x9c)");                  // truncated
  EXPECT_EQ(sanitize_text("\xf4\x90\x80\x80"), R"(\xf4\x90\x80\x80)");  // > U+10FFFF
  EXPECT_EQ(sanitize_text("x\x7fy\t"), R"(x\x7fy\x09)");
  EXPECT_EQ(sanitize_text("nul\0in"s), R"(nul\x00in)");
}

TEST(Sanitize, RoundTripsEveryByte) {
  std::string all;
  for (int i = 0; i < 256; ++i) all.push_back(static_cast<char>(i));
  all += all;  // and every byte after every other context once more
  std::string s = sanitize_text(all);
  EXPECT_FALSE(has_control_byte(s));
  EXPECT_TRUE(is_clean_text(s));
  EXPECT_EQ(unescape_text(s), all);
}

TEST(EscapeControls, LeavesSanitizedTextAlone) {
  std::string s = sanitize_text("\xff\xfe\x1b]0;pwn\a"s);
  EXPECT_EQ(escape_controls(s), s);
  EXPECT_EQ(escape_controls("C:\\path"), "C:\\path");
  EXPECT_EQ(escape_controls("\x1b[31mEVIL\nX=1"), R"(\x1b[31mEVIL\x0aX=1)");
  EXPECT_EQ(escape_controls("line1\nline2\r", Newlines::kKeep), "line1\nline2\\x0d");
  EXPECT_FALSE(is_clean_text("a\nb"));
  EXPECT_TRUE(is_clean_text("a\nb", Newlines::kKeep));
}

TEST(Sanitize, HostileNameFixtures) {
  // tests/fixtures/core/hostile_names: each file holds one name's exact bytes.
  int n = 0;
  for (const auto& entry : std::filesystem::directory_iterator(std::string(STALLWATCH_FIXTURES) +
                                                               "/core/hostile_names")) {
    if (entry.path().extension() == ".md") continue;
    std::ifstream in(entry.path(), std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    std::string raw = ss.str();
    EXPECT_LE(raw.size(), 15u) << entry.path();  // a comm holds at most 15 bytes
    std::string s = sanitize_text(raw);
    EXPECT_FALSE(has_control_byte(s)) << entry.path();
    EXPECT_TRUE(is_clean_text(s)) << entry.path();
    EXPECT_EQ(unescape_text(s), raw) << entry.path();
    ++n;
  }
  EXPECT_EQ(n, 6);
}

TEST(HexBytes, LowerCase) { EXPECT_EQ(hex_bytes("\xff\xfe\x1b]"s), "fffe1b5d"); }

}  // namespace
}  // namespace stallwatch
