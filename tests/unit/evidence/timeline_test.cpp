// SPDX-License-Identifier: GPL-2.0-or-later
// The flight recorder's decoding and timeline, from real captured ring-buffer pages
// (tests/fixtures/evidence/timeline/host-rt-hog: capture.py) and from hand-built event lists.
#include <gtest/gtest.h>

#include <cstring>

#include <nlohmann/json.hpp>

#include "fixture_util.h"
#include "stallwatch/evidence/classify.h"
#include "stallwatch/evidence/timeline.h"
#include "stallwatch/evidence/trace_decode.h"

namespace stallwatch::evidence {
namespace {

using testing::fixture;
using json = nlohmann::json;

std::map<std::string, std::string> fixture_formats(const std::string& dir) {
  std::map<std::string, std::string> f;
  for (const char* ev : kTraceEvents)
    f[ev] = fixture("timeline/" + dir + "/formats/" + ev + "/format");
  return f;
}

std::vector<TraceEvent> decode_pages(TraceDecoder& dec, const std::string& raw, bool* lost) {
  std::vector<TraceEvent> out;
  for (std::size_t off = 0; off + 4096 <= raw.size(); off += 4096) {
    auto r = dec.decode(std::string_view(raw).substr(off, 4096), &out);
    EXPECT_FALSE(r.malformed) << "page at " << off;
    if (r.missed && off > 0 && lost != nullptr) *lost = true;
  }
  return out;
}

TraceEvent sw(std::int64_t ts, const char* prev, int prev_pid, const char* next, int next_pid,
              int next_prio = 120) {
  TraceEvent e;
  e.ts = ts;
  e.kind = TraceKind::kSwitch;
  std::strncpy(e.prev_name, prev, 15);
  e.prev_pid = prev_pid;
  e.prev_prio = 120;
  std::strncpy(e.name, next, 15);
  e.num = next_pid;
  e.prio = next_prio;
  return e;
}

TraceEvent irq(std::int64_t ts, TraceKind kind, int num, const char* name = "") {
  TraceEvent e;
  e.ts = ts;
  e.kind = kind;
  e.num = num;
  std::strncpy(e.name, name, sizeof e.name - 1);
  return e;
}

constexpr std::int64_t kS = 1'000'000'000;

TEST(TraceFormat, ParsesFieldsAndDataLoc) {
  auto f = parse_trace_format(fixture("timeline/host-rt-hog/formats/irq/irq_handler_entry/format"));
  ASSERT_TRUE(f.ok()) << f.error().message;
  EXPECT_EQ(f->name, "irq_handler_entry");
  EXPECT_GT(f->id, 0);
  ASSERT_TRUE(f->fields.count("name"));
  EXPECT_TRUE(f->fields.at("name").data_loc);
  EXPECT_EQ(f->fields.at("irq").size, 4);
  EXPECT_TRUE(f->fields.at("irq").is_signed);
  auto sw = parse_trace_format(fixture("timeline/host-rt-hog/formats/sched/sched_switch/format"));
  ASSERT_TRUE(sw.ok());
  EXPECT_EQ(sw->fields.at("prev_comm").size, 16);
  EXPECT_FALSE(sw->fields.at("prev_comm").data_loc);
}

TEST(TraceFormat, ErrorsNameTheEventAndField) {
  EXPECT_FALSE(parse_trace_format("name: x\nformat:\n").ok());
  auto formats = fixture_formats("host-rt-hog");
  formats["irq/softirq_exit"] = "name: softirq_exit\nID: 9\nformat:\n\tfield:int nope;\toffset:8;"
                                "\tsize:4;\tsigned:1;\n";
  auto s = make_trace_schema(formats);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message.find("softirq_exit"), std::string::npos) << s.error().message;
  EXPECT_NE(s.error().message.find("vec"), std::string::npos) << s.error().message;
  formats.erase("sched/sched_switch");
  EXPECT_FALSE(make_trace_schema(formats).ok());
}

TEST(TraceDecode, CapturedPagesOfARealRtHog) {
  auto schema = make_trace_schema(fixture_formats("host-rt-hog"));
  ASSERT_TRUE(schema.ok()) << schema.error().message;
  json meta = json::parse(fixture("timeline/host-rt-hog/meta.json"));
  TraceDecoder dec(*schema);
  bool lost = false;
  auto cpu1 = decode_pages(dec, fixture("timeline/host-rt-hog/cpu1.pages"), &lost);
  auto cpu0 = decode_pages(dec, fixture("timeline/host-rt-hog/cpu0.pages"), nullptr);
  ASSERT_GT(cpu1.size(), 100u);
  ASSERT_GT(cpu0.size(), 100u);
  for (std::size_t i = 1; i < cpu1.size(); ++i) ASSERT_LE(cpu1[i - 1].ts, cpu1[i].ts) << i;
  const int hog = meta["hog_pid"];
  bool saw_hog = false, saw_hb = false;
  for (const auto& e : cpu1) {
    if (e.kind != TraceKind::kSwitch) continue;
    if (e.num == hog && std::string(e.name) == "sw-test-hog") {
      saw_hog = true;
      EXPECT_EQ(e.prio, 99 - 60);  // SCHED_FIFO 60 in the kernel's numbering
    }
    saw_hb |= std::string(e.name) == "sw-hb/1";
  }
  EXPECT_TRUE(saw_hog);
  EXPECT_TRUE(saw_hb);

  TimelineInput in;
  in.stalled_cpu = 1;
  in.silence = meta["silence_mono_ns"];
  in.window_start = in.silence - 2 * kS;
  in.detected = meta["detected_mono_ns"];
  in.events = {{0, &cpu0}, {1, &cpu1}};
  Timeline t = build_timeline(in);
  EXPECT_EQ(t.status, "recorded");
  ASSERT_EQ(t.cpus.size(), 2u);
  EXPECT_EQ(t.cpus[0].cpu, 1);  // the stalled CPU first
  EXPECT_EQ(t.silent_after.kind, "switch");
  EXPECT_EQ(t.silent_after.text.rfind("sw-test-hog:" + std::to_string(hog) + " switched in", 0), 0u)
      << t.silent_after.text;
  ASSERT_TRUE(t.have_holder);
  EXPECT_EQ(t.holder.pid, hog);
  EXPECT_GE(t.holder_share, 0.9);
  EXPECT_TRUE(t.holder.open);
  // The heartbeat's last wakeup before the hog is on CPU 1's row.
  bool hb_before = false;
  for (const auto& s : t.cpus[0].segments)
    hb_before |= s.label.rfind("sw-hb/1:", 0) == 0 && s.start <= in.silence + 1'000'000;
  EXPECT_TRUE(hb_before);
  for (const auto& c : t.cpus) EXPECT_LE(c.segments.size(), 400u);
  json j = json::parse(timeline_to_json(t));
  EXPECT_EQ(j["holder"]["pid"], hog);
  EXPECT_EQ(j["holder"]["rt"], true);
  EXPECT_EQ(j["cpus"][0]["cpu"], 1);
}

TEST(TraceDecode, MalformedPagesAreRefusedNotRead) {
  auto schema = make_trace_schema(fixture_formats("host-rt-hog"));
  ASSERT_TRUE(schema.ok());
  TraceDecoder dec(*schema);
  std::vector<TraceEvent> out;
  std::string page(4096, '\0');
  std::uint64_t commit = 5000;  // more data than the page holds
  std::memcpy(page.data() + 8, &commit, 8);
  EXPECT_TRUE(dec.decode(page, &out).malformed);
  EXPECT_TRUE(dec.decode(page.substr(0, 10), &out).malformed);
  EXPECT_FALSE(dec.decode("", &out).malformed);
  EXPECT_TRUE(out.empty());
}

TEST(Timeline, StuckInAHardIrqHandler) {
  std::vector<TraceEvent> c1 = {
      sw(1 * kS, "swapper/1", 0, "sw-hb/1", 90, 0),
      sw(1 * kS + 50'000, "sw-hb/1", 90, "bash", 300),
      irq(1 * kS + 60'000, TraceKind::kIrqEntry, 11, "i6300esb"),
  };
  TimelineInput in;
  in.stalled_cpu = 1;
  in.silence = 1 * kS + 10'000;
  in.window_start = in.silence - 2 * kS;
  in.detected = 3 * kS;
  in.events = {{1, &c1}};
  Timeline t = build_timeline(in);
  EXPECT_EQ(t.silent_after.kind, "irq");
  EXPECT_EQ(t.silent_after.irq, 11);
  EXPECT_EQ(t.silent_after.text, "irq 11 (i6300esb) entered, no exit");
  ASSERT_TRUE(t.have_holder);
  EXPECT_EQ(t.holder.label, "bash:300");  // the task the handler interrupted
  bool open_irq = false;
  for (const auto& s : t.cpus[0].segments) open_irq |= s.kind == SegmentKind::kIrq && s.open;
  EXPECT_TRUE(open_irq);

  // The handler, not the task it interrupted, is what held the CPU.
  Evidence ev;
  ev.event.cpu = 1;
  ev.timeline = t;
  ev.tasks.push_back(TaskEvidence{});
  ev.tasks[0].tid = 300;
  Classification cls{"interrupts-off", "timer frozen", 0, ""};
  culprit_from_timeline(&ev, &cls);
  EXPECT_EQ(cls.culprit, -1);
  EXPECT_EQ(cls.handler, "irq 11 (i6300esb)");
  EXPECT_NE(cls.reason.find("a handler, not a task"), std::string::npos);
}

TEST(Timeline, AShortLivedTaskThatStartedTheStallIsNamed) {
  // insmod switched in after the heartbeat and held the CPU; softirqs still ran under it.
  std::vector<TraceEvent> c1 = {
      sw(1 * kS, "bash", 300, "sw-hb/1", 90, 0),
      sw(1 * kS + 20'000, "sw-hb/1", 90, "insmod", 412),
  };
  for (std::int64_t t = 1 * kS + 4'000'000; t < 3 * kS; t += 4'000'000) {
    c1.push_back(irq(t, TraceKind::kSoftirqEntry, 1));
    c1.push_back(irq(t + 5'000, TraceKind::kSoftirqExit, 1));
  }
  c1.push_back(sw(3 * kS + 200'000'000, "insmod", 412, "bash", 300));  // after the detection
  TimelineInput in;
  in.stalled_cpu = 1;
  in.silence = 1 * kS + 5'000;
  in.window_start = in.silence - 2 * kS;
  in.detected = 3 * kS + 10'000'000;
  in.events = {{1, &c1}};
  Timeline t = build_timeline(in);
  EXPECT_EQ(t.silent_after.text, "insmod:412 switched in, nothing after");
  EXPECT_EQ(t.holder.pid, 412);
  EXPECT_GT(t.holder_share, 0.99);
  EXPECT_EQ(t.cpus[0].softirqs, 499u);

  // The task is gone before the scan: the timeline gives the culprit anyway.
  Evidence ev;
  ev.event.cpu = 1;
  ev.timeline = t;
  Classification cls{"kernel-nonpreemptible", "kernel: soft lockup", -1, ""};
  culprit_from_timeline(&ev, &cls);
  ASSERT_EQ(cls.culprit, 0);
  EXPECT_EQ(ev.tasks[0].tid, 412);
  EXPECT_EQ(ev.tasks[0].comm, "insmod");
  EXPECT_EQ(ev.tasks[0].state, 'X');
  EXPECT_NE(cls.reason.find("the timeline shows insmod:412"), std::string::npos) << cls.reason;
  // Classes that do not name a task keep their culprit.
  Classification storm{"irq-storm", "x", -1, ""};
  culprit_from_timeline(&ev, &storm);
  EXPECT_EQ(storm.culprit, -1);
}

TEST(Timeline, ATaskRenamedOnTheCpuIsNamedByItsNewName) {
  // `taskset -c 1 insmod ...`: taskset is switched in, then execs insmod without a switch.
  TraceEvent rename = irq(kS + 30'000, TraceKind::kRename, 423, "insmod");
  std::vector<TraceEvent> c1 = {sw(kS, "bash", 300, "sw-hb/1", 90, 0),
                                sw(kS + 20'000, "sw-hb/1", 90, "taskset", 423), rename};
  TimelineInput in;
  in.stalled_cpu = 1;
  in.silence = kS + 5'000;
  in.window_start = in.silence - 2 * kS;
  in.detected = 3 * kS;
  in.events = {{1, &c1}};
  Timeline t = build_timeline(in);
  EXPECT_EQ(t.silent_after.text, "insmod:423 switched in, nothing after");
  EXPECT_EQ(t.holder.comm, "insmod");
  EXPECT_EQ(t.cpus[0].events, 2u);  // the rename is not an event of the row
}

TEST(Timeline, LongIrqNamesAreKept) {
  std::vector<TraceEvent> c1 = {sw(kS, "sw-hb/1", 90, "bash", 300),
                                irq(kS + 10, TraceKind::kIrqEntry, 27, "stallwatch_stall")};
  TimelineInput in;
  in.stalled_cpu = 1;
  in.silence = kS - 5;
  in.window_start = 0;
  in.detected = 3 * kS;
  in.events = {{1, &c1}};
  EXPECT_EQ(build_timeline(in).silent_after.text, "irq 27 (stallwatch_stall) entered, no exit");
}

TEST(Timeline, StuckInTheLocalTimerInterrupt) {
  // An hrtimer callback that does not return: x86's local timer vector, not irq_handler_entry.
  std::vector<TraceEvent> c1 = {sw(kS, "sw-hb/1", 90, "swapper/1", 0),
                                irq(kS + 100, TraceKind::kIrqEntry, kLocalTimerIrq)};
  TimelineInput in;
  in.stalled_cpu = 1;
  in.silence = kS - 5;
  in.window_start = 0;
  in.detected = 3 * kS;
  in.events = {{1, &c1}};
  Timeline t = build_timeline(in);
  EXPECT_EQ(t.silent_after.text, "local timer interrupt (LOC) entered, no exit");
  EXPECT_EQ(t.cpus[0].irqs, 0u);  // the rate counts device IRQs only
}

TEST(Timeline, IdleCpuWhoseHeartbeatNeverWoke) {
  std::vector<TraceEvent> c1 = {sw(1 * kS, "sw-hb/1", 90, "swapper/1", 0)};
  TimelineInput in;
  in.stalled_cpu = 1;
  in.silence = 1 * kS - 1000;
  in.window_start = in.silence - 2 * kS;
  in.detected = 3 * kS;
  in.events = {{1, &c1}};
  Timeline t = build_timeline(in);
  EXPECT_EQ(t.holder.kind, SegmentKind::kIdle);
  EXPECT_NE(t.silent_after.text.find("idle"), std::string::npos);
}

TEST(Timeline, IrqRateAndBoundOnABusyCpu) {
  std::vector<TraceEvent> c0;
  for (int i = 0; i < 4000; ++i) {
    const std::int64_t t = kS + i * 500'000;
    c0.push_back(sw(t, "a", 1000 + i % 7, "b", 1000 + (i + 1) % 7));
    c0.push_back(irq(t + 1000, TraceKind::kIrqEntry, 24, "eth0"));
    c0.push_back(irq(t + 3000, TraceKind::kIrqExit, 24));
  }
  std::vector<TraceEvent> c1 = {sw(kS, "sw-hb/1", 90, "spin", 5)};
  TimelineInput in;
  in.stalled_cpu = 1;
  in.silence = kS + 1000;
  in.window_start = in.silence - kS;
  in.detected = 3 * kS;
  in.events = {{0, &c0}, {1, &c1}};
  Timeline t = build_timeline(in);
  ASSERT_EQ(t.cpus.size(), 2u);
  const CpuTimeline& busy = t.cpus[1];
  EXPECT_EQ(busy.cpu, 0);
  EXPECT_EQ(busy.irqs, 4000u);
  EXPECT_NEAR(busy.irq_per_s, 4000 / 3.0, 1);  // over the 3 s window
  EXPECT_EQ(busy.segments.size(), in.max_segments_other);
  EXPECT_EQ(busy.truncated, 8000u - in.max_segments_other);
  for (std::size_t i = 1; i < busy.segments.size(); ++i)
    EXPECT_LE(busy.segments[i - 1].start, busy.segments[i].start);
}

// CI, 2026-12-04 (host_timeline_rt_hog): the hog was switched out for 6 us, the heartbeat stamped
// in them, and 2 s of timer ticks on the hog's CPU made more segments than the bound keeps. The
// longest were kept, and the heartbeat's last wakeup, the silence's anchor, was 1 us shorter than
// a tick: dropped. Task segments now come before interrupt segments in what is kept.
TEST(Timeline, TheHeartbeatsLastWakeupSurvivesTheBound) {
  const std::int64_t silence = kS;
  std::vector<TraceEvent> c1 = {sw(silence - 100'000'000, "hog", 77, "hog", 77),
                                sw(silence - 2'500, "hog", 77, "sw-hb/1", 90, 49),
                                sw(silence + 3'300, "sw-hb/1", 90, "hog", 77, 39)};
  for (int i = 0; i < 600; ++i) {  // a 7 us tick every 4 ms through the silence
    const std::int64_t t = silence + 10'000 + i * 4'000'000LL;
    c1.push_back(irq(t, TraceKind::kIrqEntry, -1, "local timer"));
    c1.push_back(irq(t + 7'000, TraceKind::kIrqExit, -1));
  }
  TimelineInput in;
  in.stalled_cpu = 1;
  in.silence = silence;
  in.window_start = silence - 2 * kS;
  in.detected = silence + 2'410'000'000LL;
  in.events = {{1, &c1}};
  Timeline t = build_timeline(in);
  const CpuTimeline& ct = t.cpus[0];
  ASSERT_EQ(ct.cpu, 1);
  EXPECT_EQ(ct.segments.size(), in.max_segments_stalled);
  EXPECT_GT(ct.truncated, 0u);
  bool anchor = false;
  for (const auto& s : ct.segments)
    anchor |= s.label.rfind("sw-hb/1", 0) == 0 && s.start <= silence && silence <= s.end;
  EXPECT_TRUE(anchor) << "the heartbeat's last wakeup was dropped by the bound";
}

TEST(Timeline, HostileCommsAreSanitized) {
  std::vector<TraceEvent> c1 = {sw(kS, "sw-hb/1", 90, "\x1b[31mevil\n", 66)};
  TimelineInput in;
  in.stalled_cpu = 1;
  in.silence = kS - 10;
  in.window_start = 0;
  in.detected = 2 * kS;
  in.events = {{1, &c1}};
  Timeline t = build_timeline(in);
  EXPECT_EQ(t.holder.label, "\\x1b[31mevil\\x0a:66");
  std::string js = timeline_to_json(t);
  EXPECT_EQ(js.find('\x1b'), std::string::npos);
}

TEST(Timeline, UnavailableIsOneStatusAndANote) {
  Timeline t;
  t.status = "unavailable";
  t.note = "tracefs is not mounted";
  json j = json::parse(timeline_to_json(t));
  EXPECT_EQ(j.size(), 2u);
  EXPECT_EQ(timeline_summary(t), "timeline: unavailable: tracefs is not mounted");
  t.status = "disabled";
  EXPECT_EQ(timeline_summary(t), "");
}

}  // namespace
}  // namespace stallwatch::evidence
