// SPDX-License-Identifier: GPL-2.0-or-later
// stallwatchctl: the operator's view of stallwatchd. status (status.json), reports (JSON stall
// reports), drill (a bounded real stall), check-config (the daemon's own parser), doctor (host
// audit).
#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <string>

#include <CLI/CLI.hpp>
#include <optional>

#include <fmt/format.h>

#include "stallwatch/core/clock.h"
#include "stallwatch/core/config.h"
#include "stallwatch/core/sanitize.h"
#include "stallwatch/core/sysroot.h"
#include "stallwatch/ctl/doctor/doctor.h"
#include "stallwatch/ctl/drill.h"
#include "stallwatch/ctl/metrics_view.h"
#include "stallwatch/ctl/reports_view.h"
#include "stallwatch/ctl/status_request.h"
#include "stallwatch/ctl/status_view.h"
#include "stallwatch/ctl/timeline_view.h"

namespace {

using namespace stallwatch;
using namespace stallwatch::ctl;

constexpr int kExitFailure = 1;
constexpr int kExitNotRunning = 3;  // as `systemctl status` / LSB: program is not running
constexpr int kExitConfig = 78;     // EX_CONFIG, as stallwatchd

struct Globals {
  std::string config_path;
  std::string runtime_dir;
  std::string state_dir;
};

// The daemon's directories: explicit options first, else from the configuration file (a
// missing default file means the built-in defaults, as for stallwatchd).
Result<Config> effective_config(const Globals& g) {
  const bool explicit_config = !g.config_path.empty();
  auto cfg = load_config(explicit_config ? g.config_path : kDefaultConfigPath, explicit_config);
  if (!cfg) return cfg;
  if (!g.runtime_dir.empty()) cfg->daemon.runtime_dir = g.runtime_dir;
  if (!g.state_dir.empty()) cfg->daemon.state_dir = g.state_dir;
  return cfg;
}

struct LiveStatus {
  StatusSnapshot snapshot;
  LivenessVerdict verdict;
};

// Reads status.json and judges liveness; an error result is "not running" with its reason.
Result<LiveStatus> live_status(const std::string& path) {
  const std::string dir = path.substr(0, path.rfind('/'));
  const RefreshResult refresh = request_status_refresh(dir, std::chrono::milliseconds(1000));
  auto text = read_file_capped(path, 1 << 20);
  if (!text)
    return make_error("stallwatchd is not running (no status file: {})", text.error().message);
  auto snap = parse_status(*text);
  if (!snap) return make_error("{}: {}", path, snap.error().message);
  LiveStatus ls;
  ls.snapshot = std::move(*snap);
  ls.verdict = assess_liveness(ls.snapshot, pid_is_stallwatchd(Sysroot(), ls.snapshot.pid),
                               mono_now_ns(), real_now_ns() / 1'000'000, path);
  if (refresh == RefreshResult::kNoAnswer && ls.verdict.liveness == Liveness::kRunning) {
    ls.verdict.liveness = Liveness::kStale;
    ls.verdict.message = fmt::format(
        "stallwatchd (pid {}) did not answer a status request within 1 s (last update {} ago); "
        "the daemon may be hung",
        ls.snapshot.pid, format_ms(ls.verdict.age_ms));
  }
  return ls;
}

// The effective configuration; nullopt after printing its error (the caller exits kExitConfig).
std::optional<Config> config_or_print(const Globals& g) {
  auto cfg = effective_config(g);
  if (!cfg) {
    std::fprintf(stderr, "%s\n", cfg.error().message.c_str());
    return std::nullopt;
  }
  return std::move(*cfg);
}

// The daemon's status.json under the effective runtime_dir; prints the config error if any.
std::optional<std::string> status_path(const Globals& g) {
  auto cfg = config_or_print(g);
  if (!cfg) return std::nullopt;
  return cfg->daemon.runtime_dir + "/status.json";
}

int cmd_status(const Globals& g, bool as_json) {
  const auto path = status_path(g);
  if (!path) return kExitConfig;
  auto ls = live_status(*path);
  if (!ls) {
    if (as_json)
      std::printf("%s\n", nlohmann::json{{"running", false},
                                         {"liveness", "not-running"},
                                         {"message", ls.error().message}}
                              .dump(2, ' ', false, nlohmann::json::error_handler_t::replace)
                              .c_str());
    std::fprintf(stderr, "%s\n", ls.error().message.c_str());
    return kExitNotRunning;
  }
  if (as_json) {
    std::fputs(format_status_json(ls->snapshot, ls->verdict).c_str(), stdout);
  } else if (ls->verdict.liveness == Liveness::kNotRunning) {
    // Stale numbers from a dead daemon would mislead: say so and show nothing else.
    std::fprintf(stderr, "%s\n", ls->verdict.message.c_str());
    return kExitNotRunning;
  } else {
    std::fputs(format_status(ls->snapshot, ls->verdict).c_str(), stdout);
  }
  return ls->verdict.liveness == Liveness::kRunning ? 0 : kExitNotRunning;
}

// Prometheus text format of the running daemon's status.json; exit 3 when it is not running.
int cmd_metrics(const Globals& g) {
  const auto path = status_path(g);
  if (!path) return kExitConfig;
  auto ls = live_status(*path);
  // Read again for the renderer: the file is replaced atomically, so either text is whole.
  auto text = ls ? read_file_capped(*path, 1 << 20) : Result<std::string>(ls.error());
  auto out = text ? metrics_exposition(*text, ls->verdict) : Result<std::string>(text.error());
  if (!out) {
    std::fprintf(stderr, "%s\n", out.error().message.c_str());
    return kExitNotRunning;
  }
  std::fputs(out->c_str(), stdout);
  return 0;
}

struct TimelineRequest {
  bool draw = false;  // --timeline
  int width = 0;      // --width; 0: the terminal's
};

int cmd_reports(const Globals& g, const std::string& id, bool as_json, const TimelineRequest& tl) {
  auto cfg = config_or_print(g);
  if (!cfg) return kExitConfig;
  const std::string dir = cfg->daemon.state_dir + "/reports";
  auto entries = list_reports(dir);
  if (!entries) {
    std::fprintf(stderr, "%s\n", entries.error().message.c_str());
    return kExitFailure;
  }
  if (id.empty()) {
    std::fputs((as_json ? format_report_list_json(*entries) : format_report_list(*entries)).c_str(),
               stdout);
    return 0;
  }
  auto found = find_report(*entries, id);
  if (!found) {
    std::fprintf(stderr, "%s\n", found.error().message.c_str());
    return kExitFailure;
  }
  const ReportEntry& e = **found;
  if (tl.draw && !as_json) {
    std::fputs(
        format_report_timeline(e, tl.width > 0 ? tl.width : terminal_columns(), want_colour())
            .c_str(),
        stdout);
    return e.parse_error ? kExitFailure : 0;
  }
  if (tl.draw && !e.parse_error) {  // --timeline --json: the timeline object the drawing uses
    std::printf(
        "%s\n",
        pick_timeline(e).dump(2, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
    return 0;
  }
  if (as_json) {
    if (e.parse_error) {
      std::fprintf(stderr, "%s: not a readable JSON report\n", escape_controls(e.path).c_str());
      return kExitFailure;
    }
    std::printf("%s\n",
                e.doc.dump(2, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
  } else {
    std::fputs(format_report(e).c_str(), stdout);
  }
  return e.parse_error ? kExitFailure : 0;
}

int cmd_check_config(const std::string& file) {
  const bool explicit_file = !file.empty();
  const std::string path = explicit_file ? file : kDefaultConfigPath;
  auto cfg = load_config(path, explicit_file);
  if (!cfg) {
    std::fprintf(stderr, "%s\n", cfg.error().message.c_str());
    return kExitConfig;
  }
  for (const auto& warning : cfg->warnings) std::fprintf(stderr, "warning: %s\n", warning.c_str());
  std::printf("%s: configuration is valid\n", path.c_str());
  return 0;
}

int cmd_drill(const Globals& g, const DrillRequest& req) {
  auto base = config_or_print(g);
  if (!base) return kExitConfig;
  const std::string status_path = base->daemon.runtime_dir + "/status.json";
  auto ls = live_status(status_path);
  if (!ls) {
    std::fprintf(stderr, "%s\n", ls.error().message.c_str());
    return kExitNotRunning;
  }
  if (ls->verdict.liveness != Liveness::kRunning) {
    std::fprintf(stderr, "%s\n", ls->verdict.message.c_str());
    return kExitNotRunning;
  }
  // The heartbeat priority: from the file the running daemon loaded, unless --config says else.
  Config cfg = *base;
  if (g.config_path.empty() && !ls->snapshot.config.empty() && ls->snapshot.config[0] == '/') {
    auto running = load_config(ls->snapshot.config, true);
    if (!running) {
      std::fprintf(stderr, "%s\n", running.error().message.c_str());
      return kExitConfig;
    }
    cfg = std::move(*running);
  }
  const CpuStatus* c = ls->snapshot.find_cpu(req.cpu);
  const bool monitored = c != nullptr && c->state != "offline";
  const std::int64_t threshold_ms = ls->snapshot.threshold_ms > 0
                                        ? ls->snapshot.threshold_ms
                                        : cfg.checker.threshold.count() / 1'000'000;
  auto plan = validate_drill(req, cfg.heartbeat.priority, threshold_ms,
                             cfg.checker.interval.count() / 1'000'000, monitored,
                             static_cast<int>(::sysconf(_SC_NPROCESSORS_CONF)));
  if (!plan) {
    std::fprintf(stderr, "drill: %s\n", plan.error().message.c_str());
    return kExitFailure;
  }
  plan->status_path = status_path;
  plan->runtime_dir = base->daemon.runtime_dir;
  plan->escalation_armed =
      cfg.escalation.action != EscalationAction::kNone && !cfg.escalation.dry_run;
  std::printf("drill: SCHED_FIFO priority %d busy loop on CPU %d for %.1f s (threshold %s)...\n",
              plan->priority, plan->cpu, req.duration_s, format_ms(threshold_ms).c_str());
  std::printf("drill: %s\n", describe_drill_escalation(cfg, req.duration_s).c_str());
  std::fflush(stdout);
  auto outcome = run_drill(*plan);
  if (!outcome) {
    std::fprintf(stderr, "drill: %s\n", outcome.error().message.c_str());
    return kExitFailure;
  }
  std::printf("%s\n", outcome->message.c_str());
  if (outcome->reported)
    std::printf("see: journalctl -u stallwatch STALLWATCH_CPU=%d; stallwatchctl reports\n",
                req.cpu);
  return outcome->reported ? 0 : kExitFailure;
}

int cmd_doctor(const Globals& g, const std::string& sysroot, bool as_json) {
  DoctorOptions opt;
  opt.sysroot = sysroot;
  opt.config_path = g.config_path;
  const auto results = run_doctor(collect_doctor_context(opt));
  std::fputs((as_json ? format_doctor_json(results) : format_doctor(results)).c_str(), stdout);
  return doctor_exit_status(results);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"stallwatchctl: status, stall reports, fire drill and config check for stallwatchd",
               "stallwatchctl"};
  app.require_subcommand(1);
  Globals g;
  app.add_option("-c,--config", g.config_path,
                 fmt::format("stallwatchd configuration (default {})", kDefaultConfigPath));
  app.add_option("--runtime-dir", g.runtime_dir, "override daemon.runtime_dir (status.json)");
  app.add_option("--state-dir", g.state_dir, "override daemon.state_dir (reports/)");
  app.set_version_flag("-V,--version", std::string("stallwatchctl ") + STALLWATCH_VERSION);

  bool as_json = false;
  auto* status = app.add_subcommand("status", "per-CPU heartbeat age, wakeup latency, stalls");
  status->add_flag("--json", as_json, "machine-readable output");

  std::string report_id;
  auto* reports = app.add_subcommand("reports", "list stall reports, newest first, or show one");
  auto* report_id_opt =
      reports->add_option("ID", report_id, "report to show (its name, or a unique part of it)");
  reports->add_flag("--json", as_json,
                    "machine-readable output (show: the report itself; with --timeline: its "
                    "timeline object)");
  TimelineRequest timeline_req;
  reports
      ->add_flag("--timeline", timeline_req.draw,
                 "draw the report's flight-recorder timeline (the seconds before the stall)")
      ->needs(report_id_opt);
  reports
      ->add_option("--width", timeline_req.width,
                   fmt::format("columns of the --timeline drawing ({}..{}; default: $COLUMNS, "
                               "else the terminal's, else {})",
                               kTimelineMinColumns, kTimelineMaxColumns, kTimelineMinColumns))
      ->check(CLI::Range(kTimelineMinColumns, kTimelineMaxColumns));

  DrillRequest drill_req;
  auto* drill =
      app.add_subcommand("drill", "fire drill: stall a CPU for real and check it is reported");
  drill->add_option("--cpu", drill_req.cpu, "CPU to stall (not 0 without --force)")->required();
  drill->add_option("--duration", drill_req.duration_s, "seconds (at most 30 without --force)")
      ->required();
  drill->add_flag("--force", drill_req.force, "allow CPU 0 and durations over 30 s");

  auto* metrics = app.add_subcommand("metrics", "the daemon's state in Prometheus text format");
  metrics->fallthrough();  // `stallwatchctl metrics --runtime-dir DIR` works too

  std::string check_file;
  auto* check = app.add_subcommand("check-config", "validate a configuration file (exit 0 or 78)");
  check->add_option("FILE", check_file,
                    fmt::format("file to check (default {})", kDefaultConfigPath));

  std::string doctor_sysroot;
  auto* doctor = app.add_subcommand(
      "doctor", "audit this host for known causes of stalls and its protection ladder (exit 0 ok, "
                "1 warn, 2 fail)");
  doctor->add_flag("--json", as_json, "machine-readable output");
  doctor->add_option("--sysroot", doctor_sysroot, "read /proc, /sys, /dev and /etc under DIR");

  CLI11_PARSE(app, argc, argv);
  if (status->parsed()) return cmd_status(g, as_json);
  if (reports->parsed()) return cmd_reports(g, report_id, as_json, timeline_req);
  if (drill->parsed()) return cmd_drill(g, drill_req);
  if (check->parsed()) return cmd_check_config(check_file);
  if (doctor->parsed()) return cmd_doctor(g, doctor_sysroot, as_json);
  if (metrics->parsed()) return cmd_metrics(g);
  return kExitFailure;
}
