// SPDX-License-Identifier: GPL-2.0-or-later
#include "stallwatch/daemon/journal_sink.h"

#include <gtest/gtest.h>

#include <cstdio>

namespace stallwatch::daemon {
namespace {

StallEvent stall() {
  StallEvent e;
  e.kind = EventKind::kStall;
  e.cpu = 3;
  e.stall_ns = 2'412'000'000;
  e.threshold_ns = 2'000'000'000;
  e.episode = 7;
  e.detected_mono_ns = 5'000'000'000;
  return e;
}

TEST(Headline, ReadsLikeTheKernel) {
  EXPECT_EQ(event_headline(stall(), nullptr), "CPU#3 stuck for 2.4s!");
  StallReport r;
  r.stall_class = "rt-hog";
  r.pid = 90;
  r.tid = 91;
  r.comm = "my hog";
  EXPECT_EQ(event_headline(stall(), &r), "CPU#3 stuck for 2.4s! [my hog:91] class=rt-hog");
  StallEvent rec = stall();
  rec.kind = EventKind::kRecovered;
  rec.stall_ns = 6'080'000'000;
  EXPECT_EQ(event_headline(rec, nullptr), "CPU#3 recovered: its heartbeat was silent for 6.1s");
}

TEST(StderrOutput, OneLinePerEventWithFields) {
  char* buf = nullptr;
  std::size_t len = 0;
  std::FILE* f = open_memstream(&buf, &len);
  JournalSink sink(EventOutput::kStderr, f);
  sink.fire(stall(), nullptr);
  std::fclose(f);
  EXPECT_EQ(std::string(buf, len),
            "stallwatch: CPU#3 stuck for 2.4s! | event=stall cpu=3 stall_ms=2412 threshold_ms=2000 "
            "episode=7 detected_mono_us=5000000\n");
  free(buf);
}

TEST(StderrOutput, DrillIsMarked) {
  StallReport r;
  r.stall_class = "rt-hog";
  r.pid = r.tid = 4242;
  r.comm = "sw-drill-hog";
  r.policy = "SCHED_FIFO";
  r.rt_priority = 50;
  EXPECT_EQ(event_fields_line(stall(), &r).find(" drill=1"), std::string::npos);
  r.drill = true;
  EXPECT_EQ(
      event_fields_line(stall(), &r),
      "event=stall cpu=3 stall_ms=2412 threshold_ms=2000 episode=7 detected_mono_us=5000000 "
      "class=rt-hog pid=4242 tid=4242 comm=\"sw-drill-hog\" policy=SCHED_FIFO prio=50 drill=1");
}

}  // namespace
}  // namespace stallwatch::daemon
