// SPDX-License-Identifier: GPL-2.0-or-later
#include "stallwatch/daemon/huge_text.h"

#include <gtest/gtest.h>

namespace stallwatch::daemon {
namespace {

constexpr std::uintptr_t kMiB = 1 << 20;
constexpr std::size_t kPage = 4096;

// stallwatchd as built (src/CMakeLists.txt, 2026-12-04): 1.65 MiB of code at 2 MiB, read-only
// data at 4 MiB. The whole 2 MiB moves; the 0.35 MiB after the code is the int3 fill.
TEST(HugeText, MovesTheAlignedCodeAndTheGapUpToTheNextSegment) {
  const std::uintptr_t base = 0x5626'4720'0000;
  auto planned =
      plan_huge_text(base + 2 * kMiB, base + 2 * kMiB + 0x1a5439, base + 4 * kMiB, kPage);
  ASSERT_TRUE(std::holds_alternative<HugeTextPlan>(planned));
  const auto plan = std::get<HugeTextPlan>(planned);
  EXPECT_EQ(plan.start, base + 2 * kMiB);
  EXPECT_EQ(plan.length, 2 * kMiB);
  EXPECT_EQ(plan.copy, 0x1a6000U);  // the code's last page whole
}

// The next segment within the last 2 MiB: only the whole 2 MiB inside the code move; the rest
// stays in the file mapping.
TEST(HugeText, LeavesTheTailWhenTheNextSegmentIsInTheWay) {
  auto planned = plan_huge_text(2 * kMiB, 2 * kMiB + 3 * kMiB + 0x123, 5 * kMiB + 0x4000, kPage);
  ASSERT_TRUE(std::holds_alternative<HugeTextPlan>(planned));
  const auto plan = std::get<HugeTextPlan>(planned);
  EXPECT_EQ(plan.start, 2 * kMiB);
  EXPECT_EQ(plan.length, 2 * kMiB);
  EXPECT_EQ(plan.copy, 2 * kMiB);
}

// A next segment that starts in the same page as the code ends (a layout without separate code)
// counts from its page: the gap up to it is not free.
TEST(HugeText, ANextSegmentSharingTheLastPageBlocksTheGap) {
  auto planned = plan_huge_text(2 * kMiB, 3 * kMiB + 0x800, 3 * kMiB + 0x900, kPage);
  ASSERT_TRUE(std::holds_alternative<std::string>(planned));
}

// A sanitizer build (4 KiB alignment): the code starts off a 2 MiB boundary and holds no whole
// aligned 2 MiB; nothing moves and the reason names the build flag.
TEST(HugeText, UnalignedCodeMovesNothingAndSaysWhy) {
  auto planned = plan_huge_text(0x1c000, 0x1c000 + 0x1a3389, 0x1c0000, kPage);
  ASSERT_TRUE(std::holds_alternative<std::string>(planned));
  EXPECT_NE(std::get<std::string>(planned).find("max-page-size"), std::string::npos);
}

TEST(HugeText, UnalignedButLargeCodeMovesItsAlignedMiddle) {
  auto planned = plan_huge_text(0x1c000, 5 * kMiB + 0x10, 6 * kMiB, kPage);
  ASSERT_TRUE(std::holds_alternative<HugeTextPlan>(planned));
  const auto plan = std::get<HugeTextPlan>(planned);
  EXPECT_EQ(plan.start, 2 * kMiB);
  EXPECT_EQ(plan.length, 4 * kMiB);
  EXPECT_EQ(plan.copy, 3 * kMiB + kPage);
}

TEST(HugeText, NoCodeSegment) {
  auto planned = plan_huge_text(0, 0, ~std::uintptr_t{0}, kPage);
  ASSERT_TRUE(std::holds_alternative<std::string>(planned));
}

}  // namespace
}  // namespace stallwatch::daemon
