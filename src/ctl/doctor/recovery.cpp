// SPDX-License-Identifier: GPL-2.0-or-later
// Doctor, report group Recovery: audit items for recovery after a lockup: panic policy, kdump,
// sysrq backtraces.
#include <fmt/format.h>

#include "stallwatch/ctl/doctor/doctor.h"
#include "stallwatch/ctl/doctor/parse.h"

namespace stallwatch::ctl {

Finding audit_panic_policy(const DoctorContext& ctx) {
  Finding r;
  struct Knob {
    const char* name;
    std::optional<std::int64_t> value;
  };
  Knob knobs[] = {
      {"softlockup_panic", read_int(ctx, r, "/proc/sys/kernel/softlockup_panic")},
      {"hardlockup_panic", read_int(ctx, r, "/proc/sys/kernel/hardlockup_panic")},
      {"panic_on_oops", read_int(ctx, r, "/proc/sys/kernel/panic_on_oops")},
      {"hung_task_panic", read_int(ctx, r, "/proc/sys/kernel/hung_task_panic")},
  };
  auto panic = read_int(ctx, r, "/proc/sys/kernel/panic");
  if (!panic) {
    r.status = FindingStatus::kUnknown;
    r.summary = "kernel.panic is not readable";
    return r;
  }
  std::string on;
  for (const auto& k : knobs)
    if (k.value && *k.value != 0)
      on += fmt::format("{}{} = {}", on.empty() ? "" : ", ", k.name, *k.value);
  if (!on.empty() && *panic == 0) {
    r.status = FindingStatus::kFail;
    r.summary = fmt::format("{} but kernel.panic = 0: such a panic hangs the host instead of "
                            "rebooting it",
                            on);
    r.fix = "sysctl -w kernel.panic=10 (reboot 10 s after a panic; persist in /etc/sysctl.d/)";
    return r;
  }
  const std::string reboot =
      *panic < 0 ? "reboots at once" : fmt::format("reboots after {}s", *panic);
  const bool lockup_panics =
      (knobs[0].value && *knobs[0].value != 0) || (knobs[1].value && *knobs[1].value != 0);
  if (!lockup_panics) {
    if (ctx.config.escalation.action != EscalationAction::kNone) {
      r.status = FindingStatus::kOk;
      r.summary = fmt::format("lockups do not panic the kernel; stallwatch escalates instead "
                              "(escalation.action = {}); a panic {}",
                              to_string(ctx.config.escalation.action), reboot);
      return r;
    }
    r.status = FindingStatus::kWarn;
    r.summary = "lockups do not panic (softlockup_panic = 0, hardlockup_panic = 0) and stallwatch "
                "does not escalate: a locked-up host stays up until something resets it";
    r.fix = "sysctl -w kernel.softlockup_panic=1 kernel.hardlockup_panic=1 kernel.panic=10, or set "
            "escalation.action in stallwatch.toml";
    return r;
  }
  r.status = FindingStatus::kOk;
  r.summary = fmt::format("lockups panic ({}) and the kernel {}", on, reboot);
  return r;
}

Finding audit_crash_dump(const DoctorContext& ctx) {
  Finding r;
  auto loaded = read_int(ctx, r, "/sys/kernel/kexec_crash_loaded");
  auto size = read_trimmed(ctx.root, "/sys/kernel/kexec_crash_size");
  r.add("/sys/kernel/kexec_crash_size", size.value_or("absent"));
  const auto ck =
      cmdline_param(read_trimmed(ctx.root, "/proc/cmdline").value_or(""), "crashkernel");
  r.add("/proc/cmdline crashkernel", ck.value_or("absent"));
  r.fix = "apt install kdump-tools (it adds crashkernel= to the kernel command line), reboot, then "
          "check kdump-config status";
  if (!loaded) {
    r.status = FindingStatus::kUnknown;
    r.summary = "no /sys/kernel/kexec_crash_loaded: this kernel cannot load a crash kernel";
    r.fix = "use a kernel built with CONFIG_CRASH_DUMP=y, then " + r.fix;
    return r;
  }
  if (*loaded == 1) {
    r.status = FindingStatus::kOk;
    r.fix.clear();
    r.summary = fmt::format("crash kernel loaded (crashkernel={}): a panic leaves a dump",
                            ck.value_or("?"));
    return r;
  }
  r.status = FindingStatus::kWarn;
  if (ck) {
    r.summary = fmt::format("crashkernel={} reserves memory but no crash kernel is loaded: a panic "
                            "leaves no dump",
                            *ck);
    r.fix = "systemctl enable --now kdump-tools (kdump-config load)";
  } else {
    r.summary =
        "no crash kernel (no crashkernel= on the kernel command line): a panic leaves no dump";
  }
  return r;
}

Finding audit_sysrq(const DoctorContext& ctx) {
  Finding r;
  const bool trigger = ctx.root.exists("/proc/sysrq-trigger");
  r.add("/proc/sysrq-trigger", trigger ? "present" : "absent");
  auto mask = read_int(ctx, r, "/proc/sys/kernel/sysrq");
  r.add("evidence.sysrq_backtrace", ctx.config.evidence.sysrq_backtrace ? "true" : "false");
  if (!trigger) {
    r.status = FindingStatus::kWarn;
    r.summary = "no /proc/sysrq-trigger (kernel built without CONFIG_MAGIC_SYSRQ): stall reports "
                "get no backtrace of the stuck CPU";
    r.fix = "use a kernel built with CONFIG_MAGIC_SYSRQ=y";
    return r;
  }
  if (!ctx.config.evidence.sysrq_backtrace) {
    r.status = FindingStatus::kWarn;
    r.summary = "evidence.sysrq_backtrace = false: stall reports get no backtrace of the stuck CPU";
    r.fix = "set evidence.sysrq_backtrace = true in stallwatch.toml";
    return r;
  }
  // /proc/sysrq-trigger works for root whatever kernel.sysrq says; the mask gates the keyboard.
  const bool keyboard = mask && (*mask == 1 || (*mask & 8) != 0);
  r.status = FindingStatus::kOk;
  r.summary = fmt::format("stallwatch can trigger sysrq-l (backtrace of all CPUs) through "
                          "/proc/sysrq-trigger; kernel.sysrq = {} {} it from the keyboard",
                          mask ? std::to_string(*mask) : "?", keyboard ? "also allows" : "forbids");
  return r;
}

}  // namespace stallwatch::ctl
