// SPDX-License-Identifier: GPL-2.0-or-later
// Escalation/watchdog config rules (part of the core: config validation) (whole-second
// watchdog API, feed cadence, pretimeout, how escalation.after relates to the timeout).
// Pure; called by the core's config validation on the main thread.
#pragma once

#include <string>
#include <vector>

#include "stallwatch/core/config.h"
#include "stallwatch/core/result.h"

namespace stallwatch {

struct ConfigProblem {
  std::string key;      // the key to point at, e.g. "watchdog.timeout"
  std::string message;  // without the key, e.g. "must be a whole number of seconds, got 1500ms"
};

// Every problem found, in a stable order (empty = fine). The caller reports them as
// "FILE:LINE:COL: key: message", usually just the first.
std::vector<ConfigProblem> validate_escalation(const Config& config);

// Degraded mode (SCHED_OTHER heartbeats because SCHED_FIFO was refused and
// heartbeat.allow_degraded = true): a merely busy CPU can look stalled, so a real escalation
// could reset a healthy machine. Refuses every escalation.action but "none" unless
// escalation.dry_run is set. The daemon calls it once the heartbeats know they are degraded,
// before the escalation sink exists; an error is a config error (exit 78). The message starts
// with the key ("escalation.action = \"systemd\" is refused ..."); the daemon prefixes the file.
Status validate_escalation_for_degraded(const Config& config);

// The longest escalation.after allowed with action watchdog-device, as a multiple of the
// watchdog timeout: a longer one lets the device reset the machine before the escalation is due.
inline constexpr int kMaxAfterTimeouts = 1;

}  // namespace stallwatch
