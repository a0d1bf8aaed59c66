// SPDX-License-Identifier: GPL-2.0-or-later
// The sysrq-l dump assembler, fed one line per input line.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "stallwatch/evidence/sysrq_parse.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  using namespace stallwatch::evidence;
  SysrqDumpAssembler dump(16);
  while (!text.empty()) {
    auto nl = text.find('\n');
    dump.add_line(text.substr(0, nl));
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
  }
  (void)dump.complete_for({0, 1, 2});
  dump.finish();
  for (const auto& s : dump.sections()) (void)is_idle_function(s.rip);
  return 0;
}
