// SPDX-License-Identifier: GPL-2.0-or-later
#include "stallwatch/daemon/dispatcher.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <spdlog/spdlog.h>

#include "stallwatch/core/thread_move.h"
#include "stallwatch/core/thread_start.h"

namespace stallwatch::daemon {

Dispatcher::Dispatcher(Deps deps) : deps_(std::move(deps)) {
  if (deps_.now == nullptr) deps_.now = mono_now_ns;
}

Dispatcher::~Dispatcher() { (void)stop(deps_.now() + 1'000'000'000); }

Status Dispatcher::start() {
  if (deps_.wake == nullptr || !deps_.wake->valid()) return make_error("dispatcher: no wake fd");
  status_file_ = std::make_unique<AtomicFile>(deps_.runtime_dir + "/status.json");
  if (!deps_.allowed_cpus.empty() && deps_.slots > 0)
    placement_ =
        std::make_unique<ThreadPlacement>(deps_.published, deps_.slots, deps_.allowed_cpus);
  // The request FIFO: world-writable so an unprivileged stallwatchctl can ask; a flood only
  // makes this thread rewrite the file at most every kMinRewriteNs.
  const std::string fifo = deps_.runtime_dir + "/status.request";
  ::unlink(fifo.c_str());
  if (::mkfifo(fifo.c_str(), 0600) == 0 && ::chmod(fifo.c_str(), 0622) == 0) {
    fifo_rd_ = UniqueFd(::open(fifo.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC));
    fifo_wr_ = UniqueFd(::open(fifo.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC));
  } else {
    spdlog::warn("cannot create {}: {}; stallwatchctl sees status refreshed every {}s", fifo,
                 std::strerror(errno), kRefreshNs / 1'000'000'000);
  }
  ThreadOptions options;
  options.name = "sw-dispatch";  // the libc default stack: the process default set in main()
  if (int rc = start_thread(&thread_, &thread_entry<Dispatcher, &Dispatcher::run>, this, options))
    return make_error("cannot start the dispatcher thread: {}", std::strerror(rc));
  started_ = true;
  return Ok{};
}

void Dispatcher::request_status() {
  status_requested_.store(true, std::memory_order_relaxed);
  deps_.wake->wake();
}

bool Dispatcher::stop(std::int64_t deadline_ns) {
  if (!started_) return true;
  started_ = false;
  stop_.store(true, std::memory_order_release);
  deps_.wake->wake();
  if (join_until(thread_, deadline_ns)) return true;
  pthread_detach(thread_);
  return false;
}

void Dispatcher::drain_events() {
  CheckEvent e;
  while (deps_.ring->pop(e)) {
    if (e.kind == EventKind::kBlackout) {
      judge_blackout_event(e);
      continue;
    }
    StallEvent ev = to_stall_event(e);
    if (ev.owner_stuck)
      spdlog::error("CPU {} froze while its heartbeat was running the check; another CPU's "
                    "heartbeat took the check over",
                    ev.cpu);
    if (ev.cpu >= 0) release_displaced(ev.cpu, false, 0);  // this CPU's held report came first
    if (ev.kind == EventKind::kDisplaced && ev.moved_to >= 0 && deps_.cpu_online) {
      held_displaced_.push_back({std::move(ev), deps_.now() + kDisplacedHoldNs});
      continue;
    }
    report(std::move(ev));
  }
  if (!held_displaced_.empty()) release_displaced(-1, true, deps_.now());
  const std::uint64_t drops = deps_.ring->dropped();
  if (drops != reported_drops_) {
    spdlog::error("{} check events were dropped (event ring full) since the last report; {} in all",
                  drops - reported_drops_, drops);
    reported_drops_ = drops;
  }
}

void Dispatcher::report(StallEvent ev) {
  if (ev.kind == EventKind::kDisplaced) {
    if (ev.moved_to >= 0)
      spdlog::warn("CPU {}: its heartbeat was found running on CPU {}: its affinity was changed "
                   "from outside (taskset -a, tuna, a cpuset rewrite) or the CPU went offline; "
                   "CPU {} is not monitored until the heartbeat is back (it puts itself back)",
                   ev.cpu, ev.moved_to, ev.cpu);
    else
      spdlog::info("CPU {}: its heartbeat is back on its CPU; monitored again", ev.cpu);
  }
  if (!deps_.worker->push(std::move(ev)) && deps_.worker->dropped() % 100 == 1)
    spdlog::error("report queue full: {} events dropped so far", deps_.worker->dropped());
}

// cpu < 0: every held report; due_only: only those whose hold is over (now). A report whose CPU
// has gone offline meanwhile was the kernel emptying a dying CPU: not reported.
void Dispatcher::release_displaced(int cpu, bool due_only, std::int64_t now) {
  for (auto it = held_displaced_.begin(); it != held_displaced_.end();) {
    if ((cpu >= 0 && it->ev.cpu != cpu) || (due_only && it->due_ns > now)) {
      ++it;
      continue;
    }
    if (deps_.cpu_online && !deps_.cpu_online(it->ev.cpu))
      spdlog::info("CPU {}: its heartbeat was moved to CPU {} as the CPU went offline (not a "
                   "displacement)",
                   it->ev.cpu, it->ev.moved_to);
    else
      report(std::move(it->ev));
    it = held_displaced_.erase(it);
  }
}

// Freeze or stall: the evidence is read here (non-real-time), the decision applied by the check.
// Once every heartbeat has run since the blackout began (their waits are complete), or at most
// kVerdictWaitNs after it was posted; a later blackout (merged into it by the check) replaces it.
void Dispatcher::judge_blackout_event(const CheckEvent& e) {
  pending_blackout_ = e;
  blackout_due_ns_ = deps_.now() + kVerdictWaitNs;
  judge_pending_blackout();
}

void Dispatcher::judge_pending_blackout() {
  if (!pending_blackout_) return;
  const CheckEvent e = *pending_blackout_;
  if (deps_.judge != nullptr && deps_.now() < blackout_due_ns_ &&
      !deps_.judge->settled(e.stall_start_mono_ns))
    return;
  pending_blackout_.reset();
  bool starved = false;
  int root = -1;
  if (deps_.judge != nullptr) {
    const BlackoutVerdict v = deps_.judge->judge(e.stall_start_mono_ns, e.stall_ns, deps_.now());
    starved = v.starved;
    root = v.root_cpu;
    spdlog::info("every heartbeat was silent for {} ms: {}{}{}", e.stall_ns / 1'000'000, v.why,
                 v.waits.empty() ? "" : " (", v.waits.empty() ? "" : v.waits + ")");
  }
  if (deps_.post_verdict) deps_.post_verdict(e.episode, starved, root);
}

void Dispatcher::write_status(std::int64_t now, bool changed) {
  if (deps_.judge != nullptr) deps_.judge->sample(now);
  StatusInputs in = deps_.snapshot(now);
  in.events_dropped += deps_.ring->dropped();
  std::string line = status_line(in);
  if (line != last_line_) {
    deps_.notifier->status(line);
    last_line_ = std::move(line);
  }
  last_status_ns_ = now;
  nlohmann::json doc = status_document(in);
  if (deps_.on_status) deps_.on_status(doc, changed);
  const std::string text = doc.dump(1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  if (auto st = status_file_->write(text); !st && status_errors_++ % 100 == 0)
    spdlog::warn("cannot write the status file: {}", st.error().message);
}

void Dispatcher::run() {
  deps_.wake->attach();
  for (;;) {
    bool pinned = false;
    (void)deps_.wake->busy(&pinned);
    // First off the suspect CPUs, then the baseline: the sampler must not be woken behind one.
    if (placement_) placement_->update(pinned);
    const std::int64_t now = deps_.now();
    DispatchState st;
    st.start_ns = deps_.start_ns;
    st.ready_after_ns = deps_.ready_after_ns;
    st.refresh_ns = deps_.refresh ? deps_.refresh() : deps_.refresh_ns;
    const std::uint64_t suspects = deps_.published->suspects.load(std::memory_order_relaxed);
    if (suspects != seen_suspects_) {
      seen_suspects_ = suspects;
      if (deps_.on_suspect) deps_.on_suspect();
    }
    drain_events();
    judge_pending_blackout();
    st.ready_sent = ready_sent_.load(std::memory_order_relaxed);
    st.all_started = deps_.published->all_started.load(std::memory_order_relaxed);
    const std::uint64_t version = deps_.published->version.load(std::memory_order_acquire);
    const std::uint64_t changes = deps_.changes ? deps_.changes() : 0;
    st.changed = version != seen_version_ || changes != seen_changes_;
    st.checked = deps_.published->checks.load(std::memory_order_relaxed) > 0;
    st.requested = status_requested_.load(std::memory_order_relaxed);
    st.last_status_ns = last_status_ns_;
    const DispatchPlan plan = plan_dispatch(st, now);
    if (plan.send_ready) {
      if (plan.ready_anyway)
        spdlog::warn(
            "not every heartbeat has stamped within the threshold; reporting ready anyway");
      deps_.notifier->ready();
      ready_sent_.store(true, std::memory_order_relaxed);
      st.ready_sent = true;
      spdlog::info("all heartbeats running; ready");
    }
    if (plan.write_status) {
      seen_version_ = version;
      seen_changes_ = changes;
      status_requested_.store(false, std::memory_order_relaxed);
      write_status(now, st.changed);
      st.last_status_ns = last_status_ns_;
      // Asked again: the write itself may leave a change pending (the metrics textfile takes at
      // most one change a second), which shortens the refresh to when it may be written.
      if (deps_.refresh) st.refresh_ns = deps_.refresh();
    }
    if (stop_.load(std::memory_order_acquire)) break;

    DispatchWait wait = plan_wait(st, plan.held, now);
    if (pending_blackout_) wait.timeout_ms = std::min(wait.timeout_ms, kVerdictPollMs);
    for (const auto& h : held_displaced_)
      wait.timeout_ms =
          std::min(wait.timeout_ms,
                   static_cast<int>(std::max<std::int64_t>(h.due_ns - now, 0) / 1'000'000 + 1));
    deps_.published->status_due_ns.store(wait.status_due_ns, std::memory_order_relaxed);
    pollfd fds[2] = {{deps_.wake->fd(), POLLIN, 0}, {fifo_rd_.get(), POLLIN, 0}};
    const int nfds = fifo_rd_.valid() ? 2 : 1;
    deps_.wake->idle();
    if (::poll(fds, static_cast<nfds_t>(nfds), wait.timeout_ms) > 0) {
      if (nfds == 2 && (fds[1].revents & POLLIN)) {
        char buf[64];
        while (::read(fifo_rd_.get(), buf, sizeof buf) > 0) {}
        status_requested_.store(true, std::memory_order_relaxed);
      }
    }
  }
  drain_events();
  release_displaced(-1, false, 0);  // stopping: report what is held
  blackout_due_ns_ = 0;             // stopping: judge what is there
  judge_pending_blackout();
  exited_.store(true, std::memory_order_release);
}

}  // namespace stallwatch::daemon
