// SPDX-License-Identifier: GPL-2.0-or-later
// stallwatchctl's report renderer on arbitrary report text (old, edited or hostile JSON): parse,
// list and single views must not throw or crash, and must emit no raw control byte but the
// newline ending each line, and only valid UTF-8.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "stallwatch/core/sanitize.h"
#include "stallwatch/ctl/reports_view.h"

namespace {

void require_clean(const std::string& out) {
  if (!stallwatch::is_clean_text(out, stallwatch::Newlines::kKeep)) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace stallwatch::ctl;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  // The id comes from a file name: any byte but '/' and NUL.
  std::string id = "r\x1b]0;x\a";
  std::vector<ReportEntry> entries;
  entries.push_back(parse_report(text, id, "/var/lib/stallwatch/reports/" + id + ".json", 1));
  require_clean(format_report_list(entries));
  require_clean(format_report(entries.front()));
  require_clean(format_report_list_json(entries));
  return 0;
}
