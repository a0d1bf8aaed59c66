// SPDX-License-Identifier: GPL-2.0-or-later
// Doctor, report group Recovery: the protection-ladder item. Puts every rung that acts on a stalled
// CPU in time order -- stallwatch's report (checker.threshold), the kernel's soft-lockup report (2
// x watchdog_thresh) and panic, stallwatch's escalation (escalation.after) and the hardware reset
// that follows it (+ watchdog.timeout) -- and says what fires first and what is out of order.
#include <algorithm>

#include <fmt/format.h>

#include "stallwatch/ctl/doctor/doctor.h"
#include "stallwatch/ctl/doctor/parse.h"
#include "stallwatch/ctl/doctor/watchdog.h"

namespace stallwatch::ctl {

namespace {

struct Rung {
  Nanos at;
  std::string what;
};

std::int64_t sysctl(const DoctorContext& ctx, std::string_view path, std::int64_t fallback) {
  auto v = read_trimmed(ctx.root, path);
  auto n = v ? parse_integer(*v) : std::nullopt;
  return n.value_or(fallback);
}

}  // namespace

Finding audit_protection_ladder(const DoctorContext& ctx) {
  Finding r;
  const Config& cfg = ctx.config;
  const Nanos threshold = cfg.checker.threshold;
  const Nanos after = cfg.escalation.after;
  const Nanos wd_timeout = cfg.watchdog.timeout;
  const EscalationAction action = cfg.escalation.action;
  const std::int64_t watchdog = sysctl(ctx, "/proc/sys/kernel/watchdog", 0);
  const std::int64_t soft = sysctl(ctx, "/proc/sys/kernel/soft_watchdog", 0);
  const std::int64_t thresh = sysctl(ctx, "/proc/sys/kernel/watchdog_thresh", 0);
  const std::int64_t soft_panic = sysctl(ctx, "/proc/sys/kernel/softlockup_panic", 0);
  const std::int64_t panic = sysctl(ctx, "/proc/sys/kernel/panic", 0);
  r.add("checker.threshold", format_duration(threshold));
  r.add("escalation.action", std::string(to_string(action)));
  r.add("escalation.after", format_duration(after));
  r.add("watchdog.device", cfg.watchdog.device.empty() ? "\"\"" : cfg.watchdog.device);
  r.add("watchdog.timeout", format_duration(wd_timeout));
  r.add("kernel.watchdog/soft_watchdog/watchdog_thresh",
        fmt::format("{}/{}/{}", watchdog, soft, thresh));
  r.add("kernel.softlockup_panic/panic", fmt::format("{}/{}", soft_panic, panic));

  std::vector<Rung> rungs;
  rungs.push_back({threshold, "stallwatch report"});
  const bool kernel_on = watchdog != 0 && soft != 0 && thresh > 0;
  const Nanos kernel_at = std::chrono::seconds(2 * thresh);
  if (kernel_on) {
    rungs.push_back({kernel_at, "kernel soft-lockup report"});
    if (soft_panic != 0)
      rungs.push_back(
          {kernel_at + std::chrono::seconds(std::max<std::int64_t>(panic, 0)),
           panic == 0 ? "kernel panic (then hangs: kernel.panic = 0)" : "kernel panic and reboot"});
  }
  const std::string dry = cfg.escalation.dry_run ? " (dry run: logged only)" : "";
  bool resets = kernel_on && soft_panic != 0 && panic != 0;
  switch (action) {
    case EscalationAction::kNone: break;
    case EscalationAction::kWatchdogDevice:
      rungs.push_back({after, fmt::format("stallwatch escalation: stops feeding {}{}",
                                          cfg.watchdog.device, dry)});
      if (!cfg.escalation.dry_run) {
        rungs.push_back({after + wd_timeout, "hardware watchdog reset"});
        resets = true;
      }
      break;
    case EscalationAction::kSystemd:
      rungs.push_back({after, "stallwatch escalation: WATCHDOG=trigger to systemd" + dry});
      resets = resets || !cfg.escalation.dry_run;
      break;
    case EscalationAction::kPanic:
      rungs.push_back({after, "stallwatch escalation: panic (sysrq-c)" + dry});
      resets = resets || (!cfg.escalation.dry_run && panic != 0);
      break;
  }
  std::stable_sort(rungs.begin(), rungs.end(),
                   [](const Rung& a, const Rung& b) { return a.at < b.at; });
  std::string ladder;
  for (const auto& g : rungs)
    ladder += fmt::format("{}{} ({})", ladder.empty() ? "" : " < ", g.what, format_duration(g.at));
  r.add("ladder", ladder);
  const WatchdogAudit wd = audit_watchdogs(ctx);
  std::string hang;
  for (const auto& d : wd.devices) {
    if (wd.stallwatch_feeds(d))
      hang = fmt::format("{} resets the host {} after stallwatchd stops", d.name,
                         format_duration(wd_timeout));
    else if (wd.systemd_feeds(d))
      hang = fmt::format("{} resets the host {} after PID 1 stops", d.name, wd.systemd.value);
  }
  r.add("whole-host hang", hang.empty() ? "no fed hardware watchdog" : hang);

  if (action != EscalationAction::kNone && after <= threshold) {
    r.status = FindingStatus::kFail;
    r.summary = fmt::format("escalation.after ({}) is not after checker.threshold ({}): stallwatch "
                            "escalates before it reports",
                            format_duration(after), format_duration(threshold));
    r.fix = fmt::format("set escalation.after well above checker.threshold (e.g. \"{}\")",
                        format_duration(threshold * 10));
    return r;
  }
  if (kernel_on && soft_panic != 0 && kernel_at <= threshold) {
    r.status = FindingStatus::kFail;
    r.summary = fmt::format("the kernel panics on a soft lockup at {} before stallwatch reports at "
                            "{}: no stall report survives",
                            format_duration(kernel_at), format_duration(threshold));
    r.fix = fmt::format("lower checker.threshold below {} or raise kernel.watchdog_thresh",
                        format_duration(kernel_at));
    return r;
  }
  r.status = FindingStatus::kOk;
  r.summary = "fires first: " + ladder;
  if (kernel_on && kernel_at <= threshold) {
    r.status = FindingStatus::kWarn;
    r.summary = fmt::format("the kernel reports a soft lockup ({}) before stallwatch ({}); ",
                            format_duration(kernel_at), format_duration(threshold)) +
                r.summary;
    r.fix = fmt::format("lower checker.threshold below {} (stallwatch should be first)",
                        format_duration(kernel_at));
  } else if (kernel_on && soft_panic != 0 && panic != 0 && action != EscalationAction::kNone &&
             kernel_at <= after) {
    r.status = FindingStatus::kWarn;
    r.summary = fmt::format("the kernel's soft-lockup panic ({}) comes before stallwatch's "
                            "escalation ({}), which never fires; ",
                            format_duration(kernel_at), format_duration(after)) +
                r.summary;
    r.fix = fmt::format("set escalation.after below {}, or kernel.softlockup_panic=0",
                        format_duration(kernel_at));
  } else if (!resets) {
    r.status = FindingStatus::kWarn;
    r.summary = "nothing resets a host with a stuck CPU; " + r.summary;
    r.fix = "set escalation.action = \"watchdog-device\" with watchdog.device, or "
            "sysctl -w kernel.softlockup_panic=1 kernel.panic=10";
  }
  return r;
}

}  // namespace stallwatch::ctl
