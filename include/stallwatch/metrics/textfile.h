// SPDX-License-Identifier: GPL-2.0-or-later
// Textfile: where and how the metrics file for node_exporter's textfile collector is written.
// resolve_textfile() turns metrics.textfile into a path (or off); write_textfile() replaces the
// file atomically: a new file beside it (O_CREAT|O_EXCL|O_NOFOLLOW|O_CLOEXEC, mode 0644, named
// "<path>.tmp", which the collector ignores because it does not end in .prom), then rename().
// node_exporter never reads a half-written file. Blocking file I/O: never call it from a
// real-time thread. Any other thread; no shared state.
#pragma once

#include <string>
#include <string_view>

#include "stallwatch/result.h"

namespace stallwatch::metrics {

// "" -> "" (off); "auto" -> auto_path when auto_dir_exists, else ""; anything else as is (the
// config parser has checked it is an absolute path ending in .prom).
std::string resolve_textfile(const std::string& configured, const std::string& auto_path,
                             bool auto_dir_exists);

// The directory part of a path ("/a/b.prom" -> "/a"; "/b.prom" -> "/").
std::string parent_dir(const std::string& path);

// Replaces `path` with `text`. A stale "<path>.tmp" (left by a crash) is removed and the create
// retried once; a symlink there is never followed.
Status write_textfile(const std::string& path, std::string_view text);

}  // namespace stallwatch::metrics
