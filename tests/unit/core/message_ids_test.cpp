// SPDX-License-Identifier: GPL-2.0-or-later
// The one MESSAGE_ID list (stallwatch/message_ids.h) and the journald catalog name the same IDs.
#include "stallwatch/core/message_ids.h"

#include <gtest/gtest.h>

#include <fstream>
#include <set>
#include <sstream>
#include <string>

namespace stallwatch {
namespace {

std::set<std::string> catalog_ids() {
  std::ifstream in(std::string(STALLWATCH_FIXTURES) + "/../../systemd/stallwatch.catalog");
  EXPECT_TRUE(in.good()) << "systemd/stallwatch.catalog not found";
  std::set<std::string> ids;
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("-- ", 0) == 0) ids.insert(line.substr(3, 32));
  return ids;
}

TEST(MessageIds, EveryIdHasACatalogEntryAndViceVersa) {
  std::set<std::string> header;
  for (const char* id : message_id::kAll) {
    std::string s(id);
    EXPECT_EQ(s.size(), 32u) << s;
    EXPECT_EQ(s.find_first_not_of("0123456789abcdef"), std::string::npos) << s;
    EXPECT_TRUE(header.insert(s).second) << "duplicate " << s;
  }
  std::set<std::string> catalog = catalog_ids();
  for (const auto& id : header) EXPECT_TRUE(catalog.count(id)) << id << " has no catalog entry";
  for (const auto& id : catalog)
    EXPECT_TRUE(header.count(id)) << id << " is in the catalog but not in message_ids.h";
  EXPECT_EQ(header.size(), 10u);
}

}  // namespace
}  // namespace stallwatch
