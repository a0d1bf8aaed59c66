// SPDX-License-Identifier: GPL-2.0-or-later
#include "stallwatch/core/text.h"

#include <gtest/gtest.h>

namespace stallwatch {
namespace {

TEST(Trim, DropsWhiteSpaceAtBothEndsOnly) {
  EXPECT_EQ(trim("  0-3,5\n"), "0-3,5");
  EXPECT_EQ(trim("\t key = value \r\n"), "key = value");
  EXPECT_EQ(trim("a b"), "a b");
  EXPECT_EQ(trim("\v\fx\f\v"), "x");
}

TEST(Trim, EmptyAndAllSpace) {
  EXPECT_EQ(trim(""), "");
  EXPECT_EQ(trim(" \t\r\n"), "");
}

TEST(Trim, IsAViewOfItsArgument) {
  const std::string_view text = "  watchdog\n";
  const std::string_view t = trim(text);
  EXPECT_EQ(t.data(), text.data() + 2);
  static_assert(trim(" x ") == "x");
}

}  // namespace
}  // namespace stallwatch
