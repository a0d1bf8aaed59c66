// SPDX-License-Identifier: GPL-2.0-or-later
// Supervisor: the daemon's main loop once the Daemon has started. It waits in poll() on the
// signal fd and on the CPU hotplug uevent socket (or polls the online CPUs when there is none):
// SIGHUP reloads the configuration (load, then Daemon::reload(), which plan_reload() decides;
// RELOADING=1 first, READY=1 after either way), a CPU uevent or the poll timeout resyncs the
// heartbeats (Daemon::sync_cpus(), plan_hotplug()), SIGTERM/SIGINT end the loop; then
// STOPPING=1 and Daemon::stop(). The signal fd is any fd that reads signalfd_siginfo records:
// block_signals() makes the real one.
// Main thread only.
#pragma once

#include <functional>
#include <string>

#include "stallwatch/core/config.h"
#include "stallwatch/core/result.h"
#include "stallwatch/core/unique_fd.h"
#include "stallwatch/daemon/daemon.h"
#include "stallwatch/daemon/notify.h"

namespace stallwatch::daemon {

class Supervisor {
 public:
  // Reads the configuration again for a reload (the file named at start).
  using LoadConfig = std::function<Result<Config>()>;

  // Blocks SIGTERM, SIGINT and SIGHUP in the calling thread and returns a signalfd for them.
  // Call before any thread starts, so every thread inherits the mask.
  static Result<UniqueFd> block_signals();

  Supervisor(Daemon& daemon, Notifier& notifier, UniqueFd signals, std::string config_path,
             LoadConfig load);
  Supervisor(const Supervisor&) = delete;
  Supervisor& operator=(const Supervisor&) = delete;

  // Until SIGTERM/SIGINT (or an error of poll or the signal fd); then stops the daemon.
  void run();

 private:
  void reload(int from_pid);

  Daemon& daemon_;
  Notifier& notifier_;
  UniqueFd signals_;
  std::string config_path_;
  LoadConfig load_;
};

}  // namespace stallwatch::daemon
