// SPDX-License-Identifier: GPL-2.0-or-later
// /dev/kmsg records, \xNN unescaping and the kernel-verdict matchers.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "stallwatch/evidence/kmsg_parse.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  using namespace stallwatch::evidence;
  for (auto rec : split_kmsg_records(text)) {
    if (auto r = parse_kmsg_record(rec)) {
      std::string plain = unescape_kmsg(r->text);
      (void)match_verdict(plain);
      (void)follow_up_cpu(r->text);
    }
  }
  (void)match_verdict(text);
  (void)follow_up_cpu(text);
  return 0;
}
