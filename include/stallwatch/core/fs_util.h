// SPDX-License-Identifier: GPL-2.0-or-later
// Small filesystem helpers shared by the writers of state files (reports, reset reason, status).
// Pure functions over paths; any thread.
#pragma once

#include <sys/types.h>

#include <string>

#include "stallwatch/core/result.h"

namespace stallwatch {

// mkdir -p: creates every missing directory of an absolute path with `mode`.
Status make_dirs(const std::string& path, mode_t mode);

// A directory the daemon writes state into (daemon.state_dir, daemon.runtime_dir) must be
// trustworthy: a directory (symlinks followed), owned by `euid` (root when the daemon runs as
// root) and not writable by group or others — else another user could plant or replace the
// files it writes and reads back (reports, reset reason, drill announcements, status). A
// missing directory is fine (the daemon creates it 0755/0750). `key` names the setting in the
// message, e.g. "daemon.state_dir: /var/lib/stallwatch is writable by group or others (mode
// 0777); run `chmod go-w /var/lib/stallwatch`". Startup, main thread.
Status check_private_dir(const std::string& key, const std::string& path, uid_t euid);

}  // namespace stallwatch
