// SPDX-License-Identifier: GPL-2.0-or-later
// CheckRunner: the real-time side of the daemon. It is the CheckHook the heartbeats call when one
// of them wins the CheckGate claim, so it runs on a heartbeat thread, on a CPU that is running,
// one heartbeat at a time. Per check it: applies the supervisor's pending settings and
// monitoring changes (lock-free), runs the pure Checker::tick_into(), pushes the events into the
// EventRing, decides the hardware-watchdog feed and the systemd WATCHDOG=1 ping, publishes the
// per-CPU state for the status writer, wakes the dispatcher when anything changed, and sets the
// next deadline. It never blocks, locks, allocates or logs: every output goes through RtOutputs,
// whose real implementation makes only non-blocking syscalls.
// Threads: run_check() on whichever heartbeat owns (or took over) the claim; post_*() from the
// supervisor (main thread); published() read by the dispatcher.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <type_traits>
#include <vector>

#include "stallwatch/core/check_gate.h"
#include "stallwatch/core/checker.h"
#include "stallwatch/core/event_ring.h"
#include "stallwatch/core/heartbeat.h"

namespace stallwatch::escalation {
class FeedPolicy;
}  // namespace stallwatch::escalation

namespace stallwatch::daemon {

// The non-blocking outputs of a check. Each must return at once whatever the other end does.
class RtOutputs {
 public:
  virtual ~RtOutputs() = default;
  virtual void wake_dispatcher(int cpu) noexcept = 0;  // RtWake::wake_on(cpu)
  virtual bool watchdog_ping() noexcept = 0;           // sd_notify WATCHDOG=1, MSG_DONTWAIT; sent?
  // A feed is due: fed here (a driver whose keepalive does not sleep: true when it was fed), or
  // the feeder thread woken on this CPU (false: it reports the feed with feed_served()).
  virtual bool request_feed(int cpu) noexcept = 0;
  // An escalation found due (not a drill): hand it to the escalation actor, woken on this CPU.
  virtual void request_escalation(int cpu, const CheckEvent& e) noexcept { (void)cpu, (void)e; }
  // An escalation handed over and not yet taken: no WATCHDOG=1 meanwhile.
  virtual bool escalation_pending() noexcept { return false; }
  virtual std::int64_t boot_ns() noexcept = 0;  // CLOCK_BOOTTIME
  // CLOCK_MONOTONIC, read once at the end of each check: how long the check held its CPU.
  // 0 (the default, for fakes): not measured.
  virtual std::int64_t mono_ns() noexcept { return 0; }
};

// What the status writer may read without the claim. All relaxed: a reader may see one check
// behind, which is fine for a status file.
struct PublishedCpu {
  std::atomic<int> state{0};  // CpuState
  std::atomic<std::uint64_t> stalls{0};
  std::atomic<std::int64_t> episode_start_ns{0};
  std::atomic<bool> suspect{false};  // CpuView::suspect: helper threads keep off this CPU
};

struct PublishedState {
  explicit PublishedState(int cpus) : cpu(new PublishedCpu[static_cast<std::size_t>(cpus)]) {}
  std::unique_ptr<PublishedCpu[]> cpu;
  std::atomic<std::uint64_t> version{0};  // bumped on every visible change
  std::atomic<std::uint64_t> checks{0};
  // Time from a check-carrying heartbeat's wakeup to the end of its check, summed and at most
  // (the real-time hold a check adds to a wakeup: the noise a co-located RT task can see).
  std::atomic<std::uint64_t> check_hold_ns_total{0};
  std::atomic<std::int64_t> check_hold_max_ns{0};
  std::atomic<std::uint64_t> stalls_total{0};
  std::atomic<std::uint64_t> global_pauses{0};
  std::atomic<std::uint64_t> stuck_owners{0};  // claims taken over from an owner that froze
  std::atomic<std::uint64_t> blackouts{0};     // blackouts found (each judged by the dispatcher)
  std::atomic<std::uint64_t> suspects{0};      // Checker::suspects(): counter baselines wanted
  std::atomic<std::int64_t> last_check_ns{0};
  std::atomic<bool> all_started{false};
  std::atomic<std::uint64_t> feeds_requested{0};
  std::atomic<std::uint64_t> feeds_missed{0};  // requests the feeder had not served by the next
  // When the dispatcher's next periodic pass is due (written by the dispatcher). The first check
  // at or past it wakes the dispatcher and sets it to kNotDue: the pass then runs right after a
  // heartbeat, on a CPU that is awake anyway, instead of on a timer of its own.
  static constexpr std::int64_t kNotDue = INT64_MAX;
  mutable std::atomic<std::int64_t> status_due_ns{kNotDue};  // the one field its reader writes
};

struct RunnerSettings {
  CheckerSettings checker;
  std::int64_t ping_period_ns = 0;  // systemd WATCHDOG=1 at least this often; 0 = off
};
// The check copies these on the real-time path: a member that allocates (a string, a vector)
// would make that copy allocate.
static_assert(std::is_trivially_copyable_v<RunnerSettings>,
              "copied by the check: must not allocate");

class CheckRunner final : public CheckHook {
 public:
  CheckRunner(HeartbeatSlot* slots, int slot_count, const RunnerSettings& settings, CheckGate& gate,
              EventRing<CheckEvent>& ring, RtOutputs& out);

  // Hardware watchdog feeding (may be null). The feeder reports served requests with
  // feed_served(); the check counts the ones it finds unserved.
  void set_feed_policy(escalation::FeedPolicy* policy) { feed_ = policy; }
  void feed_served(std::uint64_t request) {
    feeds_served_.store(request, std::memory_order_release);
  }

  // CheckHook (heartbeat threads).
  void run_check(const CheckCall& call) noexcept override;
  std::int64_t takeover_after_ns() const noexcept override {
    return takeover_after_ns_.load(std::memory_order_relaxed);
  }

  // Supervisor side (one non-RT thread). Applied at the start of the next check, which these
  // request at once. post_settings() never waits for a check: the latest posted settings win.
  void post_settings(const RunnerSettings& settings);
  void post_monitor(int cpu, bool monitored, std::int64_t now_ns);
  void post_sentinel(int cpu, bool sentinel);
  // Dispatcher side: the verdict on a kBlackout event (its episode is the id). Any thread.
  // root_cpu: the cascade's root by evidence, or -1 (Checker::apply_verdict).
  void post_verdict(std::uint64_t id, bool starved, int root_cpu);
  // Dispatcher side: CPU cpu is under an announced drill until until_ns (CLOCK_MONOTONIC; 0 =
  // none). An escalation the check finds due on that CPU before then is marked drill and acted on
  // by nothing: the feeding goes on. Posted when the dispatcher reads the announcement, before
  // `stallwatchctl drill` starts its hog (it waits for status.json to list the drill).
  void post_drill(int cpu, std::int64_t until_ns);
  std::int64_t drill_until(int cpu) const;
  // Feeding stops for good and no further ping is sent (daemon stop). Any thread.
  void close() {
    closed_.store(true, std::memory_order_release);
    gate_.closed.store(true);
  }

  const PublishedState& published() const { return published_; }
  // Every array a check may touch, per CPU or per group (the checker's and this side's), for
  // benchmarks that evict them from the cache before a check.
  template <typename Fn>
  void for_each_state(Fn&& fn) const {
    checker_.for_each_state(fn);
    const auto n = static_cast<std::size_t>(checker_.slot_count());
    fn(static_cast<const void*>(published_.cpu.get()), n * sizeof(PublishedCpu));
    fn(static_cast<const void*>(monitor_req_.get()), n * sizeof(std::atomic<int>));
    fn(static_cast<const void*>(monitor_req_ns_.get()), n * sizeof(std::atomic<std::int64_t>));
    fn(static_cast<const void*>(drill_until_.get()), n * sizeof(std::atomic<std::int64_t>));
    fn(static_cast<const void*>(monitor_group_.get()),
       static_cast<std::size_t>(checker_.group_count()) * sizeof(std::atomic<bool>));
    fn(static_cast<const void*>(this), sizeof *this);
  }
  // The settings the check runs with (the last posted ones it has applied). The checking thread
  // only, or a test between checks.
  const RunnerSettings& settings() const noexcept { return settings_; }
  int slot_count() const { return checker_.slot_count(); }

 private:
  void apply_pending(std::int64_t now_ns, std::vector<CheckEvent>& events);
  void publish(std::int64_t now_ns);
  void publish_group(int group, std::int64_t now_ns, bool& changed);
  std::int64_t outputs_and_deadline(int cpu, std::int64_t now_ns);

  Checker checker_;
  HeartbeatSlot* slots_;
  CheckGate& gate_;
  EventRing<CheckEvent>& ring_;
  RtOutputs& out_;
  escalation::FeedPolicy* feed_ = nullptr;
  std::vector<CheckEvent> events_;  // capacity reserved once

  // Settings hand-off: a triple buffer. Three preallocated buffers, each owned by one side at a
  // time: the supervisor's (post_back_), the check's (post_front_), and the middle one
  // (post_middle_: its index, plus kPostFresh while it holds a post the check has not taken).
  // The supervisor fills its own buffer and exchanges it into the middle; a check that finds
  // kPostFresh exchanges its own buffer for the middle one and copies from it. Buffers change
  // hands only through these acq_rel exchanges, so no side ever touches a buffer the other may
  // be using (a seqlock's reader races with its writer by the C++ memory model, whatever it then
  // discards), and no side waits or retries: the check pays one relaxed load when nothing was
  // posted. The latest post wins; one posted over before a check is never seen.
  static constexpr unsigned kPostIndex = 3, kPostFresh = 4;
  RunnerSettings posts_[3];
  std::atomic<unsigned> post_middle_{1};
  unsigned post_back_ = 0;   // the supervisor's
  unsigned post_front_ = 2;  // the check's
  RunnerSettings settings_;  // what the check runs with
  std::atomic<std::int64_t> takeover_after_ns_{0};
  // (blackout id << kVerdictIdShift) | (root_cpu + 1) << 1 | starved; 0 = none. One word, so
  // the check never reads half a verdict.
  static constexpr int kVerdictIdShift = 21;
  static constexpr std::uint64_t kVerdictRootMask = (std::uint64_t{1} << (kVerdictIdShift - 1)) - 1;
  std::atomic<std::uint64_t> verdict_{0};
  int frozen_owner_ = -1;  // the CPU of the last owner whose claim was taken over

  // Monitoring requests: per CPU, 0 none, 1 monitor, 2 unmonitor, 3 sentinel, 4 not sentinel;
  // the time of the request; per group, whether one of its CPUs has one (so a check applies them
  // without visiting every CPU).
  std::unique_ptr<std::atomic<int>[]> monitor_req_;
  std::unique_ptr<std::atomic<std::int64_t>[]> monitor_req_ns_;
  std::unique_ptr<std::atomic<bool>[]> monitor_group_;
  std::atomic<bool> monitor_pending_{false};
  std::unique_ptr<std::atomic<std::int64_t>[]> drill_until_;  // per CPU, post_drill()

  PublishedState published_;
  std::atomic<bool> closed_{false};
  std::atomic<std::uint64_t> feeds_served_{0};
  std::uint64_t feeds_requested_ = 0;
  std::uint64_t published_changes_ = ~0ull;
  std::int64_t last_ping_ns_ = 0;
};

}  // namespace stallwatch::daemon
