// SPDX-License-Identifier: GPL-2.0-or-later
// Operational log lines that quote untrusted text (a task name, a path) are escaped too.
#include "stallwatch/daemon/logging.h"

#include <gtest/gtest.h>

#include <spdlog/spdlog.h>

#include <string>

namespace stallwatch::daemon {
namespace {

TEST(Logging, ControlBytesInAMessageAreEscaped) {
  setup_logging(false);
  testing::internal::CaptureStderr();
  spdlog::warn("cannot read {}", std::string("/proc/1/\x1b[31mEVIL\nX=1\xff"));
  flush_logging(std::chrono::milliseconds(2000));  // the logger is asynchronous
  std::string out = testing::internal::GetCapturedStderr();
  EXPECT_NE(out.find(R"(cannot read /proc/1/\x1b[31mEVIL\x0aX=1\xff)"), std::string::npos) << out;
  ASSERT_FALSE(out.empty());
  EXPECT_EQ(out.find('\n'), out.size() - 1) << "one line: " << out;
  EXPECT_EQ(out.find('\x1b'), std::string::npos) << out;
}

}  // namespace
}  // namespace stallwatch::daemon
