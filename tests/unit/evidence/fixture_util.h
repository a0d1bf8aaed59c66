// Test helpers: read files under tests/fixtures/evidence.
#pragma once

#include <gtest/gtest.h>

#include <string>

#include "stallwatch/sysroot.h"

namespace stallwatch::evidence::testing {

inline std::string fixture_path(const std::string& rel) {
  return std::string(STALLWATCH_FIXTURES) + "/evidence/" + rel;
}

inline std::string fixture(const std::string& rel) {
  auto text = read_file_capped(fixture_path(rel), 8 << 20);
  EXPECT_TRUE(text.ok()) << rel << ": " << (text.ok() ? "" : text.error().message);
  return text.ok() ? *text : std::string();
}

}  // namespace stallwatch::evidence::testing
