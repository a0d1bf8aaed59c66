// SPDX-License-Identifier: GPL-2.0-or-later
#include "stallwatch/escalation/reset_reason.h"

#include <linux/watchdog.h>
#include <sys/stat.h>

#include <filesystem>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "fakes.h"

namespace stallwatch::escalation {
namespace {

using testing::fixture;
using ::testing::HasSubstr;
using testing::TempDir;

constexpr const char* kOldBoot = "0c5a2f3e-8b44-4f5e-9a0e-1d2b3c4d5e6f";
constexpr const char* kThisBoot = "d41d8df6-62be-4b2c-b41d-831125d825bf";  // the fixture's

ResetReason spin_reason() {
  ResetReason r;
  r.time_realtime_ns = 1'795'290'000'000'000'000;  // 2026-11-21T...
  r.boot_id = kOldBoot;
  r.cpu = 1;
  r.stall_ns = 61'300'000'000;
  r.stall_class = "kernel-nonpreemptible";
  r.culprit_comm = "spin";
  r.culprit_pid = 412;
  r.action = "watchdog-device";
  r.episode = 3;
  return r;
}

TEST(ResetReasonText, KernelLikeDescription) {
  EXPECT_EQ(describe_reset_reason(spin_reason()),
            "CPU#1 stuck for 61s [spin:412] class=kernel-nonpreemptible, action=watchdog-device");
  ResetReason r = spin_reason();
  r.culprit_pid = 0;
  r.stall_ns = 2'440'000'000;
  EXPECT_EQ(describe_reset_reason(r),
            "CPU#1 stuck for 2.4s [unknown] class=kernel-nonpreemptible, action=watchdog-device");
}

TEST(ResetReasonText, StallSeconds) {
  EXPECT_EQ(format_stall_seconds(61'999'000'000), "61s");
  EXPECT_EQ(format_stall_seconds(10'000'000'000), "10s");
  EXPECT_EQ(format_stall_seconds(9'960'000'000), "10.0s");
  EXPECT_EQ(format_stall_seconds(2'440'000'000), "2.4s");
}

TEST(ResetReasonText, Utc) {
  EXPECT_EQ(format_utc(1'795'290'000'000'000'000), "2026-11-21T19:40:00Z");
}

TEST(ResetReasonJson, RoundTrip) {
  ResetReasonFile f;
  f.escalations_total = 4;
  f.consumed = false;
  f.last = spin_reason();
  f.reported_boot_id = kOldBoot;
  std::string text = encode_reset_reason_file(f);
  auto j = nlohmann::json::parse(text);
  EXPECT_EQ(j["version"], 1);
  EXPECT_EQ(j["last"]["culprit"]["comm"], "spin");
  EXPECT_EQ(j["last"]["time_utc"], "2026-11-21T19:40:00Z");
  auto back = decode_reset_reason_file(text);
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(back->escalations_total, 4u);
  EXPECT_FALSE(back->consumed);
  EXPECT_EQ(back->reported_boot_id, kOldBoot);
  ASSERT_TRUE(back->last.has_value());
  EXPECT_EQ(describe_reset_reason(*back->last), describe_reset_reason(spin_reason()));
  EXPECT_EQ(back->last->boot_id, kOldBoot);
  EXPECT_EQ(back->last->time_realtime_ns, spin_reason().time_realtime_ns);
  EXPECT_EQ(back->last->episode, 3u);
}

TEST(ResetReasonJson, RejectsGarbageAndOtherVersions) {
  EXPECT_FALSE(decode_reset_reason_file("").ok());
  EXPECT_FALSE(decode_reset_reason_file("{\"version\": 1").ok());
  EXPECT_FALSE(decode_reset_reason_file("[1]").ok());
  auto v2 = decode_reset_reason_file("{\"version\": 2}");
  ASSERT_FALSE(v2.ok());
  EXPECT_EQ(v2.error().message, "unsupported version 2 (expected 1)");
  EXPECT_FALSE(decode_reset_reason_file("{\"version\": 1, \"escalations_total\": \"x\"}").ok());
}

TEST(ResetReasonStore, RecordCreatesTheDirAndCounts) {
  TempDir tmp;
  ResetReasonStore store(tmp.path() + "/var/lib/stallwatch");
  auto empty = store.load();
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(empty->escalations_total, 0u);
  EXPECT_FALSE(empty->last.has_value());

  auto n = store.record(spin_reason());
  ASSERT_TRUE(n.ok()) << n.error().message;
  EXPECT_EQ(*n, 1u);
  ResetReason second = spin_reason();
  second.cpu = 0;
  n = store.record(second);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 2u);

  auto loaded = store.load();
  ASSERT_TRUE(loaded.ok());
  EXPECT_EQ(loaded->escalations_total, 2u);
  EXPECT_FALSE(loaded->consumed);
  EXPECT_EQ(loaded->last->cpu, 0);
  // Atomic replace: no temp file left behind, readable mode.
  std::vector<std::string> names;
  for (const auto& e : std::filesystem::directory_iterator(tmp.path() + "/var/lib/stallwatch"))
    names.push_back(e.path().filename());
  EXPECT_EQ(names, std::vector<std::string>{"reset-reason.json"});
  struct stat st {};
  ASSERT_EQ(::stat(store.path().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0644u);
}

TEST(ResetReasonStore, CorruptFileIsReplaced) {
  TempDir tmp;
  tmp.write("reset-reason.json", "{not json");
  ResetReasonStore store(tmp.path());
  EXPECT_FALSE(store.load().ok());
  auto n = store.record(spin_reason());
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 1u);
  EXPECT_TRUE(store.load().ok());
}

TEST(ResetReasonStore, UnwritableStateDirIsAnError) {
  TempDir tmp;
  tmp.write("file", "x");
  ResetReasonStore store(tmp.path() + "/file/state");
  auto n = store.record(spin_reason());
  ASSERT_FALSE(n.ok());
  EXPECT_THAT(n.error().message, HasSubstr("cannot create"));
}

TEST(BootId, ReadFromProc) {
  auto id = read_boot_id(Sysroot(fixture("qemu-6.1-watchdogs")));
  ASSERT_TRUE(id.ok());
  EXPECT_EQ(*id, kThisBoot);
  EXPECT_FALSE(read_boot_id(Sysroot(fixture("nonexistent"))).ok());
}

ResetReasonFile unconsumed(const ResetReason& r, std::uint64_t total = 1) {
  ResetReasonFile f;
  f.escalations_total = total;
  f.consumed = false;
  f.last = r;
  return f;
}

TEST(PreviousBoot, EscalationEndedThePreviousBoot) {
  auto rep = decide_previous_boot_report(unconsumed(spin_reason(), 2), kThisBoot,
                                         std::uint32_t{WDIOF_CARDRESET}, "/dev/watchdog0");
  EXPECT_TRUE(rep.report);
  EXPECT_TRUE(rep.mark_consumed);
  EXPECT_EQ(rep.cause, "stallwatch-escalation");
  EXPECT_EQ(rep.priority, 4);
  EXPECT_EQ(rep.message,
            "previous boot ended by stallwatch escalation: CPU#1 stuck for 61s [spin:412] "
            "class=kernel-nonpreemptible, action=watchdog-device\n"
            "escalated at 2026-11-21T19:40:00Z (boot 0c5a2f3e-8b44-4f5e-9a0e-1d2b3c4d5e6f, 2 "
            "escalation(s) so far); watchdog /dev/watchdog0 bootstatus 0x20 (card-reset)");
}

TEST(PreviousBoot, WithoutADeviceThereIsNoBootstatusNote) {
  auto rep = decide_previous_boot_report(unconsumed(spin_reason()), kThisBoot, std::nullopt, "");
  EXPECT_TRUE(rep.report);
  EXPECT_THAT(rep.message, ::testing::Not(HasSubstr("bootstatus")));
}

TEST(PreviousBoot, ConsumedIsNotReportedAgain) {
  ResetReasonFile f = unconsumed(spin_reason());
  f.consumed = true;
  auto rep = decide_previous_boot_report(f, kThisBoot, std::uint32_t{0}, "/dev/watchdog0");
  EXPECT_FALSE(rep.report);
  EXPECT_FALSE(rep.mark_consumed);
}

TEST(PreviousBoot, EscalationInThisBootIsConsumedAsSurvived) {
  ResetReason r = spin_reason();
  r.boot_id = kThisBoot;
  auto rep = decide_previous_boot_report(unconsumed(r), kThisBoot, std::nullopt, "");
  EXPECT_TRUE(rep.report);
  EXPECT_TRUE(rep.mark_consumed);
  EXPECT_EQ(rep.cause, "escalation-this-boot");
  EXPECT_EQ(rep.priority, 5);
  EXPECT_THAT(rep.message, ::testing::StartsWith("an escalation earlier in this boot did not end "
                                                 "it (stallwatchd was restarted): CPU#1"));
}

TEST(PreviousBoot, WatchdogResetWithoutEscalation) {
  ResetReasonFile none;
  auto rep = decide_previous_boot_report(none, kThisBoot, std::uint32_t{WDIOF_CARDRESET},
                                         "/dev/watchdog0");
  EXPECT_TRUE(rep.report);
  EXPECT_EQ(rep.cause, "watchdog-reset");
  EXPECT_FALSE(rep.reason.has_value());
  EXPECT_THAT(rep.message, HasSubstr("previous boot ended by a hardware watchdog reset without a "
                                     "stallwatch escalation"));
  EXPECT_THAT(rep.message, HasSubstr("bootstatus 0x20 (card-reset)"));
  // Once reported for this boot (daemon restarts), never again.
  none.reported_boot_id = kThisBoot;
  EXPECT_FALSE(
      decide_previous_boot_report(none, kThisBoot, std::uint32_t{WDIOF_CARDRESET}, "/dev/watchdog0")
          .report);
}

TEST(PreviousBoot, NothingToSay) {
  EXPECT_FALSE(
      decide_previous_boot_report(ResetReasonFile{}, kThisBoot, std::uint32_t{0}, "/dev/watchdog0")
          .report);
  EXPECT_FALSE(decide_previous_boot_report(ResetReasonFile{}, kThisBoot, std::nullopt, "").report);
}

}  // namespace
}  // namespace stallwatch::escalation
