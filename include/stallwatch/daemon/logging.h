// SPDX-License-Identifier: GPL-2.0-or-later
// Operational logging setup: spdlog's systemd sink under journald (JOURNAL_STREAM set), stderr
// otherwise. Called by main before any thread starts; spdlog is thread-safe afterwards.
// Heartbeat threads never log.
#pragma once

#include <chrono>
#include <string>

namespace stallwatch::daemon {

void setup_logging(bool under_journald);
// Applies a level name ("info", "debug", ...); unknown names leave the level as is.
void set_log_level(const std::string& level);
// Waits up to `limit` for queued log lines to be written (never longer).
void flush_logging(std::chrono::milliseconds limit);

}  // namespace stallwatch::daemon
