// SPDX-License-Identifier: GPL-2.0-or-later
// Report files (issue 10 item 7): names unique across daemon runs, temp files never written
// through a planted link, and the state/runtime directory trust check.
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "fixture_util.h"
#include "stallwatch/core/fs_util.h"
#include "stallwatch/core/sysroot.h"
#include "stallwatch/evidence/report_json.h"
#include "stallwatch/evidence/report_store.h"

namespace stallwatch::evidence {
namespace {

using testing::TempDir;

std::vector<std::string> list(const std::string& dir) {
  auto r = Sysroot().list_dir(dir);
  std::vector<std::string> v = r.ok() ? *r : std::vector<std::string>{};
  std::sort(v.begin(), v.end());
  return v;
}

std::string slurp(const std::string& path) { return *read_file_capped(path, 1 << 16); }

TEST(ReportNames, TwoRunsInTheSameSecondDoNotOverwriteEachOther) {
  TempDir tmp;
  // Run 1 and run 2 compute the same name (same second, same episode, same CPU).
  ReportStore run1(tmp.path(), 10, 1 << 20);
  ReportStore run2(tmp.path(), 10, 1 << 20);
  auto a = run1.write("stall-20261130T164500Z-ep000001-cpu1.json", "run1\n", 0);
  auto b = run2.write("stall-20261130T164500Z-ep000001-cpu1.json", "run2\n", 0);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(*a, tmp.path() + "/stall-20261130T164500Z-ep000001-cpu1.json");
  EXPECT_EQ(*b, tmp.path() + "/stall-20261130T164500Z-ep000001-cpu1-1.json");
  EXPECT_EQ(slurp(*a), "run1\n");
  EXPECT_EQ(slurp(*b), "run2\n");
  // Each run's later updates of its episode replace its own file, not the other's.
  ASSERT_EQ(*run2.write("stall-20261130T164500Z-ep000001-cpu1.json", "run2 recovered\n", 0), *b);
  ASSERT_EQ(*run1.write("stall-20261130T164500Z-ep000001-cpu1.json", "run1 recovered\n", 0), *a);
  EXPECT_EQ(slurp(*a), "run1 recovered\n");
  EXPECT_EQ(slurp(*b), "run2 recovered\n");
  EXPECT_EQ(list(tmp.path()).size(), 2u);
  ReportStore run3(tmp.path(), 10, 1 << 20);
  EXPECT_EQ(*run3.write("stall-20261130T164500Z-ep000001-cpu1.json", "run3\n", 0),
            tmp.path() + "/stall-20261130T164500Z-ep000001-cpu1-2.json");
}

TEST(ReportNames, APlantedSymlinkAtTheTempNameIsNotWrittenThrough) {
  TempDir tmp;
  const std::string victim = tmp.path() + "/victim";
  std::ofstream(victim) << "precious";
  ASSERT_EQ(::symlink(victim.c_str(), (tmp.path() + "/.stall-s-1.json.tmp").c_str()), 0);
  ReportStore store(tmp.path(), 10, 1 << 20);
  auto p = store.write("stall-s-1.json", "{}", 0);
  ASSERT_TRUE(p.ok()) << p.error().message;
  EXPECT_EQ(slurp(victim), "precious");
  EXPECT_EQ(slurp(*p), "{}");
  struct stat st {};
  ASSERT_EQ(::lstat(p->c_str(), &st), 0);
  EXPECT_TRUE(S_ISREG(st.st_mode));
}

TEST(ReportNames, APlantedFileAtTheFinalNameIsNotReplaced) {
  TempDir tmp;
  ASSERT_EQ(::symlink("/etc/passwd", (tmp.path() + "/stall-p-1.json").c_str()), 0);
  ReportStore store(tmp.path(), 10, 1 << 20);
  auto p = store.write("stall-p-1.json", "{}", 0);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(*p, tmp.path() + "/stall-p-1-1.json");
}

TEST(ReportNames, PruningForgetsTheClaimedName) {
  TempDir tmp;
  ReportStore store(tmp.path(), 1, 1 << 20);
  ASSERT_TRUE(store.write("stall-q-1.json", "1", 0).ok());
  ASSERT_TRUE(store.write("stall-q-2.json", "2", 0).ok());  // prunes q-1
  EXPECT_EQ(list(tmp.path()), (std::vector<std::string>{"stall-q-2.json"}));
  ASSERT_EQ(*store.write("stall-q-1.json", "again", 0), tmp.path() + "/stall-q-1.json");
}

std::string dir_check(const std::string& path, uid_t euid) {
  Status s = check_private_dir("daemon.state_dir", path, euid);
  return s.ok() ? "<ok>" : s.error().message;
}

TEST(PrivateDir, OwnedAndNotGroupOrOtherWritable) {
  TempDir tmp;
  const uid_t me = ::geteuid();
  const std::string d = tmp.path() + "/state";
  EXPECT_EQ(dir_check(d, me), "<ok>");  // missing: created later
  ASSERT_EQ(::mkdir(d.c_str(), 0755), 0);
  ASSERT_EQ(::chmod(d.c_str(), 0755), 0);
  EXPECT_EQ(dir_check(d, me), "<ok>");
  ASSERT_EQ(::chmod(d.c_str(), 0775), 0);
  EXPECT_EQ(dir_check(d, me),
            "daemon.state_dir: " + d +
                " is writable by group or others (mode 0775); another "
                "user could plant or replace the files stallwatchd trusts there: run `chmod go-w " +
                d + "`");
  ASSERT_EQ(::chmod(d.c_str(), 01777), 0);
  EXPECT_EQ(dir_check(d, me),
            "daemon.state_dir: " + d +
                " is writable by group or others (mode 1777); another "
                "user could plant or replace the files stallwatchd trusts there: run `chmod go-w " +
                d + "`");
  ASSERT_EQ(::chmod(d.c_str(), 0700), 0);
  const uid_t other = me == 0 ? 1000 : 0;
  EXPECT_EQ(dir_check(d, other),
            "daemon.state_dir: " + d + " is owned by uid " + std::to_string(me) + ", not " +
                (other == 0 ? std::string("root") : std::string("stallwatchd's user")) + " (uid " +
                std::to_string(other) +
                "); another user could plant the files "
                "stallwatchd trusts there: run `chown " +
                std::to_string(other) + " " + d + "`");
  std::ofstream(tmp.path() + "/file") << "x";
  EXPECT_EQ(dir_check(tmp.path() + "/file", me),
            "daemon.state_dir: " + tmp.path() + "/file is not a directory");
}

TEST(ReportJsonDrill, DrillIsMarkedOnlyWhenSet) {
  StallReport r;
  r.event.kind = EventKind::kStall;
  r.event.cpu = 1;
  auto plain = nlohmann::json::parse(report_to_json(r, "2026-11-30T17:00:00Z"));
  EXPECT_FALSE(plain.contains("drill"));
  r.drill = true;
  auto drill = nlohmann::json::parse(report_to_json(r, "2026-11-30T17:00:00Z"));
  EXPECT_EQ(drill["drill"], true);
}

}  // namespace
}  // namespace stallwatch::evidence
