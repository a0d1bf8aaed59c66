// SPDX-License-Identifier: GPL-2.0-or-later
// Doctor, report group This boot: what already happened this boot: the kernel taint flags and the
// stall verdicts in the kernel log.
#include <algorithm>

#include <fmt/format.h>

#include "stallwatch/ctl/doctor/doctor.h"
#include "stallwatch/ctl/doctor/parse.h"

namespace stallwatch::ctl {

Finding audit_kernel_taint(const DoctorContext& ctx) {
  Finding r;
  auto text = read_trimmed(ctx.root, "/proc/sys/kernel/tainted");
  r.add("/proc/sys/kernel/tainted", text.value_or("absent"));
  auto value = text ? parse_integer(*text) : std::nullopt;
  if (!value || *value < 0) {
    r.status = FindingStatus::kUnknown;
    r.summary = "kernel.tainted is not readable";
    return r;
  }
  const auto mask = static_cast<std::uint64_t>(*value);
  if (mask == 0) {
    r.status = FindingStatus::kOk;
    r.summary = "kernel not tainted";
    return r;
  }
  const auto flags = decode_taint(mask);
  bool lockup = false, died = false, mce = false, modules = false;
  for (const auto& f : flags) {
    r.add(fmt::format("taint bit {} ({})", f.bit, f.letter), f.meaning);
    lockup = lockup || f.letter == 'L';
    died = died || f.letter == 'D';
    mce = mce || f.letter == 'M';
    modules = modules || f.letter == 'O' || f.letter == 'P' || f.letter == 'E';
  }
  // Modules that tainted the kernel, with their own letters (/sys/module/<name>/taint).
  std::vector<std::string> named;
  if (auto mods = ctx.root.list_dir("/sys/module")) {
    std::sort(mods->begin(), mods->end());
    for (const auto& m : *mods) {
      auto t = read_trimmed(ctx.root, "/sys/module/" + m + "/taint");
      if (t && !t->empty()) named.push_back(fmt::format("{}({})", m, *t));
    }
  }
  std::string mod_list;
  for (const auto& n : named) mod_list += (mod_list.empty() ? "" : ", ") + n;
  if (!mod_list.empty()) r.add("/sys/module/*/taint", mod_list);
  const std::string letters = taint_letters(mask);
  const std::string mods_text =
      modules
          ? "; modules: " + (mod_list.empty() ? std::string("not named in /sys/module") : mod_list)
          : "";
  if (lockup || died || mce) {
    r.status = FindingStatus::kFail;
    r.summary = fmt::format("kernel tainted {}: {}{}", letters,
                            lockup ? "a soft lockup already happened this boot (L)"
                            : died ? "the kernel oopsed this boot (D)"
                                   : "a machine check exception happened this boot (M)",
                            mods_text);
    r.fix = "read the first report: journalctl -k -b | grep -m1 -A40 -e 'soft lockup' -e 'Oops' "
            "-e 'Machine check'; the flag clears only on reboot";
    return r;
  }
  r.status = FindingStatus::kWarn;
  std::string meanings;
  for (const auto& f : flags)
    meanings += fmt::format("{}{} ({})", meanings.empty() ? "" : ", ", f.meaning, f.letter);
  r.summary = fmt::format("kernel tainted {}: {}{}", letters, meanings, mods_text);
  r.fix = modules ? "reproduce without the out-of-tree/proprietary modules before blaming the "
                    "kernel; report lockups to the module's vendor"
                  : "read why: journalctl -k -b | grep -i -e taint -e 'cut here'";
  return r;
}

Finding audit_past_lockups(const DoctorContext& ctx) {
  Finding r;
  r.needs_root = true;
  if (!ctx.kmsg.readable) {
    r.add("/dev/kmsg", ctx.kmsg.error);
    r.status = FindingStatus::kUnknown;
    r.summary = "cannot read the kernel log (" + ctx.kmsg.error + ")";
    r.fix = "run stallwatchctl doctor as root";
    return r;
  }
  const LogHistory h = scan_kernel_log(ctx.kmsg.messages);
  r.add("/dev/kmsg", fmt::format("{} kernel records since boot", ctx.kmsg.messages.size()));
  std::string found;
  for (int k = 0; k < 5; ++k) {
    if (h.count[k] == 0) continue;
    r.add(std::string(history_kind_name(k)), fmt::format("{}, last: {}", h.count[k], h.last[k]));
    found += fmt::format("{}{} {}{}", found.empty() ? "" : ", ", h.count[k], history_kind_name(k),
                         h.count[k] > 1 && k != 4 ? "s" : "");
  }
  r.fix = "read them: journalctl -k -b | grep -e 'soft lockup' -e 'hard LOCKUP' -e 'rcu.*stall' "
          "-e 'blocked for more than' -e 'RT throttling'; stallwatchctl reports";
  if (h.count[0] + h.count[1] + h.count[2] > 0) {
    r.status = FindingStatus::kFail;
    r.summary = "stalls in the kernel log since boot: " + found;
    return r;
  }
  if (!found.empty()) {
    r.status = FindingStatus::kWarn;
    r.summary = "in the kernel log since boot: " + found;
    return r;
  }
  r.status = FindingStatus::kOk;
  r.fix.clear();
  r.summary = "no lockups, RCU stalls, hung tasks or RT throttling in the kernel log since boot";
  return r;
}

}  // namespace stallwatch::ctl
