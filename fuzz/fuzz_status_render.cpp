// SPDX-License-Identifier: GPL-2.0-or-later
// The two readers of status.json on arbitrary text (old, edited or hostile JSON): stallwatchctl's
// status view (parse, table, JSON) and the Prometheus exposition must not throw or crash (a
// number out of its type's range is undefined behaviour the sanitizer reports), and the status
// table must emit no raw control byte but the newline ending each line, and only valid UTF-8.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "stallwatch/core/sanitize.h"
#include "stallwatch/ctl/status_view.h"
#include "stallwatch/metrics/exposition.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace stallwatch::ctl;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  if (auto s = parse_status(text); s.ok()) {
    for (bool alive : {true, false}) {
      const LivenessVerdict v = assess_liveness(*s, alive, 5'000'000'000, 1'700'000'000'000, "f");
      if (!stallwatch::is_clean_text(format_status(*s, v), stallwatch::Newlines::kKeep))
        std::abort();
      (void)format_status_json(*s, v);
    }
  }
  const nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
  (void)stallwatch::metrics::render_metrics(j);
  return 0;
}
