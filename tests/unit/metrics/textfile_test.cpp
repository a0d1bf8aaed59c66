// SPDX-License-Identifier: GPL-2.0-or-later
// The textfile: where it goes ("auto", off, explicit). How it is replaced: atomic_file_test.cpp.
#include "stallwatch/metrics/textfile.h"

#include <gtest/gtest.h>

namespace stallwatch::metrics {
namespace {

TEST(Textfile, ResolvesAutoOffAndExplicitPaths) {
  const std::string a = "/var/lib/prometheus/node-exporter/stallwatch.prom";
  EXPECT_EQ(resolve_textfile("auto", a, true), a);
  EXPECT_EQ(resolve_textfile("auto", a, false), "");
  EXPECT_EQ(resolve_textfile("", a, true), "");
  EXPECT_EQ(resolve_textfile("/srv/t/x.prom", a, false), "/srv/t/x.prom");
  EXPECT_EQ(parent_dir(a), "/var/lib/prometheus/node-exporter");
  EXPECT_EQ(parent_dir("/x.prom"), "/");
}

}  // namespace
}  // namespace stallwatch::metrics
