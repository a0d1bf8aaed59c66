// SPDX-License-Identifier: GPL-2.0-or-later
// Dispatcher: the non-real-time writer between the check and everything that can block. It
// sleeps in poll() on the RtWake the check wakes it with (RtOutputs::wake_dispatcher: it then
// runs on the checking CPU, never behind a stalled one) and on the
// status request FIFO (<runtime_dir>/status.request, which stallwatchctl writes a byte into to
// ask for a fresh status.json). On wake it drains the EventRing into the report worker, reports
// ring drops, keeps the helper threads off suspect CPUs (ThreadPlacement) before it asks for a
// counter baseline, sends READY=1 once every heartbeat stamped, and rewrites STATUS= and
// status.json on a change, on request, and every kRefreshNs otherwise (that periodic pass is
// started by the first check past its due time, so it runs on a CPU a heartbeat has just woken;
// its own timer is a fallback kRideSlackNs later). What a pass does and how long it then sleeps
// is the pure plan_dispatch()/plan_wait() (dispatch_plan.h), over the clock in Deps::now. It
// never waits for the real-time side and the real-time side never waits for it: a blocked stderr
// or journald stalls only this thread (and the report worker), never a check, a feed or a
// WATCHDOG=1.
// Threads: its own (SCHED_OTHER); start()/stop() from the supervisor.
#pragma once

#include <pthread.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "stallwatch/core/atomic_file.h"
#include "stallwatch/core/clock.h"
#include "stallwatch/core/event_ring.h"
#include "stallwatch/core/unique_fd.h"
#include "stallwatch/daemon/blackout_judge.h"
#include "stallwatch/daemon/check_runner.h"
#include "stallwatch/daemon/dispatch_plan.h"
#include "stallwatch/daemon/notify.h"
#include "stallwatch/daemon/report_worker.h"
#include "stallwatch/daemon/rt_wake.h"
#include "stallwatch/daemon/status_doc.h"
#include "stallwatch/daemon/thread_placement.h"

namespace stallwatch::daemon {

class Dispatcher {
 public:
  static constexpr std::int64_t kRefreshNs = 60'000'000'000;
  static constexpr std::int64_t kMinRewriteNs = kDispatchMinRewriteNs;  // request flood limit
  static constexpr std::int64_t kRideSlackNs = kDispatchRideSlackNs;    // see dispatch_plan.h

  struct Deps {
    EventRing<CheckEvent>* ring = nullptr;
    const PublishedState* published = nullptr;
    ReportWorker* worker = nullptr;
    Notifier* notifier = nullptr;
    std::function<StatusInputs(std::int64_t now_ns)> snapshot;  // on this thread
    // Before each status.json write: may add fields (metrics counters) and publish the document
    // elsewhere (the metrics textfile). `changed`: the pass was made for a change (PublishedState
    // version or `changes` moved), not a request or the periodic refresh.
    std::function<void(nlohmann::json&, bool changed)> on_status;
    // A count kept outside PublishedState whose move is a change too (the metrics counters); the
    // owner wakes `wake` when it moves. May be empty.
    std::function<std::uint64_t()> changes;
    std::function<void()> on_suspect;  // a CPU's heartbeat is half-way to a stall
    // Blackouts (every heartbeat silent together): judged from evidence here, on this thread,
    // and the verdict posted back to the check. Without a judge every blackout is a freeze.
    BlackoutJudge* judge = nullptr;
    std::function<void(std::uint64_t id, bool starved, int root_cpu)> post_verdict;
    // Whether a CPU is online now (/sys/devices/system/cpu/online); unset = always. A heartbeat
    // found off its CPU is reported only if its CPU is still online a moment later: the kernel
    // pushes a going-offline CPU's tasks away before the offline is visible (the hotplug's own
    // "CPU N is offline" follows 10-100 ms later), and that is not a displacement.
    std::function<bool(int cpu)> cpu_online;
    std::string runtime_dir;
    RtWake* wake = nullptr;         // what the check wakes it with; owned by the caller
    std::vector<int> allowed_cpus;  // the process's CPUs (ThreadPlacement); empty = no placement
    int slots = 0;                  // possible CPUs (published->cpu has this many)
    std::int64_t start_ns = 0;
    std::int64_t ready_after_ns = 0;        // READY=1 anyway this long after start
    std::int64_t refresh_ns = kRefreshNs;   // rewrite at least this often (metrics.interval)
    std::function<std::int64_t()> refresh;  // if set, asked each pass and after each write instead
    NowFn now = mono_now_ns;                // CLOCK_MONOTONIC ns: each pass, judge, stop
  };

  explicit Dispatcher(Deps deps);
  ~Dispatcher();
  Dispatcher(const Dispatcher&) = delete;
  Dispatcher& operator=(const Dispatcher&) = delete;

  Status start();
  // Drains what is left and joins, up to deadline_ns; false if abandoned (then keep this alive).
  bool stop(std::int64_t deadline_ns);
  bool ready_sent() const { return ready_sent_.load(std::memory_order_relaxed); }
  // Asks for a status rewrite (e.g. after a reload). Any thread.
  void request_status();

 private:
  void run();
  void drain_events();
  void judge_blackout_event(const CheckEvent& e);
  void judge_pending_blackout();
  // Displacement reports held for kDisplacedHoldNs (see Deps::cpu_online); a later event of the
  // same CPU releases its held one first, so the order per CPU is kept.
  void report(StallEvent ev);
  void release_displaced(int cpu, bool due_only, std::int64_t now);
  static constexpr std::int64_t kDisplacedHoldNs = 500'000'000;
  struct HeldDisplaced {
    StallEvent ev;
    std::int64_t due_ns;
  };
  std::vector<HeldDisplaced> held_displaced_;
  // A blackout's verdict waits for the held heartbeats to run (BlackoutJudge::settled), at most
  // this long (the stopper's last stages under TCG: about 30 ms), polled every kVerdictPollMs.
  static constexpr std::int64_t kVerdictWaitNs = 100'000'000;
  static constexpr int kVerdictPollMs = 5;
  std::optional<CheckEvent> pending_blackout_;
  std::int64_t blackout_due_ns_ = 0;
  void write_status(std::int64_t now, bool changed);

  Deps deps_;
  std::unique_ptr<ThreadPlacement> placement_;
  UniqueFd fifo_rd_;
  UniqueFd fifo_wr_;  // kept open so poll() does not see POLLHUP after each client
  pthread_t thread_{};
  bool started_ = false;
  std::atomic<bool> stop_{false};
  std::atomic<bool> exited_{false};
  std::atomic<bool> ready_sent_{false};
  std::atomic<bool> status_requested_{true};
  std::uint64_t seen_version_ = ~0ull;
  std::uint64_t seen_changes_ = 0;
  std::uint64_t reported_drops_ = 0;
  std::uint64_t seen_suspects_ = 0;
  std::int64_t last_status_ns_ = 0;
  std::string last_line_;
  int status_errors_ = 0;
  std::unique_ptr<AtomicFile> status_file_;  // <runtime_dir>/status.json
};

}  // namespace stallwatch::daemon
