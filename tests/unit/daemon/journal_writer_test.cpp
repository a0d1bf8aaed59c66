// SPDX-License-Identifier: GPL-2.0-or-later
#include "stallwatch/core/journal_writer.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <functional>
#include <stdexcept>
#include <string>

#include "stallwatch/core/sanitize.h"
#include "stallwatch/daemon/journal_sink.h"

namespace stallwatch::daemon {
namespace {

using namespace std::string_literals;

std::string capture(const std::function<void(std::FILE*)>& write) {
  char* buf = nullptr;
  std::size_t len = 0;
  std::FILE* f = open_memstream(&buf, &len);
  write(f);
  std::fclose(f);
  std::string out(buf, len);
  free(buf);
  return out;
}

// Exactly one line, and no byte below 0x20 or DEL anywhere but its final newline.
void expect_one_clean_line(const std::string& out) {
  ASSERT_FALSE(out.empty());
  EXPECT_EQ(out.back(), '\n');
  for (std::size_t i = 0; i + 1 < out.size(); ++i) {
    auto c = static_cast<unsigned char>(out[i]);
    EXPECT_TRUE(c >= 0x20 && c != 0x7f) << "raw byte " << int(c) << " at " << i << " in " << out;
  }
  EXPECT_TRUE(is_clean_text(out.substr(0, out.size() - 1))) << out;
}

StallEvent stall() {
  StallEvent e;
  e.kind = EventKind::kStall;
  e.cpu = 1;
  e.stall_ns = 2'412'000'000;
  e.threshold_ns = 1'000'000'000;
  e.episode = 3;
  return e;
}

TEST(JournalWriter, HostileFieldsNeverSpanOrForgeALine) {
  // Fields built by code that forgot to sanitize: still one clean stderr line.
  std::vector<std::string> f = {"MESSAGE=CPU#1 stuck [\x1b[31mEVIL\nX=1:7]\nsecond line\r",
                                "PRIORITY=1", "STALLWATCH_EVENT=escalation",
                                "STALLWATCH_COMM=\xff\xfe\x1b]0;pwn\a"s};
  std::string out =
      capture([&](std::FILE* err) { make_journal_writer(EventOutput::kStderr, err)->send(f); });
  expect_one_clean_line(out);
  EXPECT_NE(out.find(R"(comm=\xff\xfe\x1b]0;pwn\x07)"), std::string::npos) << out;
  EXPECT_NE(out.find(R"(stuck [\x1b[31mEVIL)"), std::string::npos) << out;
}

TEST(JournalWriter, ValuesWithSpacesAreQuoted) {
  std::string line = journal_fields_to_line(
      {"MESSAGE=m", "STALLWATCH_COMM=my hog", "STALLWATCH_CLASS=", "STALLWATCH_NOTE=a\"b"});
  EXPECT_EQ(line, R"(stallwatch: m | comm="my hog" class="" note="a\"b")");
}

TEST(JournalWriter, FieldBuilderCulpritMeansTheSameEverywhere) {
  JournalFields f("CPU#1 stuck", "d17d986fdeb84612815c1f621f53b794", 3, "stall");
  f.add("CPU", 1).culprit(90, 91, "spin");
  EXPECT_EQ(f.fields(), (std::vector<std::string>{
                            "MESSAGE=CPU#1 stuck", "MESSAGE_ID=d17d986fdeb84612815c1f621f53b794",
                            "PRIORITY=3", "STALLWATCH_EVENT=stall", "STALLWATCH_CPU=1",
                            "STALLWATCH_PID=90", "STALLWATCH_TID=91", "STALLWATCH_COMM=spin"}));
  JournalFields g("x", "d17d986fdeb84612815c1f621f53b794", 3, "stall");
  g.culprit(0, 0, "");
  EXPECT_EQ(g.fields().size(), 4u);
}

TEST(JournalSink, HostileCommGivesOneCleanLine) {
  for (std::string comm :
       {"\xff\xfe\x1b]0;pwn\a"s, "\x1b[31mEVIL\nX=1"s, ""s, "abcdefghijklmno"s}) {
    StallReport r;
    r.stall_class = "rt-hog";
    r.pid = 77;
    r.tid = 77;
    r.comm = sanitize_text(comm);  // as the evidence engine stores it
    r.summary = "culprit: " + r.comm + "\nstack: x";
    std::string out =
        capture([&](std::FILE* err) { JournalSink(EventOutput::kStderr, err).fire(stall(), &r); });
    expect_one_clean_line(out);
    // And when a raw name reaches the sink anyway (a code path that forgot to sanitize).
    r.comm = comm;
    out =
        capture([&](std::FILE* err) { JournalSink(EventOutput::kStderr, err).fire(stall(), &r); });
    expect_one_clean_line(out);
  }
}

TEST(JournalSink, JournalFieldsUseTheBuilder) {
  StallReport r;
  r.stall_class = "rt-hog";
  r.pid = 90;
  r.tid = 91;
  r.comm = "spin";
  r.policy = "SCHED_FIFO";
  auto f = event_journal_fields(stall(), &r);
  auto has = [&](const std::string& s) { return std::find(f.begin(), f.end(), s) != f.end(); };
  EXPECT_TRUE(has("STALLWATCH_PID=90"));
  EXPECT_TRUE(has("STALLWATCH_TID=91"));
  EXPECT_TRUE(has("MESSAGE_ID=d17d986fdeb84612815c1f621f53b794"));
  EXPECT_TRUE(has("STALLWATCH_EVENT=stall"));
}

// A stderr whose reader went away: every write fails with EPIPE.
struct BrokenPipe {
  int writes = 0;
  static ssize_t write(void* self, const char*, size_t) {
    ++static_cast<BrokenPipe*>(self)->writes;
    errno = EPIPE;
    return -1;
  }
};

TEST(JournalWriter, StderrEpipeDisablesStderrAndKeepsGoing) {
  BrokenPipe pipe;
  cookie_io_functions_t io{};
  io.write = &BrokenPipe::write;
  std::FILE* f = fopencookie(&pipe, "w", io);
  ASSERT_NE(f, nullptr);
  auto w = make_journal_writer(EventOutput::kStderr, f);
  EXPECT_NO_THROW(w->send({"MESSAGE=one", "PRIORITY=3"}));
  int after_first = pipe.writes;
  EXPECT_GE(after_first, 1);
  EXPECT_NO_THROW(w->send({"MESSAGE=two", "PRIORITY=3"}));
  EXPECT_EQ(pipe.writes, after_first) << "stderr is not tried again once it is broken";
  std::fclose(f);
}

// A sink that throws (a bad report, a JSON encode error) must not keep the next sink -- the
// escalation sink -- from running.
TEST(CompositeSink, AThrowingSinkDoesNotStopTheNext) {
  struct Throws final : EventSink {
    void fire(const StallEvent&, const StallReport*) override { throw std::runtime_error("bad"); }
  };
  struct Counts final : EventSink {
    int* n;
    explicit Counts(int* count) : n(count) {}
    void fire(const StallEvent&, const StallReport*) override { ++*n; }
  };
  int fired = 0;
  CompositeSink sinks;
  sinks.add(std::make_unique<Throws>());
  sinks.add(std::make_unique<Counts>(&fired));
  EXPECT_NO_THROW(sinks.fire(stall(), nullptr));
  EXPECT_NO_THROW(sinks.fire(stall(), nullptr));
  EXPECT_EQ(fired, 2);
}

}  // namespace
}  // namespace stallwatch::daemon
