// SPDX-License-Identifier: GPL-2.0-or-later
#include "stallwatch/core/journal_writer.h"

#include <cstdio>

#include <gtest/gtest.h>

namespace stallwatch {
namespace {

const std::vector<std::string> kFields = {
    "MESSAGE=CPU#1 stuck for 61s! [spin:412] escalating: action=systemd, class=rt-hog\n"
    "send WATCHDOG=trigger to systemd",
    "MESSAGE_ID=87cf2ea35fc844aeb8c72139d29e0993",
    "PRIORITY=1",
    "STALLWATCH_EVENT=escalation",
    "STALLWATCH_CPU=1",
};

TEST(JournalWriter, StderrLineIsOneLine) {
  EXPECT_EQ(journal_fields_to_line(kFields),
            "stallwatch: CPU#1 stuck for 61s! [spin:412] escalating: action=systemd, "
            "class=rt-hog | priority=1 event=escalation cpu=1 note=send WATCHDOG=trigger to "
            "systemd");
}

TEST(JournalWriter, StderrModeWritesTheLine) {
  std::FILE* f = std::tmpfile();
  ASSERT_NE(f, nullptr);
  make_journal_writer(EventOutput::kStderr, f)->send(kFields);
  std::rewind(f);
  char buf[512] = {};
  ASSERT_NE(std::fgets(buf, sizeof buf, f), nullptr);
  EXPECT_EQ(std::string(buf), journal_fields_to_line(kFields) + "\n");
  std::fclose(f);
}

}  // namespace
}  // namespace stallwatch
