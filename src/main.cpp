// SPDX-License-Identifier: GPL-2.0-or-later
// stallwatchd: argv, signals, thread start/stop. Everything else lives in the core library.
#include <malloc.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <syslog.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>

#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include "stallwatch/core/config.h"
#include "stallwatch/daemon/daemon.h"
#include "stallwatch/daemon/exit_path.h"
#include "stallwatch/daemon/journal_sink.h"
#include "stallwatch/daemon/logging.h"
#include "stallwatch/core/message_ids.h"
#include "stallwatch/daemon/notify.h"
#include "stallwatch/core/unique_fd.h"

namespace {

constexpr int kExitConfig = 78;   // EX_CONFIG: the unit's RestartPreventExitStatus
constexpr int kExitNoPerm = 77;   // EX_NOPERM

}  // namespace

int main(int argc, char** argv) {
  using namespace stallwatch;
  using namespace stallwatch::daemon;
  CLI::App app{"stallwatchd: per-CPU stall monitor (userspace soft-lockup detector with evidence)",
               "stallwatchd"};
  std::string config_path;
  bool check_only = false;
  bool print_config = false;
  std::string events = "auto";
  std::string sysroot;
  app.add_option("-c,--config", config_path,
                 fmt::format("configuration file (default {}; built-in defaults if it is absent)",
                             kDefaultConfigPath));
  app.add_flag("--check-config", check_only, "validate the configuration and exit (0 valid, 78 not)");
  app.add_flag("--print-config", print_config, "print the effective configuration as TOML and exit");
  app.add_option("--events", events, "where stall events go: auto (journald under systemd, else "
                                     "stderr), journal, stderr, both")
      ->check(CLI::IsMember({"auto", "journal", "stderr", "both"}));
  app.add_option("--sysroot", sysroot, "prefix for /proc, /sys and /dev (testing)")->group("");
  bool foreground = true;
  app.add_flag("-f,--foreground", foreground, "accepted for compatibility; stallwatchd never forks");
  app.set_version_flag("-V,--version", std::string("stallwatchd ") + STALLWATCH_VERSION);
  CLI11_PARSE(app, argc, argv);

  const bool explicit_config = !config_path.empty();
  if (!explicit_config) config_path = kDefaultConfigPath;
  auto config = load_config(config_path, explicit_config);
  if (!config) {
    std::fprintf(stderr, "%s\n", config.error().message.c_str());
    return kExitConfig;
  }
  if (check_only) {
    std::printf("%s: configuration is valid\n", config_path.c_str());
    return 0;
  }
  if (print_config) {
    std::fputs(format_config(*config).c_str(), stdout);
    return 0;
  }

  // Signals are taken through a signalfd on the main thread; block them before any thread starts
  // so every thread inherits the mask.
  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGTERM);
  sigaddset(&mask, SIGINT);
  sigaddset(&mask, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &mask, nullptr);
  UniqueFd sig_fd(signalfd(-1, &mask, SFD_CLOEXEC));
  if (!sig_fd.valid()) {
    spdlog::critical("signalfd: {}", std::strerror(errno));
    return 1;
  }

  // A closed stdout/stderr pipe or journald socket must not kill a daemon that may own a
  // hardware watchdog: writes fail with EPIPE instead, and the sinks handle that.
  signal(SIGPIPE, SIG_IGN);
  // status.json and the textfile are SwapFiles: another process opening a spare in the
  // microseconds its write lease is held makes the kernel send SIGIO, which would kill us.
  signal(SIGIO, SIG_IGN);
  // Every thread created without explicit attributes (spdlog's, the dispatcher) gets a small
  // stack: mlockall locks every byte a thread reserves.
  {
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 256 * 1024);
    pthread_setattr_default_np(&attr);
    pthread_attr_destroy(&attr);
  }
  const bool under_journald = event_output_from_env() == EventOutput::kJournal;
  setup_logging(under_journald);
  set_log_level(config->log.level);
  spdlog::info("stallwatchd {} starting (config: {})", STALLWATCH_VERSION, config->source);

  // One malloc arena: few threads allocate, and every arena would be locked by mlockall.
  mallopt(M_ARENA_MAX, 1);
  if (mlockall(MCL_CURRENT | MCL_FUTURE) != 0)
    spdlog::warn("mlockall failed ({}): heartbeats may be delayed by page faults under memory "
                 "pressure; grant CAP_IPC_LOCK or raise LimitMEMLOCK", std::strerror(errno));

  SystemdNotifier notifier;
  DaemonOptions options;
  options.root = Sysroot(sysroot);
  options.output = events == "journal" ? EventOutput::kJournal
                   : events == "stderr" ? EventOutput::kStderr
                   : events == "both"   ? EventOutput::kBoth
                                        : event_output_from_env();
  Daemon daemon(*config, options, notifier);
  if (auto st = daemon.start(); !st) {
    spdlog::critical("{}", st.error().message);
    notifier.status("failed: " + st.error().message);
    switch (daemon.start_error()) {
      case StartError::kConfig: return kExitConfig;
      case StartError::kPermission: return kExitNoPerm;
      default: return 1;
    }
  }

  // The supervisor: signals, and CPU hotplug (kernel uevents, or a poll where there are none).
  for (;;) {
    pollfd fds[2] = {{sig_fd.get(), POLLIN, 0}, {daemon.hotplug_fd(), POLLIN, 0}};
    const int nfds = daemon.hotplug_fd() >= 0 ? 2 : 1;
    int rc = ::poll(fds, static_cast<nfds_t>(nfds), daemon.hotplug_poll_ms());
    if (rc < 0) {
      if (errno == EINTR) continue;
      spdlog::critical("poll: {}", std::strerror(errno));
      break;
    }
    if (rc == 0 || (nfds == 2 && (fds[1].revents & POLLIN))) {
      if (rc == 0 || daemon.drain_hotplug_fd()) daemon.sync_cpus();
    }
    if (!(fds[0].revents & POLLIN)) continue;
    signalfd_siginfo si{};
    ssize_t n = ::read(sig_fd.get(), &si, sizeof si);
    if (n != sizeof si) {
      if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
      spdlog::critical("signalfd read: {}", std::strerror(errno));
      break;
    }
    if (si.ssi_signo == SIGHUP) {
      // Logged at once and answered with its duration: under systemd, `systemctl reload` may be
      // slow before the signal is even sent (README, "Reloading"); this says where the time went.
      const auto received = std::chrono::steady_clock::now();
      const auto answered = [&] {
        const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::steady_clock::now() - received)
                            .count();
        spdlog::info("reload answered {} ms after SIGHUP (READY=1)", ms);
      };
      spdlog::info("SIGHUP from pid {}: reloading {}", si.ssi_pid, config_path);
      notifier.reloading();
      auto next = load_config(config_path, explicit_config);
      if (!next) {
        spdlog::error("reload failed, keeping the running configuration: {}", next.error().message);
        journal_send_note(message_id::kConfigError, LOG_ERR,
                          "configuration reload failed, running configuration kept: " +
                              next.error().message,
                          "config-error");
        daemon.reload_failed();
        notifier.ready();
        answered();
        continue;
      }
      set_log_level(next->log.level);
      daemon.reload(std::move(*next));  // validated against what runs and is armed; READY=1
      answered();
      continue;
    }
    spdlog::info("{} received: stopping", strsignal(static_cast<int>(si.ssi_signo)));
    break;
  }
  notifier.stopping();
  daemon.stop();
  spdlog::info("stopped");
  // The log thread may be blocked on a reader that stopped reading: give it a moment to drain,
  // then leave without joining it (and without destructors that would wait for threads
  // abandoned behind a stalled CPU).
  flush_logging(std::chrono::milliseconds(300));
  std::fflush(nullptr);
  gather_threads_for_exit(200);
  _exit(0);
}
