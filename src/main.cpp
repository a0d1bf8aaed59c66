// SPDX-License-Identifier: GPL-2.0-or-later
// stallwatchd: argv, process setup (signal mask, mlockall, logging), the Daemon started and the
// Supervisor run, exit codes. Everything else lives in the libraries.
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>

#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>

#include "stallwatch/core/config.h"
#include "stallwatch/core/thread_start.h"
#include "stallwatch/daemon/daemon.h"
#include "stallwatch/daemon/exit_path.h"
#include "stallwatch/daemon/huge_text.h"
#include "stallwatch/daemon/journal_sink.h"
#include "stallwatch/daemon/logging.h"
#include "stallwatch/daemon/memory_lock.h"
#include "stallwatch/daemon/notify.h"
#include "stallwatch/daemon/supervisor.h"

namespace {

constexpr int kExitConfig = 78;  // EX_CONFIG: the unit's RestartPreventExitStatus
constexpr int kExitNoPerm = 77;  // EX_NOPERM

}  // namespace

int main(int argc, char** argv) {
  using namespace stallwatch;
  using namespace stallwatch::daemon;
  // One malloc arena: few threads allocate, and every arena reserves 64 MiB that mlockall would
  // lock. Set before any thread starts: the logging thread allocating while the main thread held
  // the arena made a second one now and then (VmLck 78 MiB instead of 14 MiB, 2026-12-03).
  mallopt(M_ARENA_MAX, 1);
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
  app.add_flag("--check-config", check_only,
               "validate the configuration and exit (0 valid, 78 not)");
  app.add_flag("--print-config", print_config,
               "print the effective configuration as TOML and exit");
  app.add_option("--events", events,
                 "where stall events go: auto (journald under systemd, else "
                 "stderr), journal, stderr, both")
      ->check(CLI::IsMember({"auto", "journal", "stderr", "both"}));
  app.add_option("--sysroot", sysroot, "prefix for /proc, /sys and /dev (testing)")->group("");
  bool foreground = true;
  app.add_flag("-f,--foreground", foreground,
               "accepted for compatibility; stallwatchd never forks");
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
    for (const auto& warning : config->warnings)
      std::fprintf(stderr, "warning: %s\n", warning.c_str());
    std::printf("%s: configuration is valid\n", config_path.c_str());
    return 0;
  }
  if (print_config) {
    std::fputs(format_config(*config).c_str(), stdout);
    return 0;
  }

  // Signals are taken through a signalfd on the main thread; block them before any thread starts
  // so every thread inherits the mask.
  auto signals = Supervisor::block_signals();
  if (!signals) {
    spdlog::critical("{}", signals.error().message);
    return 1;
  }

  // A closed stdout/stderr pipe or journald socket must not kill a daemon that may own a
  // hardware watchdog: writes fail with EPIPE instead, and the sinks handle that.
  signal(SIGPIPE, SIG_IGN);
  // status.json and the textfile are AtomicFiles: another process opening a spare in the
  // microseconds its write lease is held makes the kernel send SIGIO, which would kill us.
  signal(SIGIO, SIG_IGN);
  // Every thread created without explicit attributes (spdlog's, the dispatcher) gets a small
  // stack; a thread started through start_thread keeps only the top of it locked
  // (kHelperLockedStackBytes), the rest an unlocked reserve.
  {
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 256 * 1024);
    pthread_setattr_default_np(&attr);
    pthread_attr_destroy(&attr);
  }
  // The code into one 2 MiB page (huge_text.h): before any thread runs and before mlockall.
  HugeTextResult huge_text;
  if (config->daemon.huge_code) huge_text = move_text_to_huge_pages();
  // Locked before the first thread (the logger's) starts: every thread then keeps only the top
  // of its stack locked (thread_start.h), the logger's too.
  std::string not_locked_why;
  const bool memory_is_locked = lock_memory(&not_locked_why);
  if (memory_is_locked) note_memory_locked();
  const bool under_journald = event_output_from_env() == EventOutput::kJournal;
  setup_logging(under_journald);
  set_log_level(config->log.level);
  spdlog::info("stallwatchd {} starting (config: {})", STALLWATCH_VERSION, config->source);
  for (const auto& warning : config->warnings) spdlog::warn("{}", warning);
  if (huge_text.moved && huge_text.why_not.empty()) {
    spdlog::info("daemon.huge_code: code moved into {} KiB of huge pages", huge_text.bytes / 1024);
  } else if (huge_text.moved) {
    spdlog::warn("daemon.huge_code: code moved, but {}", huge_text.why_not);
  } else if (config->daemon.huge_code) {
    spdlog::warn("daemon.huge_code: code stays in 4 KiB pages: {}", huge_text.why_not);
  }
  if (!memory_is_locked)
    spdlog::warn("memory not locked: {}; heartbeats may be delayed by page faults under memory "
                 "pressure; grant CAP_IPC_LOCK or set LimitMEMLOCK=infinity",
                 not_locked_why);

  SystemdNotifier notifier;
  DaemonOptions options;
  options.root = Sysroot(sysroot);
  options.kernel_uevents = options.root.prefix().empty();  // a fixture tree gets none: poll it
  options.output = events == "journal"  ? EventOutput::kJournal
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

  Supervisor supervisor(daemon, notifier, std::move(*signals), config_path,
                        [&] { return load_config(config_path, explicit_config); });
  supervisor.run();
  spdlog::info("stopped");
  // The log thread may be blocked on a reader that stopped reading: give it a moment to drain,
  // then leave without joining it (and without destructors that would wait for threads
  // abandoned behind a stalled CPU).
  flush_logging(std::chrono::milliseconds(300));
  std::fflush(nullptr);
  gather_threads_for_exit(200);
  _exit(0);
}
