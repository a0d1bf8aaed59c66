// Small filesystem helpers shared by the writers of state files (reports, reset reason, status).
// Pure functions over paths; any thread.
#pragma once

#include <sys/types.h>

#include <string>

#include "stallwatch/result.h"

namespace stallwatch {

// mkdir -p: creates every missing directory of an absolute path with `mode`.
Status make_dirs(const std::string& path, mode_t mode);

}  // namespace stallwatch
