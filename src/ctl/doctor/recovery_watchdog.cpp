// SPDX-License-Identifier: GPL-2.0-or-later
// Doctor, report group Recovery: host watchdogs, who feeds them, the hardware-watchdog item.
#include "stallwatch/ctl/doctor/watchdog.h"

#include <algorithm>
#include <map>

#include <fmt/format.h>

namespace stallwatch::ctl {

std::string watchdog_name_of(const std::string& device_path) {
  auto slash = device_path.rfind('/');
  std::string base = slash == std::string::npos ? device_path : device_path.substr(slash + 1);
  return base == "watchdog" ? "watchdog0" : base;
}

bool WatchdogAudit::systemd_feeds(const HostWatchdog& dev) const {
  if (!systemd_pid1 || !systemd.enabled) return false;
  return watchdog_name_of(systemd.device.empty() ? "/dev/watchdog0" : systemd.device) == dev.name;
}

bool WatchdogAudit::stallwatch_feeds(const HostWatchdog& dev) const {
  return !stallwatch_name.empty() && stallwatch_name == dev.name;
}

FedBy WatchdogAudit::fed_by(const HostWatchdog& dev) const {
  if (stallwatch_feeds(dev)) return FedBy::kStallwatch;
  if (systemd_feeds(dev)) return FedBy::kSystemd;
  if (systemd_pid1 && !systemd_known) return FedBy::kUnknown;
  return FedBy::kNobody;
}

WatchdogAudit audit_watchdogs(const DoctorContext& ctx) {
  WatchdogAudit a;
  const Sysroot& root = ctx.root;
  if (auto names = root.list_dir("/sys/class/watchdog")) {
    for (const auto& n : *names) {
      if (n.rfind("watchdog", 0) != 0) continue;
      const std::string dir = "/sys/class/watchdog/" + n + "/";
      HostWatchdog d;
      d.name = n;
      d.identity = read_trimmed(root, dir + "identity").value_or("");
      d.timeout = read_trimmed(root, dir + "timeout").value_or("");
      d.nowayout = read_trimmed(root, dir + "nowayout").value_or("");
      d.state = read_trimmed(root, dir + "state").value_or("");
      d.status = read_trimmed(root, dir + "status").value_or("");
      a.devices.push_back(std::move(d));
    }
  }
  std::sort(a.devices.begin(), a.devices.end(),
            [](const auto& x, const auto& y) { return x.name < y.name; });
  a.systemd_pid1 = read_trimmed(root, "/proc/1/comm").value_or("") == "systemd";
  // system.conf, then the drop-ins of every directory ordered by file name (a name in /etc
  // hides the same name elsewhere), as systemd applies them.
  std::vector<std::string> texts;
  std::vector<std::string> files;
  if (auto main = root.read_file("/etc/systemd/system.conf")) {
    a.systemd_known = true;
    texts.push_back(*main);
    files.push_back("/etc/systemd/system.conf");
  }
  std::map<std::string, std::string> dropins;  // name -> path; later dirs win
  for (const char* dir : {"/usr/lib/systemd/system.conf.d", "/usr/local/lib/systemd/system.conf.d",
                          "/run/systemd/system.conf.d", "/etc/systemd/system.conf.d"}) {
    if (auto names = root.list_dir(dir))
      for (const auto& n : *names)
        if (n.size() > 5 && n.substr(n.size() - 5) == ".conf")
          dropins[n] = std::string(dir) + "/" + n;
  }
  for (const auto& [name, path] : dropins) {
    if (auto t = root.read_file(path)) {
      texts.push_back(*t);
      files.push_back(path);
    }
  }
  if (!a.systemd_pid1) a.systemd_known = true;  // nothing to ask: systemd is not running
  a.systemd = parse_systemd_watchdog(texts);
  for (const auto& f : files) a.systemd_files += (a.systemd_files.empty() ? "" : ", ") + f;
  if (!ctx.config.watchdog.device.empty())
    a.stallwatch_name = watchdog_name_of(ctx.config.watchdog.device);
  return a;
}

namespace {

std::string describe(const HostWatchdog& d) {
  return fmt::format("{} ({}{}{})", d.name, d.identity.empty() ? "no identity" : d.identity,
                     d.timeout.empty() ? "" : ", timeout " + d.timeout + "s",
                     d.nowayout.empty() ? "" : ", nowayout " + d.nowayout);
}

}  // namespace

Finding audit_hardware_watchdog(const DoctorContext& ctx) {
  Finding r;
  const WatchdogAudit a = audit_watchdogs(ctx);
  for (const auto& d : a.devices)
    r.add("/sys/class/watchdog/" + d.name,
          fmt::format("identity={} timeout={} nowayout={} state={} status={}", d.identity,
                      d.timeout, d.nowayout, d.state, d.status));
  r.add("/proc/1/comm", a.systemd_pid1 ? "systemd" : "not systemd");
  r.add("RuntimeWatchdogSec", !a.systemd_known ? "unknown (/etc/systemd/system.conf unreadable)"
                              : a.systemd.set  ? a.systemd.value + " (" + a.systemd_files + ")"
                                               : "not set");
  r.add("watchdog.device",
        ctx.config.watchdog.device.empty() ? "\"\"" : ctx.config.watchdog.device);
  const std::string fix =
      "set watchdog.device = \"/dev/watchdog0\" and escalation.action = \"watchdog-device\" in "
      "stallwatch.toml, or RuntimeWatchdogSec=30s in /etc/systemd/system.conf";
  if (a.devices.empty()) {
    r.status = FindingStatus::kWarn;
    r.summary = "no hardware watchdog (/sys/class/watchdog is empty): nothing resets a hung host";
    r.fix = "load the board's watchdog driver (iTCO_wdt, sp5100_tco; i6300esb under QEMU; softdog "
            "as a last resort), then " +
            fix;
    return r;
  }
  std::vector<std::string> fed, unfed, unknown, both;
  bool only_softdog = true;
  for (const auto& d : a.devices) {
    const bool soft = d.identity == "Software Watchdog";
    if (a.stallwatch_feeds(d) && a.systemd_feeds(d)) both.push_back(d.name);
    switch (a.fed_by(d)) {
      case FedBy::kStallwatch:
        fed.push_back(describe(d) +
                      " fed by stallwatch (watchdog.device = " + ctx.config.watchdog.device + ")");
        only_softdog = only_softdog && soft;
        break;
      case FedBy::kSystemd:
        fed.push_back(describe(d) + " fed by systemd (RuntimeWatchdogSec=" + a.systemd.value + ")");
        only_softdog = only_softdog && soft;
        break;
      case FedBy::kUnknown: unknown.push_back(describe(d)); break;
      case FedBy::kNobody:
        if (d.state == "active") {
          fed.push_back(describe(d) + " is active, fed by another process");
          only_softdog = only_softdog && soft;
        } else {
          unfed.push_back(describe(d));
        }
        break;
    }
  }
  if (!both.empty()) {
    r.status = FindingStatus::kWarn;
    r.summary = fmt::format("both systemd (RuntimeWatchdogSec) and stallwatch (watchdog.device) "
                            "want {}: only one can open it",
                            both.front());
    r.fix =
        "keep one: RuntimeWatchdogSec=off in /etc/systemd/system.conf, or watchdog.device = \"\"";
    return r;
  }
  if (!fed.empty()) {
    if (only_softdog) {
      r.status = FindingStatus::kWarn;
      r.summary = fed.front() + "; softdog is a kernel timer: it cannot reset a host whose CPUs "
                                "are locked";
      r.fix = "load the board's hardware watchdog driver and feed that device instead";
      return r;
    }
    r.status = FindingStatus::kOk;
    r.summary = fed.front();
    return r;
  }
  if (!unknown.empty()) {
    r.status = FindingStatus::kUnknown;
    r.summary = unknown.front() + ": who feeds it is unknown (/etc/systemd/system.conf unreadable)";
    return r;
  }
  r.status = FindingStatus::kWarn;
  r.summary = unfed.front() + " is not fed by anyone: it will not reset a hung host";
  r.fix = fix;
  return r;
}

}  // namespace stallwatch::ctl
