// SPDX-License-Identifier: GPL-2.0-or-later
#include "stallwatch/evidence/task_scan.h"
#include "stallwatch/core/sanitize.h"

#include <dirent.h>
#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "stallwatch/core/unique_fd.h"
#include "stallwatch/evidence/proc_parse.h"

namespace stallwatch::evidence {

namespace {

bool is_number(const char* s) {
  if (*s == '\0') return false;
  for (; *s; ++s)
    if (*s < '0' || *s > '9') return false;
  return true;
}

// Reads a small procfs file relative to dirfd into buf; returns the length or -1.
ssize_t read_small_at(int dirfd, const char* rel, char* buf, std::size_t size) {
  UniqueFd fd(::openat(dirfd, rel, O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return -1;
  std::size_t len = 0;
  while (len < size) {
    ssize_t n = ::read(fd.get(), buf + len, size - len);
    if (n < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    if (n == 0) break;
    len += static_cast<std::size_t>(n);
  }
  return static_cast<ssize_t>(len);
}

TaskEvidence from_stat(int pid, const TaskStat& st) {
  TaskEvidence t;
  t.pid = pid;
  t.tid = st.tid;
  t.comm = st.comm;
  t.state = st.state;
  t.processor = st.processor;
  t.policy = st.policy;
  t.rt_priority = st.rt_priority;
  t.nice = st.nice;
  t.priority = st.priority;
  t.utime_ticks = st.utime_ticks;
  t.stime_ticks = st.stime_ticks;
  return t;
}

void read_schedstat_at(int procfd, TaskEvidence* t, std::uint64_t* out) {
  char rel[64];
  char buf[128];
  std::snprintf(rel, sizeof rel, "%d/task/%d/schedstat", t->pid, t->tid);
  ssize_t n = read_small_at(procfd, rel, buf, sizeof buf);
  if (n <= 0) return;
  if (auto s = parse_schedstat(std::string_view(buf, static_cast<std::size_t>(n))))
    *out = s->run_ns;
}

}  // namespace

TaskScanResult scan_cpu_tasks(const Sysroot& root, const TaskScanOptions& opts) {
  TaskScanResult res;
  std::string proc = root.path("/proc");
  UniqueFd procfd(::open(proc.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!procfd.valid()) {
    res.error = proc + ": " + std::strerror(errno);
    return res;
  }
  DIR* dir = ::fdopendir(::dup(procfd.get()));
  if (dir == nullptr) {
    res.error = proc + ": " + std::strerror(errno);
    return res;
  }
  char rel[320];  // "<d_name>/stat", d_name up to 255 bytes
  char buf[2048];
  auto past_deadline = [&] { return opts.deadline_ns != 0 && opts.now() > opts.deadline_ns; };
  // One task's stat text: keep it when it is runnable on the CPU.
  auto consider = [&](int pid, std::string_view text) {
    ++res.tasks_scanned;
    // Most tasks sleep: look at the state right after the last ')' before parsing it all.
    auto close = text.rfind(')');
    if (close == std::string_view::npos || close + 2 >= text.size() || text[close + 2] != 'R')
      return;
    auto st = parse_task_stat(text);
    if (!st || st->state != 'R' || st->processor != opts.cpu) return;
    if (res.candidates.size() >= opts.max_candidates) return;
    TaskEvidence t = from_stat(pid, *st);
    read_schedstat_at(procfd.get(), &t, &t.run_ns);
    res.candidates.push_back(std::move(t));
  };
  while (dirent* pe = ::readdir(dir)) {
    if (!is_number(pe->d_name)) continue;
    if ((res.processes_scanned & 63) == 0 && past_deadline()) {
      res.budget_exhausted = true;
      break;
    }
    int pid = std::atoi(pe->d_name);
    ++res.processes_scanned;
    if (pid == opts.exclude_pid) continue;
    // A single-threaded process: its own stat is its only task's (state and CPU are the
    // leader's), which saves listing task/ -- most processes have one thread.
    std::snprintf(rel, sizeof rel, "%d/stat", pid);
    ssize_t n = read_small_at(procfd.get(), rel, buf, sizeof buf);
    if (n > 0) {
      std::string_view text(buf, static_cast<std::size_t>(n));
      auto whole = parse_task_stat(text);
      if (whole && whole->num_threads == 1) {
        consider(pid, text);
        continue;
      }
    }
    std::snprintf(rel, sizeof rel, "%d/task", pid);
    int taskfd = ::openat(procfd.get(), rel, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (taskfd < 0) continue;  // exited
    DIR* tdir = ::fdopendir(taskfd);
    if (tdir == nullptr) {
      ::close(taskfd);
      continue;
    }
    while (dirent* te = ::readdir(tdir)) {
      if (!is_number(te->d_name)) continue;
      if ((res.tasks_scanned & 255) == 255 && past_deadline()) {
        res.budget_exhausted = true;
        break;
      }
      std::snprintf(rel, sizeof rel, "%s/stat", te->d_name);
      n = read_small_at(taskfd, rel, buf, sizeof buf);
      if (n > 0) consider(pid, std::string_view(buf, static_cast<std::size_t>(n)));
    }
    ::closedir(tdir);
    if (res.budget_exhausted) break;
  }
  ::closedir(dir);
  return res;
}

std::int64_t schedstat_gap_ns(std::int64_t configured_ns, bool have_rt_runtime,
                              std::int64_t rt_period_us, std::int64_t rt_runtime_us) {
  if (!have_rt_runtime || rt_runtime_us < 0 || rt_period_us <= rt_runtime_us) return configured_ns;
  const std::int64_t window_ns = (rt_period_us - rt_runtime_us) * 1000;
  return std::max(configured_ns, std::min<std::int64_t>(2 * window_ns + 10'000'000, 250'000'000));
}

void resample_schedstat(const Sysroot& root, std::vector<TaskEvidence>* tasks) {
  std::string proc = root.path("/proc");
  UniqueFd procfd(::open(proc.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!procfd.valid()) return;
  for (auto& t : *tasks) {
    std::uint64_t now = 0;
    read_schedstat_at(procfd.get(), &t, &now);
    if (now >= t.run_ns && now != 0) t.run_ns_growth = static_cast<std::int64_t>(now - t.run_ns);
  }
}

Result<TaskEvidence> read_task(const Sysroot& root, int tid) {
  // /proc/<tid>/task/<tid> resolves for any thread, listed or not.
  const std::string dir = "/proc/" + std::to_string(tid) + "/task/" + std::to_string(tid);
  auto text = root.read_file(dir + "/stat", 4096);
  if (!text) return text.error();
  auto st = parse_task_stat(*text);
  if (!st) return st.error();
  // The thread group id: "Tgid:" in status.
  int pid = tid;
  if (auto status = root.read_file("/proc/" + std::to_string(tid) + "/status", 8192)) {
    auto p = status->find("\nTgid:");
    if (p != std::string::npos) {
      auto e = status->find('\n', p + 6);
      parse_int(trim(std::string_view(*status).substr(p + 6, e - p - 6)), &pid);
    }
  }
  TaskEvidence t = from_stat(pid, *st);
  if (auto s = root.read_file(dir + "/schedstat", 256))
    if (auto parsed = parse_schedstat(*s)) t.run_ns = parsed->run_ns;
  return t;
}

std::string format_cmdline(std::string_view raw, std::size_t max_bytes) {
  while (!raw.empty() && raw.back() == '\0') raw.remove_suffix(1);
  std::string out(raw.substr(0, max_bytes));
  std::replace(out.begin(), out.end(), '\0', ' ');
  out = sanitize_text(out);  // untrusted: escaped once, here
  if (raw.size() > max_bytes) out += "...";
  return out;
}

std::vector<std::string> parse_stack(std::string_view text, std::size_t max_frames) {
  std::vector<std::string> out;
  while (!text.empty() && out.size() < max_frames) {
    auto nl = text.find('\n');
    std::string_view line = trim(text.substr(0, nl));
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    if (line.empty()) continue;
    if (line.front() == '[') {  // "[<0>] hrtimer_nanosleep+0x74/0xf0"
      auto close = line.find("] ");
      if (close != std::string_view::npos) line.remove_prefix(close + 2);
    }
    out.push_back(sanitize_text(line));
  }
  return out;
}

std::string pick_cgroup(std::string_view text) {
  std::string_view first;
  while (!text.empty()) {
    auto nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    if (line.empty()) continue;
    if (line.substr(0, 3) == "0::") return sanitize_text(line.substr(3));
    if (first.empty()) first = line;
  }
  return sanitize_text(first);
}

void read_task_details(const Sysroot& root, BoundedIo& reader, const DetailLimits& limits,
                       TaskEvidence* t) {
  std::string base =
      root.path("/proc/" + std::to_string(t->pid) + "/task/" + std::to_string(t->tid) + "/");
  auto read = [&](const char* name, std::size_t max) -> Result<std::string> {
    auto timeout = limits.per_read_timeout;
    if (limits.deadline_ns != 0) {
      std::int64_t left = limits.deadline_ns - limits.now();
      if (left <= 0) {
        t->read_errors.push_back(std::string(name) + ": budget exhausted");
        return make_error("budget exhausted");
      }
      timeout = std::min(timeout, std::chrono::nanoseconds(left));
    }
    auto r = reader.read(base + name, max, timeout);
    if (!r) {
      // The reader's message names the full path; keep only the reason.
      std::string msg = r.error().message;
      auto colon = msg.rfind(": ");
      t->read_errors.push_back(std::string(name) + ": " +
                               (colon == std::string::npos ? msg : msg.substr(colon + 2)));
    }
    return r;
  };
  if (auto r = read("syscall", 256)) t->syscall = sanitize_text(trim(*r));
  if (auto r = read("wchan", 256)) t->wchan = sanitize_text(trim(*r));
  if (auto r = read("stack", 8192)) t->stack = parse_stack(*r, limits.stack_frames);
  if (auto r = read("cgroup", 4096)) t->cgroup = pick_cgroup(*r);
  if (auto r = read("cmdline", limits.cmdline_bytes + 1))
    t->cmdline = format_cmdline(*r, limits.cmdline_bytes);
}

std::string pick_running(std::vector<TaskEvidence>* tasks, int nmi_tid, int verdict_tid) {
  if (tasks->empty()) return "";
  auto mark = [&](std::size_t i, std::string reason) {
    std::rotate(tasks->begin(), tasks->begin() + static_cast<std::ptrdiff_t>(i),
                tasks->begin() + static_cast<std::ptrdiff_t>(i) + 1);
    tasks->front().running = true;
    return reason;
  };
  for (std::size_t i = 0; i < tasks->size(); ++i)
    if (nmi_tid > 0 && (*tasks)[i].tid == nmi_tid)
      return mark(i, "the sysrq NMI backtrace interrupted it on the CPU");
  for (std::size_t i = 0; i < tasks->size(); ++i)
    if (verdict_tid > 0 && (*tasks)[i].tid == verdict_tid)
      return mark(i, "the kernel's soft lockup report names it");
  if (tasks->size() == 1) return mark(0, "the only runnable task on the CPU");
  std::size_t best = 0;
  std::int64_t best_growth = -1;
  bool tie = false;
  for (std::size_t i = 0; i < tasks->size(); ++i) {
    std::int64_t g = (*tasks)[i].run_ns_growth;
    if (g > best_growth) {
      best_growth = g;
      best = i;
      tie = false;
    } else if (g == best_growth) {
      tie = true;
    }
  }
  if (best_growth > 0 && !tie)
    return mark(best,
                fmt::format("its runtime grew most between two schedstat samples (+{:.1f} ms)",
                            static_cast<double>(best_growth) / 1e6));
  auto rank = [](const TaskEvidence& t) {
    if (t.policy == kSchedDeadline) return 1000;
    if (is_rt_policy(t.policy)) return 100 + t.rt_priority;
    return 0;
  };
  std::size_t top = 0;
  for (std::size_t i = 1; i < tasks->size(); ++i)
    if (rank((*tasks)[i]) > rank((*tasks)[top])) top = i;
  std::size_t n = tasks->size();
  if (rank((*tasks)[top]) > 0)
    return mark(top,
                fmt::format("highest-priority of {} runnable tasks (no runtime growth seen)", n));
  return mark(top, fmt::format("first of {} runnable tasks (guess: no runtime growth seen)", n));
}

}  // namespace stallwatch::evidence
