// SPDX-License-Identifier: GPL-2.0-or-later
#include "stallwatch/ctl/metrics_view.h"

#include <nlohmann/json.hpp>

#include "stallwatch/metrics/exposition.h"

namespace stallwatch::ctl {

Result<std::string> metrics_exposition(std::string_view status_text,
                                       const LivenessVerdict& verdict) {
  if (verdict.liveness != Liveness::kRunning) return Error{verdict.message};
  auto doc = nlohmann::json::parse(status_text, nullptr, false);
  if (doc.is_discarded() || !doc.is_object()) return make_error("status file is not a JSON object");
  return metrics::render_metrics(doc);
}

}  // namespace stallwatch::ctl
