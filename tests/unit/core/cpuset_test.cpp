// SPDX-License-Identifier: GPL-2.0-or-later
#include "stallwatch/core/cpuset.h"

#include <gtest/gtest.h>

namespace stallwatch {
namespace {

TEST(Cpulist, ParsesRangesSinglesAndStrides) {
  EXPECT_EQ(*parse_cpulist("0-3,8"), (CpuList{0, 1, 2, 3, 8}));
  EXPECT_EQ(*parse_cpulist("5\n"), (CpuList{5}));
  EXPECT_EQ(*parse_cpulist("0-7:2"), (CpuList{0, 2, 4, 6}));
  EXPECT_EQ(*parse_cpulist("3,1,1-2"), (CpuList{1, 2, 3}));
}

TEST(Cpulist, EmptyAndNullAreEmpty) {
  EXPECT_TRUE(parse_cpulist("")->empty());
  EXPECT_TRUE(parse_cpulist("\n")->empty());
  EXPECT_TRUE(parse_cpulist("(null)\n")->empty());
}

TEST(Cpulist, RejectsMalformed) {
  EXPECT_EQ(parse_cpulist("3-1").error().message,
            "invalid cpulist \"3-1\": range \"3-1\" is reversed");
  EXPECT_EQ(parse_cpulist("a").error().message, "invalid cpulist \"a\": bad CPU \"a\"");
  EXPECT_EQ(parse_cpulist("1-").error().message, "invalid cpulist \"1-\": bad range \"1-\"");
  EXPECT_EQ(parse_cpulist("0,,1").error().message, "invalid cpulist \"0,,1\": bad CPU \"\"");
  EXPECT_FALSE(parse_cpulist("0-7:0"));
  EXPECT_FALSE(parse_cpulist("99999"));
}

TEST(Cpulist, FormatsCompactly) {
  EXPECT_EQ(format_cpulist({0, 1, 2, 3, 8, 10, 11}), "0-3,8,10-11");
  EXPECT_EQ(format_cpulist({}), "");
}

TEST(Topology, ReadsFixtureTreeAndExcludesIsolated) {
  Sysroot root(std::string(STALLWATCH_FIXTURES) + "/core/isolated-8cpu");
  auto topo = read_cpu_topology(root);
  ASSERT_TRUE(topo) << topo.error().message;
  EXPECT_EQ(topo->possible, (CpuList{0, 1, 2, 3, 4, 5, 6, 7}));
  EXPECT_EQ(topo->online, (CpuList{0, 1, 2, 3, 4, 5, 7}));
  EXPECT_EQ(topo->isolated, (CpuList{6, 7}));
  EXPECT_EQ(topo->nohz_full, (CpuList{5, 6, 7}));
  EXPECT_EQ(*select_monitored_cpus("all", false, *topo), (CpuList{0, 1, 2, 3, 4}));
  EXPECT_EQ(*select_monitored_cpus("all", true, *topo), (CpuList{0, 1, 2, 3, 4, 5, 6, 7}));
  EXPECT_EQ(*select_monitored_cpus("2-6", false, *topo), (CpuList{2, 3, 4}));
  EXPECT_EQ(select_monitored_cpus("9", false, *topo).error().message,
            "heartbeat.cpus names CPUs this machine does not have: 9 (possible: 0-7)");
  EXPECT_EQ(select_monitored_cpus("6-7", false, *topo).error().message,
            "no CPU left to monitor (heartbeat.cpus = \"6-7\", isolated: 6-7, nohz_full: 5-7)");
}

TEST(Topology, RealCapturedTwoCpuMachine) {
  Sysroot root(std::string(STALLWATCH_FIXTURES) + "/core/host-2cpu");
  auto topo = read_cpu_topology(root);
  ASSERT_TRUE(topo) << topo.error().message;
  EXPECT_EQ(topo->possible, (CpuList{0, 1}));
  EXPECT_TRUE(topo->isolated.empty());
  EXPECT_TRUE(topo->nohz_full.empty());
}

}  // namespace
}  // namespace stallwatch
