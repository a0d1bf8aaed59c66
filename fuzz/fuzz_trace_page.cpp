// SPDX-License-Identifier: GPL-2.0-or-later
// The flight recorder's parsers (trace_decode.h, timeline.h): a tracefs format file, or ring-buffer
// sub-buffers as read from trace_pipe_raw, decoded with the captured formats of a real kernel and
// built into a timeline. Input starting with "name:" is a format file; anything else is pages.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "stallwatch/core/sysroot.h"
#include "stallwatch/evidence/timeline.h"
#include "stallwatch/evidence/trace_decode.h"

using namespace stallwatch;
using namespace stallwatch::evidence;

namespace {
TraceSchema* schema = nullptr;
}

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  std::map<std::string, std::string> formats;
  for (const char* ev : kTraceEvents) {
    auto text = read_file_capped(std::string(STALLWATCH_FIXTURES) +
                                     "/evidence/timeline/host-rt-hog/formats/" + ev + "/format",
                                 1 << 16);
    if (text) formats[ev] = *text;
  }
  auto s = make_trace_schema(formats);
  if (!s) __builtin_trap();  // the fixture must parse
  schema = new TraceSchema(*s);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  if (in.rfind("name:", 0) == 0) {
    (void)parse_trace_format(in);
    return 0;
  }
  TraceDecoder dec(*schema);
  std::vector<TraceEvent> events;
  for (std::size_t off = 0; off < in.size(); off += 4096) dec.decode(in.substr(off, 4096), &events);
  if (events.empty()) return 0;
  TimelineInput t;
  t.stalled_cpu = 1;
  t.silence = events[events.size() / 2].ts;
  t.window_start = t.silence - 2'000'000'000;
  t.detected = events.back().ts;
  t.events = {{1, &events}, {0, &events}};
  t.max_segments_stalled = 50;
  t.max_segments_other = 20;
  Timeline tl = build_timeline(t);
  (void)timeline_to_json(tl);
  (void)timeline_summary(tl);
  return 0;
}
