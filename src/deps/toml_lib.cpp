// SPDX-License-Identifier: GPL-2.0-or-later
// toml++ compiled into stallwatch from Debian's libtomlplusplus-dev headers (TOML_HEADER_ONLY=0
// for every user, the implementation here once), so stallwatchd does not load
// libtomlplusplus.so (src/deps/CMakeLists.txt says why).
#define TOML_IMPLEMENTATION
#include <toml++/toml.h>
