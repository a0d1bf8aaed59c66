// SPDX-License-Identifier: GPL-2.0-or-later
#include "stallwatch/core/heartbeat.h"

#include <sched.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "stallwatch/core/checker.h"
#include "stallwatch/core/clock.h"
#include "stallwatch/core/this_cpu.h"
#include "stallwatch/core/thread_move.h"
#include "stallwatch/core/thread_start.h"

namespace stallwatch {

namespace {

timespec to_timespec(std::int64_t ns) {
  return timespec{static_cast<time_t>(ns / 1'000'000'000), static_cast<long>(ns % 1'000'000'000)};
}

}  // namespace

// Two relaxed loads of the gate's line when nothing is due (the common case). A late wakeup
// looks for a blackout even before a deadline; a claim held past the bound by an owner that
// froze is taken over (check_gate.h).
void check_on_wakeup(CheckGate& gate, CheckHook& hook, HeartbeatSlot& slot, int cpu,
                     std::int64_t now, std::int64_t late, std::int64_t late_bound) {
  const bool attention = slot.attention.load(std::memory_order_relaxed) != 0;
  if (!gate.due(now) && !attention && late <= late_bound) return;
  CheckCall call;
  call.cpu = cpu;
  call.now_ns = now;
  call.planned_ns = gate.next_check_ns.load(std::memory_order_relaxed);
  call.late_ns = late;
  call.claim = gate.try_claim(cpu, now);
  if (call.claim == 0) {
    const std::uint64_t held = gate.claim.load(std::memory_order_relaxed);
    call.claim = gate.try_take_over(cpu, now, hook.takeover_after_ns());
    if (call.claim == 0) return;
    call.took_over_from = CheckGate::owner_of(held);
  }
  if (attention) slot.attention.store(0, std::memory_order_relaxed);
  call.attention = attention;
  hook.run_check(call);
}

HeartbeatManager::HeartbeatManager(int slot_count)
    : slot_count_(slot_count),
      slots_(new HeartbeatSlot[static_cast<std::size_t>(slot_count)]),
      workers_(static_cast<std::size_t>(slot_count)),
      boxes_(new RelayBox[static_cast<std::size_t>(slot_count)]) {}

HeartbeatManager::~HeartbeatManager() {
  stop_all(mono_now_ns() + 2'000'000'000);
  if (leak_) {
    // An abandoned heartbeat may still wake and stamp: its memory stays valid until exit.
    (void)slots_.release();
    for (auto& w : workers_) (void)w.release();
    (void)boxes_.release();  // an abandoned relay still reads its eventfd
    return;
  }
  for (int i = 0; i < slot_count_; ++i)
    if (const int fd = boxes_[i].efd.load(std::memory_order_relaxed); fd >= 0) ::close(fd);
}

int HeartbeatManager::add_relay_target(RelayTarget* target) {
  const int i = target_count_.load(std::memory_order_relaxed);
  if (i >= kMaxRelayTargets || target == nullptr) return -1;
  targets_[static_cast<std::size_t>(i)].store(target, std::memory_order_release);
  target_count_.store(i + 1, std::memory_order_release);
  return i;
}

void HeartbeatManager::post(RelayBox& box, std::uint32_t bits) noexcept {
  box.pending.fetch_or(bits, std::memory_order_release);
  const std::uint64_t one = 1;
  (void)!::write(box.efd.load(std::memory_order_relaxed), &one, sizeof one);
}

bool HeartbeatManager::relay(int cpu, int target) noexcept {
  if (cpu < 0 || cpu >= slot_count_ || target < 0 || target >= kMaxRelayTargets) return false;
  RelayBox& box = boxes_[cpu];
  if (!box.running.load(std::memory_order_acquire)) return false;
  post(box, 1U << static_cast<unsigned>(target));
  return true;
}

pid_t HeartbeatManager::relay_tid(int cpu) const {
  if (!has_thread(cpu)) return 0;
  return workers_[static_cast<std::size_t>(cpu)]->relay_tid.load(std::memory_order_acquire);
}

// The relay of one CPU (heartbeat.h): sleeps on its eventfd; woken by the check (a helper to
// move here and wake) or by its heartbeat (put me back on my CPU). It re-pins the heartbeat
// before itself: a relay moved away with it (taskset -a) may wait to run on its CPU afterwards.
void* HeartbeatManager::run_relay(void* arg) {
  auto* w = static_cast<Worker*>(arg);
  RelayBox& box = *w->box;
  w->relay_tid.store(static_cast<pid_t>(::gettid()), std::memory_order_release);
  const int fd = box.efd.load(std::memory_order_relaxed);
  while (!w->stop.load(std::memory_order_acquire)) {
    std::uint64_t n = 0;
    if (::read(fd, &n, sizeof n) < 0 && errno != EINTR) break;
    if (w->stop.load(std::memory_order_acquire)) break;
    const std::uint32_t bits = box.pending.exchange(0, std::memory_order_acq_rel);
    HeartbeatSlot& slot = *w->slot;
    if ((bits & kPutBack) != 0) {
      const int tid = slot.tid.load(std::memory_order_relaxed);
      int was = slot.displaced_on.load(std::memory_order_acquire);
      if (tid > 0 && was >= 0 && pin_thread(tid, w->cpu)) {
        slot.placed_ns.store(mono_now_ns(), std::memory_order_relaxed);
        // Unless its heartbeat already stamped back home (or was moved again) meanwhile.
        if (slot.displaced_on.compare_exchange_strong(was, kReturning, std::memory_order_acq_rel))
          slot.attention.store(1, std::memory_order_relaxed);
      }
    }
    // Back on (and only on) its CPU: moved away, or its mask widened from outside (taskset -a
    // -p -c 0-N), it could be woken on a stalled CPU later and serve nothing.
    if (sched_getcpu() != w->cpu || !pinned_to(w->cpu)) (void)pin_thread(0, w->cpu);
    for (int i = 0; i < kMaxRelayTargets; ++i) {
      if ((bits & (1U << static_cast<unsigned>(i))) == 0) continue;
      if (RelayTarget* t = w->targets[i].load(std::memory_order_acquire)) t->move_and_wake(w->cpu);
    }
  }
  // A check that saw it running just before may have posted a wake: served here, once.
  box.running.store(false, std::memory_order_seq_cst);
  const std::uint32_t last = box.pending.exchange(0, std::memory_order_seq_cst);
  for (int i = 0; i < kMaxRelayTargets; ++i)
    if ((last & (1U << static_cast<unsigned>(i))) != 0)
      if (RelayTarget* t = w->targets[i].load(std::memory_order_acquire)) t->move_and_wake(w->cpu);
  w->relay_stack_used = stack_high_water_bytes();  // read by whoever joins it
  w->relay_exited.store(true, std::memory_order_release);
  return nullptr;
}

// A wakeup off its CPU (something outside changed its affinity): marks the slot displaced and,
// at most once a second, asks the relay to put it back. Rare, so out of the loop's cache lines.
[[gnu::cold, gnu::noinline]] void HeartbeatManager::displaced(Worker& w, HeartbeatSlot& slot,
                                                              int on, std::int64_t now,
                                                              std::int64_t& next_put_back) {
  // Only a stamp made on its CPU counts: this one speaks for no CPU.
  if (slot.displaced_on.load(std::memory_order_relaxed) < 0) {
    slot.moved_to.store(on, std::memory_order_relaxed);
    slot.displacements.store(slot.displacements.load(std::memory_order_relaxed) + 1,
                             std::memory_order_relaxed);
    slot.displaced_on.store(on, std::memory_order_release);
    slot.attention.store(1, std::memory_order_relaxed);
  }
  if (now >= next_put_back && w.has_relay.load(std::memory_order_acquire)) {
    next_put_back = now + 1'000'000'000;
    post(*w.box, kPutBack);  // the relay moves it: no sched_setaffinity on this path
  }
}

// The heartbeat loop: one absolute sleep and one clock read per period, no locks, allocation,
// logging or other syscalls — unless it wins a check (check_gate.h). Missed periods are skipped
// (as cyclictest does), so a stalled heartbeat wakes once when the CPU frees up rather than
// catching up in a burst. A wakeup that carries no check touches as few cache lines as it can
// (they are cold after half a second asleep): what never changes is held in locals, the
// worker's stop flag and generation share one line, the CPU comes from the rseq area
// (this_cpu.h) and the displaced path is out of line.
void* HeartbeatManager::run(void* arg) {
  auto* w = static_cast<Worker*>(arg);
  HeartbeatSlot& slot = *w->slot;
  const int cpu = w->cpu;
  CheckGate* const gate = w->gate;
  CheckHook* const hook = gate != nullptr ? w->hook : nullptr;
  const ThisCpu this_cpu;
  slot.tid.store(static_cast<int>(::gettid()), std::memory_order_relaxed);
  std::int64_t interval = w->interval_ns.load(std::memory_order_relaxed);
  std::int64_t late_bound = Checker::late_bound_ns(interval);
  std::uint32_t generation = w->generation.load(std::memory_order_acquire);
  std::int64_t next = mono_now_ns();  // stamp at once so READY comes quickly
  std::int64_t next_put_back = 0;
  bool phased = false;
  while (!w->stop.load(std::memory_order_relaxed)) {
    timespec ts = to_timespec(next);
    int rc = clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr);
    if (rc == EINTR) continue;
    const std::int64_t now = mono_now_ns();
    const std::int64_t late = std::max<std::int64_t>(0, now - next);
    const int on = this_cpu.get();
    if (on == cpu) [[likely]] {
      if (slot.displaced_on.load(std::memory_order_relaxed) != kOnItsCpu)
        slot.displaced_on.store(kOnItsCpu, std::memory_order_release);
      slot.stamp(now, late, on);
    } else {
      displaced(*w, slot, on, now, next_put_back);
    }
    if (hook != nullptr) check_on_wakeup(*gate, *hook, slot, cpu, now, late, late_bound);
    const std::uint32_t g = w->generation.load(std::memory_order_acquire);
    if (!phased || g != generation) [[unlikely]] {
      // From here on, deadlines sit at this CPU's phase of the interval (staggered heartbeats).
      phased = true;
      generation = g;
      interval = w->interval_ns.load(std::memory_order_relaxed);
      late_bound = Checker::late_bound_ns(interval);
      next = (now / interval) * interval + w->phase_ns.load(std::memory_order_relaxed);
    }
    next += interval;
    if (next <= now) next += ((now - next) / interval + 1) * interval;
  }
  w->stack_used = stack_high_water_bytes();  // off the real-time path: the loop is over
  w->exited.store(true, std::memory_order_release);
  return nullptr;
}

Status HeartbeatManager::start(int cpu, const HeartbeatParams& params) {
  if (cpu < 0 || cpu >= slot_count_) return make_error("CPU {} is out of range", cpu);
  auto& slot_worker = workers_[static_cast<std::size_t>(cpu)];
  if (slot_worker) return make_error("CPU {}: previous heartbeat still running", cpu);
  slots_[cpu].reset();

  auto w = std::make_unique<Worker>();
  w->cpu = cpu;
  w->interval_ns.store(params.interval_ns, std::memory_order_relaxed);
  w->phase_ns.store(params.interval_ns > 0 ? params.phase_ns % params.interval_ns : 0,
                    std::memory_order_relaxed);
  w->priority = params.priority;
  w->slot = &slots_[cpu];
  w->box = &boxes_[cpu];
  w->targets = targets_.data();
  w->gate = params.gate;
  w->hook = params.hook;
  w->stack_bytes = std::max(params.stack_bytes, min_thread_stack_bytes());

  const std::string name = fmt::format("sw-hb/{}", cpu);
  auto try_create = [&](bool fifo) -> int {
    ThreadOptions options;
    options.name = name.c_str();
    options.stack_bytes = w->stack_bytes;
    options.sched = fifo ? ThreadSched::kFifo : ThreadSched::kOther;
    options.priority = params.priority;
    options.pin_cpu = cpu;
    options.paint_stack = true;  // its high-water, logged at stop
    options.locked_stack_bytes = kLockedStackBytes;
    return start_thread(&w->thread, &HeartbeatManager::run, w.get(), options);
  };

  int rc = try_create(true);
  if (rc == EPERM) {
    if (!params.allow_degraded)
      return make_error(
          "cannot start the SCHED_FIFO heartbeat on CPU {}: {}. stallwatchd needs CAP_SYS_NICE "
          "(run it as root or through stallwatch.service, or grant it with "
          "`setcap cap_sys_nice,cap_ipc_lock+ep /usr/sbin/stallwatchd`), or set "
          "heartbeat.allow_degraded = true to run SCHED_OTHER heartbeats that a busy CPU can "
          "starve (false stalls)",
          cpu, std::strerror(rc));
    degraded_ = true;
    w->fifo = false;
    rc = try_create(false);
  }
  if (rc != 0)
    return make_error("cannot start the heartbeat on CPU {}: {}", cpu, std::strerror(rc));
  Worker& started = *w;
  slot_worker = std::move(w);
  if (auto st = start_relay(started); !st) {
    started.stop.store(true, std::memory_order_relaxed);  // reaped like any stopped heartbeat
    return st;
  }
  return Ok{};
}

Status HeartbeatManager::start_relay(Worker& w) {
  RelayBox& box = *w.box;
  if (box.efd.load(std::memory_order_relaxed) < 0) {
    const int fd = ::eventfd(0, EFD_CLOEXEC);  // blocking: the relay sleeps in read()
    if (fd < 0)
      return make_error("CPU {}: eventfd for the heartbeat's relay: {}", w.cpu,
                        std::strerror(errno));
    box.efd.store(fd, std::memory_order_relaxed);
  }
  box.pending.store(0, std::memory_order_relaxed);
  const std::string name = fmt::format("sw-relay/{}", w.cpu);
  ThreadOptions options;
  options.name = name.c_str();
  options.stack_bytes = std::max(kRelayStackBytes, min_thread_stack_bytes());
  options.sched = w.fifo ? ThreadSched::kFifo : ThreadSched::kOther;
  options.priority = w.priority;
  options.pin_cpu = w.cpu;
  options.paint_stack = true;
  options.locked_stack_bytes = kLockedStackBytes;
  box.running.store(true, std::memory_order_release);
  int rc = start_thread(&w.relay, &HeartbeatManager::run_relay, &w, options);
  if (rc == EINVAL) {  // a libc whose static TLS does not fit in its minimum stack
    options.stack_bytes = 64 * 1024;
    rc = start_thread(&w.relay, &HeartbeatManager::run_relay, &w, options);
  }
  w.relay_stack_bytes = options.stack_bytes;
  if (rc != 0) {
    box.running.store(false, std::memory_order_release);
    return make_error("cannot start the relay thread of CPU {}: {}", w.cpu, std::strerror(rc));
  }
  w.has_relay.store(true, std::memory_order_release);
  return Ok{};
}

Status HeartbeatManager::update(int cpu, const HeartbeatParams& params) {
  if (cpu < 0 || cpu >= slot_count_ || !workers_[static_cast<std::size_t>(cpu)])
    return make_error("CPU {} has no heartbeat", cpu);
  Worker& w = *workers_[static_cast<std::size_t>(cpu)];
  if (params.interval_ns > 0) {
    w.interval_ns.store(params.interval_ns, std::memory_order_relaxed);
    w.phase_ns.store(params.phase_ns % params.interval_ns, std::memory_order_relaxed);
    w.generation.fetch_add(1, std::memory_order_release);
  }
  if (w.fifo && params.priority != w.priority) {
    // Takes the heartbeat's run-queue lock for an instant; never waits for its CPU to run.
    sched_param sp{};
    sp.sched_priority = params.priority;
    if (int rc = pthread_setschedparam(w.thread, SCHED_FIFO, &sp); rc != 0)
      return make_error("CPU {}: cannot set the heartbeat's priority to {}: {}", cpu,
                        params.priority, std::strerror(rc));
    if (w.has_relay.load(std::memory_order_acquire))
      (void)pthread_setschedparam(w.relay, SCHED_FIFO, &sp);
    w.priority = params.priority;
  }
  return Ok{};
}

void HeartbeatManager::request_stop(int cpu) {
  if (cpu < 0 || cpu >= slot_count_) return;
  if (auto& w = workers_[static_cast<std::size_t>(cpu)]) {
    w->stop.store(true, std::memory_order_release);
    if (w->has_relay.load(std::memory_order_acquire)) post(*w->box, 0);  // the relay sees it now
  }
}

bool HeartbeatManager::reap(int cpu) {
  if (cpu < 0 || cpu >= slot_count_) return true;
  auto& w = workers_[static_cast<std::size_t>(cpu)];
  if (!w) return true;
  if (!w->exited.load(std::memory_order_acquire)) return false;
  const bool relay = w->has_relay.load(std::memory_order_acquire);
  if (relay && !w->relay_exited.load(std::memory_order_acquire)) return false;
  pthread_join(w->thread, nullptr);
  if (relay) pthread_join(w->relay, nullptr);
  note_stack_use(*w, true, relay);
  w.reset();
  return true;
}

namespace {
// How much of a heartbeat's or relay's stack of `size` bytes is locked (none without mlockall).
std::size_t locked_part(std::size_t size) {
  return memory_locked() ? std::min(size, HeartbeatManager::kLockedStackBytes) : 0;
}
}  // namespace

void HeartbeatManager::note_stack_use(const Worker& w, bool heartbeat, bool relay) {
  if (heartbeat && w.stack_used > 0) {
    high_water_.heartbeat_bytes = std::max(high_water_.heartbeat_bytes, w.stack_used);
    high_water_.heartbeat_stack_bytes = std::max(high_water_.heartbeat_stack_bytes, w.stack_bytes);
    high_water_.heartbeat_locked_bytes =
        std::max(high_water_.heartbeat_locked_bytes, locked_part(w.stack_bytes));
    ++high_water_.heartbeats;
  }
  if (relay && w.relay_stack_used > 0) {
    high_water_.relay_bytes = std::max(high_water_.relay_bytes, w.relay_stack_used);
    high_water_.relay_stack_bytes = std::max(high_water_.relay_stack_bytes, w.relay_stack_bytes);
    high_water_.relay_locked_bytes =
        std::max(high_water_.relay_locked_bytes, locked_part(w.relay_stack_bytes));
    ++high_water_.relays;
  }
}

bool HeartbeatManager::has_thread(int cpu) const {
  return cpu >= 0 && cpu < slot_count_ && workers_[static_cast<std::size_t>(cpu)] != nullptr;
}

bool HeartbeatManager::exited(int cpu) const {
  if (!has_thread(cpu)) return false;
  const Worker& w = *workers_[static_cast<std::size_t>(cpu)];
  return w.exited.load(std::memory_order_acquire) &&
         (!w.has_relay.load(std::memory_order_acquire) ||
          w.relay_exited.load(std::memory_order_acquire));
}

namespace {

// Wakes a heartbeat out of clock_nanosleep (EINTR) so it sees its stop flag at once.
void install_wake_handler() {
  static const bool installed = [] {
    struct sigaction sa {};
    sa.sa_handler = [](int) {};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGRTMIN, &sa, nullptr);
    return true;
  }();
  (void)installed;
}

}  // namespace

int HeartbeatManager::stop_all(std::int64_t deadline_ns) {
  install_wake_handler();
  struct Joined {
    bool heartbeat = true;
    bool relay = true;
  };
  std::vector<Joined> joined(workers_.size());
  for (std::size_t i = 0; i < workers_.size(); ++i) {
    auto& w = workers_[i];
    if (!w) continue;
    joined[i].heartbeat = false;
    joined[i].relay = !w->has_relay.load(std::memory_order_acquire);
    w->stop.store(true, std::memory_order_release);
    pthread_kill(w->thread, SIGRTMIN);
    if (!joined[i].relay) post(*w->box, 0);
  }
  // Healthy heartbeats and relays exit at once. One still there after a moment is behind a
  // stalled CPU: it cannot run there to exit, and the process cannot be reaped until every
  // thread has, so it is moved to the CPUs whose threads did exit (demonstrably running). The
  // moves are made by a helper (thread_move.h): a move that waits holds only the helper.
  std::vector<int> healthy;
  auto join_all = [&](std::int64_t until) {
    for (std::size_t i = 0; i < workers_.size(); ++i) {
      auto& w = workers_[i];
      if (!w) continue;
      if (!joined[i].heartbeat) joined[i].heartbeat = join_until(w->thread, until);
      if (!joined[i].relay) joined[i].relay = join_until(w->relay, until);
      if (!joined[i].heartbeat || !joined[i].relay) continue;
      healthy.push_back(w->cpu);
      note_stack_use(*w, true, w->has_relay.load(std::memory_order_acquire));
      w.reset();
    }
  };
  join_all(std::min(deadline_ns, mono_now_ns() + 100'000'000));
  std::vector<pid_t> stuck;
  for (std::size_t i = 0; i < workers_.size(); ++i) {
    auto& w = workers_[i];
    if (!w) continue;
    if (!joined[i].heartbeat)
      if (const int tid = w->slot->tid.load(std::memory_order_relaxed); tid > 0)
        stuck.push_back(tid);
    if (!joined[i].relay)
      if (const pid_t tid = w->relay_tid.load(std::memory_order_acquire); tid > 0)
        stuck.push_back(tid);
  }
  if (!stuck.empty()) {
    std::vector<int> to = healthy;
    if (const int here = sched_getcpu(); here >= 0) to.push_back(here);  // running too
    (void)move_threads_until(stuck, to, std::min(deadline_ns, mono_now_ns() + 200'000'000));
  }
  join_all(deadline_ns);
  int abandoned = 0;
  for (std::size_t i = 0; i < workers_.size(); ++i) {
    auto& w = workers_[i];
    if (!w) continue;
    // Left running: detached with its worker, slot and relay box (never freed).
    if (!joined[i].heartbeat) pthread_detach(w->thread);
    if (!joined[i].relay) pthread_detach(w->relay);
    (void)w.release();
    leak_ = true;
    ++abandoned;
  }
  return abandoned;
}

}  // namespace stallwatch
