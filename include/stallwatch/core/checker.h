// SPDX-License-Identifier: GPL-2.0-or-later
// Checker: the stall decision logic. A pure, clock-injected state machine: tick(now) reads the
// heartbeat slots and returns the events of this check, plus the deadline of the next one. No
// threads, sleeps, I/O or allocation (tick_into() fills a buffer with reserved capacity), so
// unit tests drive it with a fake clock and fake slots. Called only by the heartbeat that owns
// the CheckGate claim (one at a time; the claim's acquire/release orders the state).
//
// Groups: the CPUs are split into groups of group_cpus() consecutive CPUs, each with its own
// deadline, and the check a heartbeat carries covers one group (tick_group_into), so the time a
// real-time thread holds its CPU for a check is bounded by the group's size, not the CPU count
// (ARCHITECTURE.md, "A check is one group"). What is not per CPU (the suspend and blackout
// guards) runs with every group's check; the summary of the groups (the earliest deadline, the
// counts) is a few bytes per group. Two rare paths still visit every CPU: finding a blackout and
// applying its verdict (every heartbeat was silent together: nothing real-time ran either).
//
// Freeze or stall (ARCHITECTURE.md, "Freeze or stall"): when the heartbeat running a check woke
// more than late_bound_ns() late and no heartbeat stamped on time meanwhile, every heartbeat was
// silent together: a blackout. From inside, a frozen machine or monitor (VM pause, SMI storm,
// SIGSTOP, the cgroup freezer) and a stall of every monitored CPU at once look the same, so timing
// alone decides nothing: the blackout's length is withheld from every silent CPU's age (pending)
// and a kBlackout event asks the dispatcher for a verdict from evidence (whether a heartbeat waited
// runnable on its CPU, see blackout_judge.h). A freeze verdict keeps the time excluded for good
// (one global-pause event); a stall verdict gives it back, and the CPU whose silence began first
// is reported as the stall that started it, the others' silence attributed to it.
#pragma once

#include <cstdint>
#include <vector>

#include "stallwatch/core/config.h"
#include "stallwatch/core/event.h"
#include "stallwatch/core/heartbeat_slot.h"

namespace stallwatch {

struct CheckerSettings {
  std::int64_t interval_ns = 100'000'000;  // longest gap between two checks (a backstop)
  std::int64_t threshold_ns = 2'000'000'000;
  std::int64_t repeat_ns = 10'000'000'000;
  std::int64_t pause_tolerance_ns = 1'000'000'000;
  std::int64_t escalation_after_ns = 0;  // 0 = no escalation events
  std::int64_t heartbeat_interval_ns = 500'000'000;

  static CheckerSettings from(const Config& config);
};

enum class CpuState { kUnmonitored, kStarting, kHealthy, kStalled, kDisplaced };
const char* to_string(CpuState s);

struct CpuView {
  CpuState state = CpuState::kUnmonitored;
  std::int64_t age_ns = 0;      // since the last stamp (or since start/re-baseline)
  std::uint64_t stalls = 0;     // episodes so far
  std::int64_t episode_ns = 0;  // current episode length, 0 when healthy
  bool suspect = false;         // stalled, or its heartbeat is more than threshold / 2 late
};

// Where the check runs: the checking heartbeat's CPU and how late its wakeup was.
struct CheckContext {
  int cpu = -1;
  std::int64_t late_ns = 0;
};

class Checker {
 public:
  // Cold-cache cost of one group's check is about two cache misses per CPU (its slot's first
  // line and its own state's hot line): 32 CPUs keep it near 10 us where a miss costs 150 ns.
  static constexpr int kGroupCpus = 32;

  // slots must outlive the checker; slot_count = number of possible CPUs.
  Checker(HeartbeatSlot* slots, int slot_count, CheckerSettings settings,
          int group_cpus = kGroupCpus);

  // Applied at a tick boundary by the caller (config reload).
  void apply(const CheckerSettings& settings) { settings_ = settings; }
  const CheckerSettings& settings() const { return settings_; }

  // A heartbeat thread was (re)started for cpu, or stopped (hotplug, reload). Starting resets the
  // CPU to "starting" with its age counted from now_ns.
  void set_monitored(int cpu, bool monitored, std::int64_t now_ns);
  // A check-only heartbeat runs on cpu (a sentinel: when fewer than two CPUs are monitored, the
  // check must still run while a monitored CPU is stalled). Its CPU is not monitored.
  void set_sentinel(int cpu, bool sentinel);

  // One check of every group (tests and tools; the daemon checks one group at a time).
  // planned_ns is when it was due (the deadline the previous check set); a check runs on the
  // first heartbeat to wake after it, so up to one heartbeat interval late is normal. Events are
  // appended to out, which must have capacity() >= max_events().
  void tick_into(std::int64_t now_mono_ns, std::int64_t now_boot_ns, std::int64_t planned_ns,
                 std::vector<CheckEvent>& out, CheckContext ctx = {});
  // One group's check: the guards, then the group's CPUs. What a heartbeat runs.
  void tick_group_into(int group, std::int64_t now_mono_ns, std::int64_t now_boot_ns,
                       std::vector<CheckEvent>& out, CheckContext ctx = {});
  int group_cpus() const { return group_cpus_; }
  int group_count() const { return static_cast<int>(group_next_.size()); }
  int group_of(int cpu) const { return cpu / group_cpus_; }
  // The group whose deadline is the earliest (the one the next check should cover).
  int earliest_group() const;
  std::int64_t group_deadline_ns(int group) const {
    return group_next_[static_cast<std::size_t>(group)];
  }
  // Makes a group's check (or every group's) due at once: after new settings, a monitoring
  // change, a verdict. Owner of the claim only.
  void request_group(int group) { group_next_[static_cast<std::size_t>(group)] = 0; }
  void request_all();
  // Groups with a change to publish since the last take (CpuView of their CPUs); clears it.
  bool take_dirty(int group) {
    const bool d = dirty_[static_cast<std::size_t>(group)] != 0;
    dirty_[static_cast<std::size_t>(group)] = 0;
    return d;
  }
  // Every per-CPU and per-group array a check touches (benchmarks evict them from the cache to
  // measure a check as it runs in production: on a CPU that has not touched them since).
  template <typename Fn>
  void for_each_state(Fn&& fn) const {
    fn(static_cast<const void*>(cpus_.data()), cpus_.size() * sizeof(PerCpu));
    fn(static_cast<const void*>(group_next_.data()), group_next_.size() * sizeof(std::int64_t));
    fn(static_cast<const void*>(groups_.data()), groups_.size() * sizeof(GroupCounts));
    fn(static_cast<const void*>(dirty_.data()), dirty_.size());
  }
  std::size_t max_events() const { return 3 * cpus_.size() + 2; }
  // The verdict on blackout id (the episode of its kBlackout event): starved = some heartbeat
  // waited runnable on its CPU through it (a stall), else a freeze. Applied at the start of a
  // check, before tick_into(); a verdict on a blackout since merged into a later one is ignored.
  // A stall's root is the CPU whose silence began first. A CPU's silence began between its last
  // stamp and one heartbeat interval after it, so stamps order two silences only when they are
  // that far apart; root_cpu (-1 = none) is the evidence's answer (the one heartbeat not woken
  // while the others waited, BlackoutJudge) and is taken where stamps cannot tell.
  void apply_verdict(std::uint64_t id, bool starved, int root_cpu, std::int64_t now_ns,
                     std::vector<CheckEvent>& out);
  std::uint64_t pending_blackout() const { return pending_id_; }
  // How late a heartbeat's wakeup may be before its check looks for a blackout.
  static std::int64_t late_bound_ns(std::int64_t heartbeat_interval_ns);
  // Convenience for tests and tools: planned = previous check + interval.
  std::vector<StallEvent> tick(std::int64_t now_mono_ns, std::int64_t now_boot_ns);
  // The earliest moment the next check can have something to do: a healthy CPU's age crossing
  // the threshold, a stalled CPU's repeat or escalation, or a group's interval backstop (the
  // earliest group deadline). 0 before the first check.
  std::int64_t next_deadline_ns() const;

  CpuView view(int cpu) const;
  int slot_count() const { return static_cast<int>(cpus_.size()); }
  // True once every monitored CPU has stamped at least once (as of each group's last check).
  bool all_started() const { return starting_total_ == 0; }
  std::uint64_t stalls_total() const { return stalls_total_; }
  std::vector<int> stalled_cpus() const;
  std::uint64_t stalled_cpus_count() const { return static_cast<std::uint64_t>(stalled_total_); }
  std::uint64_t monitored_count() const { return static_cast<std::uint64_t>(monitored_total_); }
  // Whether the last tick was on time; false after a global pause until the next normal tick.
  bool healthy() const { return healthy_; }
  // Bumped whenever a CPU's state, stall count or suspicion changes (so a publisher can skip the
  // O(CPUs) copy on the common check where nothing did).
  std::uint64_t changes() const { return changes_; }
  // Bumped when a healthy CPU's heartbeat age first passes half the threshold: the moment to take
  // the evidence's counter baseline, so no counters need sampling while all is well.
  std::uint64_t suspects() const { return suspects_; }

 private:
  // The fields a healthy CPU's check reads and writes come first, in one cache line: a check
  // with cold caches then misses once here and once on the slot per healthy CPU.
  struct alignas(64) PerCpu {
    CpuState state = CpuState::kUnmonitored;
    std::uint32_t displacements_seen = 0;
    std::int64_t baseline_ns = 0;  // ages count from max(last stamp, baseline)
    std::int64_t age_ns = 0;
    // Time withheld from the age since credit_last (the last stamp it applies to): confirmed
    // (a freeze) and pending (a blackout awaiting its verdict).
    std::int64_t credit_last_ns = -1;
    std::int64_t credit_ns = 0;
    std::int64_t pending_ns = 0;
    bool suspect = false;  // age passed threshold / 2 since its last stamp
    bool escalated = false;
    bool sentinel = false;
    // Stalls and blackouts only.
    std::int64_t episode_start_ns = 0;  // last stamp before the stall
    std::uint64_t episode_seq = 0;      // seq when the stall was detected
    std::uint64_t episode = 0;
    std::int64_t next_report_ns = 0;
    std::uint64_t stalls = 0;
    int cascade_cpus = 0;  // set by a stall verdict on the CPU that started a cascade
    // The pending blackout's view of this CPU: silent since (its last stamp before, or the
    // deadline it missed), until its late stamp (0 = still silent then); -1 = not in it.
    std::int64_t blackout_since_ns = -1;
    std::int64_t blackout_until_ns = 0;
  };
  struct GroupCounts {
    int monitored = 0, stalled = 0, starting = 0;
  };

  // The latest moment some heartbeat was known to run, up to now (see the class comment); stops
  // at the first one found running after enough_ns (no blackout then: one CPU's look suffices).
  std::int64_t last_life_ns(std::int64_t now_ns, const CheckContext& ctx,
                            std::int64_t enough_ns) const;
  // The part of a check that is not per CPU: the suspend and blackout guards.
  void guards(std::int64_t now_ns, std::int64_t now_boot_ns, std::vector<CheckEvent>& out,
              const CheckContext& ctx);
  void scan_group(int group, std::int64_t now_ns, std::vector<CheckEvent>& out);
  std::int64_t scan_cpu(std::size_t cpu, std::int64_t now_ns, std::vector<CheckEvent>& out);
  // A CPU's published view changed (CpuView: state, suspicion, stalls).
  void changed(std::size_t cpu) {
    ++changes_;
    dirty_[cpu / static_cast<std::size_t>(group_cpus_)] = 1;
  }
  // Recounts a group's states into the totals (after a change outside a scan).
  void recount(int group);
  void blackout(std::int64_t start_ns, std::int64_t now_ns, std::vector<CheckEvent>& out);
  void freeze(std::int64_t pause_ns, std::int64_t since_ns, std::int64_t now_ns, PauseCause cause,
              std::vector<CheckEvent>& out);

  HeartbeatSlot* slots_;
  std::vector<PerCpu> cpus_;
  int group_cpus_;
  std::vector<std::int64_t> group_next_;  // each group's next deadline (0 = due at once)
  std::vector<GroupCounts> groups_;
  std::vector<std::uint8_t> dirty_;  // per group: a CpuView changed since take_dirty()
  int monitored_total_ = 0, stalled_total_ = 0, starting_total_ = 0;
  CheckerSettings settings_;
  std::int64_t last_tick_ns_ = 0;
  std::int64_t last_boot_offset_ns_ = 0;
  std::uint64_t next_episode_ = 1;
  std::uint64_t stalls_total_ = 0;
  bool healthy_ = true;
  std::uint64_t changes_ = 0;
  std::uint64_t suspects_ = 0;
  std::int64_t blackout_end_ns_ = 0;  // end of the last blackout found (never counted twice)
  std::uint64_t blackouts_ = 0;       // ids
  std::uint64_t pending_id_ = 0;      // blackout awaiting its verdict; 0 = none
  std::int64_t pending_start_ns_ = 0;
};

}  // namespace stallwatch
