// SPDX-License-Identifier: GPL-2.0-or-later
// The kmsg reader's record handling: each input line is one read() (a line "EPIPE" is an
// overrun), then the verdict queries.
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "stallwatch/evidence/kmsg_reader.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  using namespace stallwatch::evidence;
  KmsgReader reader{stallwatch::Sysroot(), 8, 4};
  while (!text.empty()) {
    auto nl = text.find('\n');
    std::string_view rec = text.substr(0, nl == std::string_view::npos ? text.size() : nl + 1);
    text.remove_prefix(rec.size());
    if (rec == "EPIPE\n")
      reader.process_error(EPIPE);
    else
      reader.process_read(rec);
  }
  for (int cpu : {-1, 0, 1, 3}) (void)reader.verdicts_for(cpu, INT64_MIN, INT64_MAX);
  (void)reader.lost_records();
  return 0;
}
