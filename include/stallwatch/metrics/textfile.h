// SPDX-License-Identifier: GPL-2.0-or-later
// Textfile: where and how the metrics file for node_exporter's textfile collector is written.
// resolve_textfile() turns metrics.textfile into a path (or off). The file itself is a AtomicFile
// (atomic_file.h): replaced atomically, mode 0644, its spare named "<path>.tmp", which the
// collector ignores because it does not end in .prom; node_exporter never reads a half-written
// file. Pure functions; any thread.
#pragma once

#include <string>
#include <string_view>

namespace stallwatch::metrics {

// "" -> "" (off); "auto" -> auto_path when auto_dir_exists, else ""; anything else as is (the
// config parser has checked it is an absolute path ending in .prom).
std::string resolve_textfile(const std::string& configured, const std::string& auto_path,
                             bool auto_dir_exists);

// The directory part of a path ("/a/b.prom" -> "/a"; "/b.prom" -> "/").
std::string parent_dir(const std::string& path);

}  // namespace stallwatch::metrics
