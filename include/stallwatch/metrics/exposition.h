// SPDX-License-Identifier: GPL-2.0-or-later
// Exposition: the daemon's status document (<runtime_dir>/status.json, the one source of truth for
// metrics) rendered as Prometheus text exposition format 0.0.4, for node_exporter's textfile
// collector and `stallwatchctl metrics`. A pure function over JSON: no clock, no I/O, no samples
// with timestamps. Any thread (stallwatchd: the dispatcher (status writer); stallwatchctl: main).
#pragma once

#include <array>
#include <cstdint>
#include <string>

#include <nlohmann/json_fwd.hpp>

namespace stallwatch::metrics {

// The per-host lateness histogram's finite `le` boundaries, as powers of two in ns: bucket k of
// the per-CPU log2 histograms (lateness in [2^k, 2^(k+1)) ns) lies under le = 2^e ns for every
// e >= k + 1. From 16.4 us (lateness below is noise) to 4.29 s (past any sensible threshold).
inline constexpr std::array<int, 10> kLatenessLeLog2Ns = {14, 16, 18, 20, 22, 24, 26, 28, 30, 32};

// Missing or mistyped fields are treated as absent (zero, or no sample where a zero would lie);
// never throws.
std::string render_metrics(const nlohmann::json& status);

}  // namespace stallwatch::metrics
