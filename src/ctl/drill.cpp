// SPDX-License-Identifier: GPL-2.0-or-later
// stallwatchctl drill: a bounded SCHED_FIFO hog and the check that stallwatchd reported it.
#include "stallwatch/ctl/drill.h"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>

#include <fmt/format.h>

#include "stallwatch/core/clock.h"
#include "stallwatch/core/drill_announcement.h"
#include "stallwatch/core/sysroot.h"
#include "stallwatch/core/unique_fd.h"
#include "stallwatch/ctl/status_request.h"
#include "stallwatch/ctl/status_view.h"

namespace stallwatch::ctl {

namespace {

void sleep_ms(int ms) {
  timespec ts{ms / 1000, static_cast<long>(ms % 1000) * 1'000'000};
  while (::nanosleep(&ts, &ts) != 0 && errno == EINTR) {}
}

// How long the daemon has to list an announced drill in status.json before the hog starts.
constexpr std::int64_t kAckWaitNs = 2'000'000'000;

// The child: never returns. Exit codes: 0 ran to its deadline, 2..5 setup failures, 6 no go
// (the parent closed go_fd without a byte: the daemon did not acknowledge the announcement).
[[noreturn]] void hog_child(const DrillPlan& plan, pid_t parent, int ready_fd, int go_fd) {
  // Dies with the parent, whatever kills the parent.
  if (::prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) ::_exit(2);
  if (::getppid() != parent) ::_exit(2);  // the parent died before the prctl
  ::prctl(PR_SET_NAME, "sw-drill-hog");
  // The kernel's own bound on RT CPU time without blocking: SIGXCPU at the soft limit, SIGKILL at
  // the hard one, so even a stopped clock cannot keep the hog running.
  const auto budget_us = static_cast<rlim_t>(plan.duration_ns / 1000);
  rlimit rl{budget_us + 500'000, budget_us + 1'000'000};
  if (::setrlimit(RLIMIT_RTTIME, &rl) != 0) ::_exit(3);
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(plan.cpu, &set);
  if (::sched_setaffinity(0, sizeof set, &set) != 0) ::_exit(4);
  sched_param sp{};
  sp.sched_priority = plan.priority;
  if (::sched_setscheduler(0, SCHED_FIFO, &sp) != 0) ::_exit(5);
  // Blocked (not spinning) until the daemon has read the announcement.
  char go = 0;
  ssize_t got;
  while ((got = ::read(go_fd, &go, 1)) < 0 && errno == EINTR) {}
  if (got != 1) ::_exit(6);
  ::close(go_fd);
  const std::int64_t start = mono_now_ns();
  const std::int64_t end = start + plan.duration_ns;
  (void)!::write(ready_fd, &start, sizeof start);
  ::close(ready_fd);
  while (mono_now_ns() < end) {}
  ::_exit(0);
}

// Writes <runtime_dir>/drills/<pid>.json exclusively, never through a link; returns its path.
Result<std::string> announce(const std::string& runtime_dir, const DrillAnnouncement& a) {
  const std::string dir = runtime_dir + "/" + kDrillDir;
  if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST)
    return make_error("{}: {}", dir, std::strerror(errno));
  const std::string path = fmt::format("{}/{}.json", dir, a.pid);
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644));
  if (!fd.valid()) return make_error("{}: {}", path, std::strerror(errno));
  const std::string text = encode_drill_announcement(a);
  if (::write(fd.get(), text.data(), text.size()) != static_cast<ssize_t>(text.size())) {
    ::unlink(path.c_str());
    return make_error("{}: short write", path);
  }
  return path;
}

Result<StatusSnapshot> read_status(const std::string& path) {
  auto text = read_file_capped(path, 1 << 20);
  if (!text) return text.error();
  return parse_status(*text);
}

}  // namespace

Result<DrillPlan> validate_drill(const DrillRequest& req, int heartbeat_priority,
                                 std::int64_t threshold_ms, std::int64_t checker_interval_ms,
                                 bool cpu_monitored, int cpu_count) {
  if (req.cpu < 0 || req.cpu >= cpu_count)
    return make_error("--cpu {}: no such CPU (this machine has CPUs 0-{})", req.cpu, cpu_count - 1);
  if (req.cpu == 0 && !req.force)
    return make_error(
        "refusing to hog CPU 0 (housekeeping work runs there); use --force to insist");
  if (!(req.duration_s > 0) || !std::isfinite(req.duration_s))
    return make_error("--duration must be a positive number of seconds");
  if (req.duration_s > kDrillMaxSecondsUnforced && !req.force)
    return make_error("refusing a drill longer than {:.0f} s without --force",
                      kDrillMaxSecondsUnforced);
  if (!cpu_monitored)
    return make_error("CPU {} is not monitored by the running stallwatchd (see heartbeat.cpus, "
                      "heartbeat.include_isolated)",
                      req.cpu);
  const double needed_s =
      static_cast<double>(threshold_ms + 2 * checker_interval_ms) / 1000.0 + 0.2;
  if (req.duration_s < needed_s)
    return make_error("--duration {} s is too short: the daemon reports a stall only after its "
                      "threshold ({} ms); use at least {:.1f} s",
                      req.duration_s, threshold_ms, needed_s);
  if (heartbeat_priority < 1 || heartbeat_priority > 99)
    return make_error("heartbeat priority {} is not a SCHED_FIFO priority", heartbeat_priority);
  DrillPlan p;
  p.cpu = req.cpu;
  p.duration_ns = static_cast<std::int64_t>(req.duration_s * 1e9);
  p.priority = heartbeat_priority;
  p.threshold_ms = threshold_ms;
  return p;
}

std::string describe_drill_escalation(const Config& c, double duration_s) {
  const auto& esc = c.escalation;
  if (esc.action == EscalationAction::kNone) return "escalation: none configured";
  const std::string after = format_duration(esc.after);
  std::string real;
  switch (esc.action) {
    case EscalationAction::kNone: break;
    case EscalationAction::kSystemd:
      real = "send WATCHDOG=trigger to systemd (the unit's watchdog handling and FailureAction= "
             "apply)";
      break;
    case EscalationAction::kWatchdogDevice:
      real = fmt::format("stop feeding {} (timeout {}): the hardware resets the machine",
                         c.watchdog.device.empty() ? "watchdog.device" : c.watchdog.device,
                         format_duration(c.watchdog.timeout));
      break;
    case EscalationAction::kPanic:
      real = esc.allow_panic ? "crash the kernel through /proc/sysrq-trigger ('c')"
                             : "nothing (panic without escalation.allow_panic)";
      break;
  }
  std::string reach =
      static_cast<double>(esc.after.count()) / 1e9 < duration_s
          ? ""
          : fmt::format(" (this drill is shorter than {}: it would not get there)", after);
  if (esc.dry_run)
    return fmt::format("escalation: action = \"{}\" after {}, dry_run: a real stall would only "
                       "be logged as \"would {}\"{}",
                       to_string(esc.action), after, real, reach);
  return fmt::format("escalation: action = \"{}\" after {}: a real stall would {}{}; this drill "
                     "is announced to stallwatchd, which reports it with STALLWATCH_DRILL=1 and "
                     "skips the escalation",
                     to_string(esc.action), after, real, reach);
}

Result<DrillOutcome> run_drill(const DrillPlan& plan) {
  DrillOutcome out;
  auto before = read_status(plan.status_path);
  if (!before) return make_error("cannot read {}: {}", plan.status_path, before.error().message);
  const CpuStatus* c = before->find_cpu(plan.cpu);
  if (c == nullptr) return make_error("CPU {} is not in {}", plan.cpu, plan.status_path);
  out.stalls_before = c->stalls;

  // Keep this process off the hogged CPU so that it can watch and, if need be, kill the hog.
  cpu_set_t mine;
  CPU_ZERO(&mine);
  if (::sched_getaffinity(0, sizeof mine, &mine) == 0 && CPU_ISSET(plan.cpu, &mine) &&
      CPU_COUNT(&mine) > 1) {
    CPU_CLR(plan.cpu, &mine);
    ::sched_setaffinity(0, sizeof mine, &mine);
  }

  int pipefd[2];
  if (::pipe2(pipefd, O_CLOEXEC) != 0) return make_error("pipe: {}", std::strerror(errno));
  int gofd[2];
  if (::pipe2(gofd, O_CLOEXEC) != 0) {
    ::close(pipefd[0]);
    ::close(pipefd[1]);
    return make_error("pipe: {}", std::strerror(errno));
  }
  const pid_t parent = ::getpid();
  const pid_t child = ::fork();
  if (child < 0) return make_error("fork: {}", std::strerror(errno));
  if (child == 0) {
    ::close(pipefd[0]);
    ::close(gofd[1]);
    hog_child(plan, parent, pipefd[1], gofd[0]);
  }
  ::close(pipefd[1]);
  ::close(gofd[0]);
  auto abort_hog = [&] {
    ::close(gofd[1]);  // no go: the hog exits without spinning
    ::kill(child, SIGKILL);
    ::waitpid(child, nullptr, 0);
    ::close(pipefd[0]);
  };
  // Announce the hog, and start it only once the daemon lists it in status.json: by then the
  // dispatcher has posted the drill's window to the check, which decides drill-ness where the
  // feeding is, so the escalation that falls due during the drill stops nothing. Without that
  // acknowledgement a configured escalation would really happen, so the drill does not start.
  DrillAnnouncement ann;
  ann.cpu = plan.cpu;
  ann.pid = child;
  ann.start_mono_ns = mono_now_ns();
  ann.end_mono_ns = ann.start_mono_ns + kAckWaitNs + plan.duration_ns + 1'000'000'000;
  auto announced = announce(plan.runtime_dir, ann);
  if (!announced && plan.escalation_armed) {
    abort_hog();
    return make_error("cannot announce the drill to stallwatchd ({}); with escalation "
                      "configured the drill would escalate for real, so it was not started",
                      announced.error().message);
  }
  struct Unannounce {
    std::string path;
    ~Unannounce() {
      if (!path.empty()) ::unlink(path.c_str());
    }
  } unannounce{announced ? *announced : std::string()};
  bool acked = false;
  if (announced) {
    const std::int64_t ack_deadline = mono_now_ns() + kAckWaitNs;
    while (!acked && mono_now_ns() < ack_deadline) {
      (void)request_status_refresh(plan.runtime_dir, std::chrono::milliseconds(200));
      if (auto st = read_status(plan.status_path))
        acked =
            std::find(st->drill_pids.begin(), st->drill_pids.end(), child) != st->drill_pids.end();
      if (!acked) sleep_ms(50);
    }
  }
  out.acknowledged = acked;
  if (!acked && plan.escalation_armed) {
    abort_hog();
    return make_error("stallwatchd did not list the drill announcement ({}) in {} within {} s "
                      "(not running, or older than this stallwatchctl?); with escalation "
                      "configured the drill would escalate for real, so it was not started",
                      announced ? *announced : std::string("none"), plan.status_path,
                      kAckWaitNs / 1'000'000'000);
  }
  const char go = 'g';
  if (::write(gofd[1], &go, 1) != 1) {
    abort_hog();
    return make_error("cannot start the hog: {}", std::strerror(errno));
  }
  ::close(gofd[1]);
  std::int64_t hog_start = 0;
  const bool started = ::read(pipefd[0], &hog_start, sizeof hog_start) == sizeof hog_start;
  ::close(pipefd[0]);

  // Wait for the hog, bounded: its deadline plus a margin, then SIGKILL.
  const std::int64_t kill_at = mono_now_ns() + plan.duration_ns + 3'000'000'000;
  int wstatus = 0;
  for (;;) {
    pid_t r = ::waitpid(child, &wstatus, WNOHANG);
    if (r == child) break;
    if (r < 0 && errno != EINTR) return make_error("waitpid: {}", std::strerror(errno));
    if (mono_now_ns() > kill_at) {
      ::kill(child, SIGKILL);
      ::waitpid(child, &wstatus, 0);
      return make_error("the hog outlived its deadline and was killed");
    }
    sleep_ms(50);
  }
  if (!started || !WIFEXITED(wstatus) || WEXITSTATUS(wstatus) != 0) {
    int code = WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : -1;
    const char* why = code == 2   ? "PR_SET_PDEATHSIG"
                      : code == 3 ? "setrlimit(RLIMIT_RTTIME)"
                      : code == 4 ? "sched_setaffinity (is the CPU online?)"
                      : code == 5 ? "sched_setscheduler(SCHED_FIFO) (needs root or CAP_SYS_NICE)"
                      : code == 6 ? "it was not told to start"
                                  : "it was killed";
    return make_error("the hog could not run: {}", why);
  }
  out.hog_ran_ns = mono_now_ns() - hog_start;

  // The daemon reports within threshold + a check interval; the status file lags up to 1 s.
  const std::int64_t give_up = mono_now_ns() + 3'000'000'000;
  for (;;) {
    auto now = read_status(plan.status_path);
    if (now) {
      if (const CpuStatus* after = now->find_cpu(plan.cpu); after != nullptr) {
        out.stalls_after = after->stalls;
        if (after->stalls > out.stalls_before) {
          out.reported = true;
          break;
        }
      }
    }
    if (mono_now_ns() > give_up) break;
    sleep_ms(100);
  }
  out.message =
      out.reported
          ? fmt::format(
                "PASS: stallwatchd reported CPU {}: stalls {} -> {} after a {:.1f} s SCHED_FIFO "
                "hog at priority {}",
                plan.cpu, out.stalls_before, out.stalls_after,
                static_cast<double>(out.hog_ran_ns) / 1e9, plan.priority)
          : fmt::format(
                "FAIL: stallwatchd did not report CPU {} (stalls still {}) after a {:.1f} s "
                "SCHED_FIFO hog at priority {}",
                plan.cpu, out.stalls_after, static_cast<double>(out.hog_ran_ns) / 1e9,
                plan.priority);
  return out;
}

}  // namespace stallwatch::ctl
