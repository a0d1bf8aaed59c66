// SPDX-License-Identifier: GPL-2.0-or-later
// The service manager's notification protocol (sd_notify(3)) and its watchdog variables
// (sd_watchdog_enabled(3)), written by hand so the daemon need not load libsystemd; see
// journal_socket.h for why. Only AF_UNIX sockets (a path, or '@' for the abstract namespace),
// which is all systemd 252 (Debian 12) hands out.
#pragma once

#include <cstdint>
#include <string_view>

#include "stallwatch/core/unique_fd.h"

namespace stallwatch {

// A datagram socket connected to $NOTIFY_SOCKET, with extra socket(2) type flags (e.g.
// SOCK_NONBLOCK). Invalid when the variable is unset, too long, or nobody listens.
UniqueFd connect_notify_socket(int extra_type_flags = 0);

// One message to $NOTIFY_SOCKET, as sd_notify(0, state): > 0 sent, 0 when not run by a service
// manager, < 0 the -errno of the failure.
int notify_service_manager(std::string_view state);

// WATCHDOG_USEC when it is set, valid and meant for this process (WATCHDOG_PID, when set, is
// ours), else 0, as sd_watchdog_enabled. unset removes both variables, so children do not
// inherit them.
std::uint64_t watchdog_usec_from_env(bool unset);

}  // namespace stallwatch
