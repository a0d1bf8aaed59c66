// SPDX-License-Identifier: GPL-2.0-or-later
// Test helpers: read files under tests/fixtures/evidence.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>

#include <cstdlib>
#include <string>

#include "stallwatch/core/sysroot.h"
#include "temp_dir.h"

namespace stallwatch::evidence::testing {

using test_support::TempDir;

inline std::string fixture_path(const std::string& rel) {
  return std::string(STALLWATCH_FIXTURES) + "/evidence/" + rel;
}

inline std::string fixture(const std::string& rel) {
  auto text = read_file_capped(fixture_path(rel), 8 << 20);
  EXPECT_TRUE(text.ok()) << rel << ": " << (text.ok() ? "" : text.error().message);
  return text.ok() ? *text : std::string();
}

}  // namespace stallwatch::evidence::testing

#include <vector>

#include "stallwatch/evidence/kmsg_parse.h"

namespace stallwatch::evidence::testing {

// The message texts of a captured kmsg file (one record per line, continuation lines attached).
inline std::vector<std::string> kmsg_texts(const std::string& rel) {
  std::vector<std::string> out;
  std::string data = fixture(rel);
  for (auto rec : split_kmsg_records(data)) {
    auto r = parse_kmsg_record(rec);
    EXPECT_TRUE(r.ok()) << rel << ": " << rec;
    if (r.ok()) out.emplace_back(r->text);
  }
  return out;
}

}  // namespace stallwatch::evidence::testing
