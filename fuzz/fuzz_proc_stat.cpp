// SPDX-License-Identifier: GPL-2.0-or-later
// /proc/stat per-CPU lines.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "stallwatch/evidence/proc_parse.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  using namespace stallwatch::evidence;
  if (auto cpus = parse_proc_stat(text)) {
    for (const auto& c : *cpus) (void)c.total();
    (void)find_cpu(*cpus, 1);
  }
  return 0;
}
