// SPDX-License-Identifier: GPL-2.0-or-later
// MetricsView: `stallwatchctl metrics`, the Prometheus exposition of the running daemon's
// status.json (the same render_metrics() the daemon's textfile uses). Pure over text and a
// liveness verdict, so tests drive it with captured files. Single-threaded (stallwatchctl).
#pragma once

#include <string>
#include <string_view>

#include "stallwatch/core/result.h"
#include "stallwatch/ctl/status_view.h"

namespace stallwatch::ctl {

// The exposition, or an error saying why there is none: the text is not a status document, or
// the daemon is not running or not updating it (numbers from a dead or hung daemon would look
// like a healthy host to a collector).
Result<std::string> metrics_exposition(std::string_view status_text,
                                       const LivenessVerdict& verdict);

}  // namespace stallwatch::ctl
