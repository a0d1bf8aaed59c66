// SPDX-License-Identifier: GPL-2.0-or-later
#include "stallwatch/daemon/supervisor.h"

#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <syslog.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>

#include <spdlog/spdlog.h>

#include "stallwatch/core/journal_writer.h"
#include "stallwatch/core/message_ids.h"
#include "stallwatch/daemon/logging.h"

namespace stallwatch::daemon {

Result<UniqueFd> Supervisor::block_signals() {
  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGTERM);
  sigaddset(&mask, SIGINT);
  sigaddset(&mask, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &mask, nullptr);
  UniqueFd fd(::signalfd(-1, &mask, SFD_CLOEXEC));
  if (!fd.valid()) return make_error("signalfd: {}", std::strerror(errno));
  return fd;
}

Supervisor::Supervisor(Daemon& daemon, Notifier& notifier, UniqueFd signals,
                       std::string config_path, LoadConfig load)
    : daemon_(daemon),
      notifier_(notifier),
      signals_(std::move(signals)),
      config_path_(std::move(config_path)),
      load_(std::move(load)) {}

void Supervisor::run() {
  // Signals, and CPU hotplug (kernel uevents, or a poll where there are none).
  for (;;) {
    pollfd fds[2] = {{signals_.get(), POLLIN, 0}, {daemon_.hotplug_fd(), POLLIN, 0}};
    const int nfds = daemon_.hotplug_fd() >= 0 ? 2 : 1;
    int rc = ::poll(fds, static_cast<nfds_t>(nfds), daemon_.hotplug_poll_ms());
    if (rc < 0) {
      if (errno == EINTR) continue;
      spdlog::critical("poll: {}", std::strerror(errno));
      break;
    }
    if (rc == 0 || (nfds == 2 && (fds[1].revents & POLLIN))) {
      if (rc == 0 || daemon_.drain_hotplug_fd()) daemon_.sync_cpus();
    }
    if (!(fds[0].revents & POLLIN)) continue;
    signalfd_siginfo si{};
    ssize_t n = ::read(signals_.get(), &si, sizeof si);
    if (n != sizeof si) {
      if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
      spdlog::critical("signalfd read: {}", std::strerror(errno));
      break;
    }
    if (si.ssi_signo == SIGHUP) {
      reload(static_cast<int>(si.ssi_pid));
      continue;
    }
    spdlog::info("{} received: stopping", strsignal(static_cast<int>(si.ssi_signo)));
    break;
  }
  notifier_.stopping();
  daemon_.stop();
}

void Supervisor::reload(int from_pid) {
  // Logged at once and answered with its duration: under systemd, `systemctl reload` may be
  // slow before the signal is even sent (README, "Reloading"); this says where the time went.
  const auto received = std::chrono::steady_clock::now();
  const auto answered = [&] {
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                        std::chrono::steady_clock::now() - received)
                        .count();
    spdlog::info("reload answered {} ms after SIGHUP (READY=1)", ms);
  };
  spdlog::info("SIGHUP from pid {}: reloading {}", from_pid, config_path_);
  notifier_.reloading();
  auto next = load_();
  if (!next) {
    spdlog::error("reload failed, keeping the running configuration: {}", next.error().message);
    journal_send_note(
        message_id::kConfigError, LOG_ERR,
        "configuration reload failed, running configuration kept: " + next.error().message,
        "config-error");
    daemon_.reload_failed();
    notifier_.ready();
    answered();
    return;
  }
  set_log_level(next->log.level);
  for (const auto& warning : next->warnings) spdlog::warn("{}", warning);
  daemon_.reload(std::move(*next));  // validated against what runs and is armed; READY=1
  answered();
}

}  // namespace stallwatch::daemon
