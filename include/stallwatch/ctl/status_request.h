// SPDX-License-Identifier: GPL-2.0-or-later
// Asking the running daemon for a fresh status.json: one byte into <runtime_dir>/status.request
// (a FIFO the daemon's dispatcher reads; world-writable so an unprivileged stallwatchctl can
// ask), then wait until status.json's updated_mono_ns moves. The daemon rewrites the file only on
// change, on request and every 60 s, so idle hosts pay nothing for an unread status file.
// Called by stallwatchctl's main thread.
#pragma once

#include <chrono>
#include <string>

namespace stallwatch::ctl {

enum class RefreshResult {
  kRefreshed,   // the daemon rewrote status.json in time
  kNoListener,  // no FIFO or nobody reads it (daemon not running, or an older one)
  kNoAnswer,    // the request was taken but status.json did not change in time: hung daemon
};

RefreshResult request_status_refresh(const std::string& runtime_dir,
                                     std::chrono::milliseconds wait);

}  // namespace stallwatch::ctl
