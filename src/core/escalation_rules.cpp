// SPDX-License-Identifier: GPL-2.0-or-later
#include "stallwatch/core/escalation_rules.h"

#include <fmt/format.h>

namespace stallwatch {
namespace {

constexpr std::int64_t kSecondNs = 1'000'000'000;

std::string text(Nanos d) { return format_duration(d); }

bool valid_governor_name(const std::string& name) {
  if (name.empty() || name.size() > 20) return false;
  for (char c : name)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) return false;
  return true;
}

}  // namespace

std::vector<ConfigProblem> validate_escalation(const Config& c) {
  std::vector<ConfigProblem> out;
  const auto& esc = c.escalation;
  const auto& wd = c.watchdog;
  const bool device = !wd.device.empty();

  if (esc.action == EscalationAction::kWatchdogDevice && !device)
    out.push_back({"escalation.action",
                   "\"watchdog-device\" requires watchdog.device (e.g. \"/dev/watchdog0\")"});
  if (esc.action == EscalationAction::kPanic && !esc.allow_panic)
    out.push_back({"escalation.action",
                   "\"panic\" crashes the kernel: it requires escalation.allow_panic = true"});
  if (esc.action != EscalationAction::kNone && esc.after < c.checker.threshold)
    out.push_back({"escalation.after",
                   fmt::format("must be at least checker.threshold ({}), got {}: a CPU cannot "
                               "be escalated before its stall is detected",
                               text(c.checker.threshold), text(esc.after))});
  if (!device) return out;

  // The watchdog API counts whole seconds; rounding silently would change the feed cadence.
  if (wd.timeout.count() % kSecondNs != 0)
    out.push_back({"watchdog.timeout", fmt::format("must be a whole number of seconds (the "
                                                   "watchdog API counts seconds), got {}",
                                                   text(wd.timeout))});
  if (wd.pretimeout.count() % kSecondNs != 0)
    out.push_back({"watchdog.pretimeout",
                   fmt::format("must be a whole number of seconds, got {}", text(wd.pretimeout))});
  // The device is fed from the checker's tick, at most every timeout/3.
  if (c.checker.interval * 3 > wd.timeout)
    out.push_back({"watchdog.timeout",
                   fmt::format("must be at least 3 x checker.interval ({}), got {}: the device "
                               "is fed from the checker's tick at least every timeout/3",
                               text(c.checker.interval), text(wd.timeout))});
  if (wd.pretimeout > Nanos::zero() && wd.pretimeout >= wd.timeout)
    out.push_back(
        {"watchdog.pretimeout", fmt::format("must be shorter than watchdog.timeout ({}), got {}",
                                            text(wd.timeout), text(wd.pretimeout))});
  if (!wd.pretimeout_governor.empty() && !valid_governor_name(wd.pretimeout_governor))
    out.push_back({"watchdog.pretimeout_governor",
                   fmt::format("\"{}\" is not a governor name (e.g. \"panic\", \"noop\")",
                               wd.pretimeout_governor)});
  // With watchdog-device, a stall that also stops the checker (its CPU, or a lock it needs)
  // stops the feeding, and the hardware resets the machine one timeout later — whatever
  // escalation.after says. An escalation.after beyond that is a delay the daemon cannot
  // promise; say so instead of silently resetting earlier than configured.
  if (esc.action == EscalationAction::kWatchdogDevice && esc.after > wd.timeout * kMaxAfterTimeouts)
    out.push_back(
        {"escalation.after",
         fmt::format("must not be longer than watchdog.timeout ({}), got {}: a stall "
                     "that also freezes the checker stops the feeding and resets the "
                     "machine after {} anyway; lower escalation.after or raise "
                     "watchdog.timeout to at least {}",
                     text(wd.timeout), text(esc.after), text(wd.timeout), text(esc.after))});
  return out;
}

Status validate_escalation_for_degraded(const Config& c) {
  const auto& esc = c.escalation;
  if (esc.action == EscalationAction::kNone || esc.dry_run) return Ok{};
  return make_error(
      "escalation.action = \"{}\" is refused in degraded mode: SCHED_OTHER heartbeats can be "
      "starved by ordinary load, so a stall may be false and must not reset the machine; grant "
      "CAP_SYS_NICE, or set escalation.action = \"none\" or escalation.dry_run = true",
      to_string(esc.action));
}

}  // namespace stallwatch
