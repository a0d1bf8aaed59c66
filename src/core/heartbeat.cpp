// SPDX-License-Identifier: GPL-2.0-or-later
#include "stallwatch/heartbeat.h"

#include <sched.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "stallwatch/checker.h"

namespace stallwatch {

namespace {

std::int64_t clock_now_ns(clockid_t id) {
  timespec ts{};
  clock_gettime(id, &ts);
  return ts.tv_sec * 1'000'000'000LL + ts.tv_nsec;
}

timespec to_timespec(std::int64_t ns) {
  return timespec{static_cast<time_t>(ns / 1'000'000'000), static_cast<long>(ns % 1'000'000'000)};
}

}  // namespace

// Two relaxed loads of the gate's line when nothing is due (the common case). A late wakeup
// looks for a blackout even before a deadline; a claim held past the bound by an owner that
// froze is taken over (check_gate.h).
void check_on_wakeup(CheckGate& gate, CheckHook& hook, HeartbeatSlot& slot, int cpu, std::int64_t now,
                     std::int64_t late, std::int64_t late_bound) {
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
  hook.run_check(call);
}

namespace {

// A heartbeat moved off its CPU from outside puts itself back: moving the calling thread waits
// only for its own CPU's stopper, never for the target CPU (which may be the stalled one: then
// the heartbeat waits there, silent, and that is a stall).
bool put_back(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(static_cast<unsigned>(cpu), &set);
  return ::sched_setaffinity(0, sizeof set, &set) == 0;
}

}  // namespace

HeartbeatManager::HeartbeatManager(int slot_count)
    : slot_count_(slot_count),
      slots_(new HeartbeatSlot[static_cast<std::size_t>(slot_count)]),
      workers_(static_cast<std::size_t>(slot_count)) {}

HeartbeatManager::~HeartbeatManager() {
  stop_all(clock_now_ns(CLOCK_MONOTONIC) + 2'000'000'000);
  if (leak_) {
    // An abandoned heartbeat may still wake and stamp: its memory stays valid until exit.
    (void)slots_.release();
    for (auto& w : workers_) (void)w.release();
  }
}

// The heartbeat loop: one absolute sleep and one clock read per period, no locks, allocation,
// logging or other syscalls — unless it wins a check (check_gate.h). Missed periods are skipped
// (as cyclictest does), so a stalled heartbeat wakes once when the CPU frees up rather than
// catching up in a burst.
void* HeartbeatManager::run(void* arg) {
  auto* w = static_cast<Worker*>(arg);
  HeartbeatSlot& slot = *w->slot;
  slot.tid.store(static_cast<int>(::gettid()), std::memory_order_relaxed);
  std::int64_t interval = w->interval_ns.load(std::memory_order_relaxed);
  std::uint32_t generation = w->generation.load(std::memory_order_acquire);
  std::int64_t next = clock_now_ns(CLOCK_MONOTONIC);  // stamp at once so READY comes quickly
  std::int64_t next_put_back = 0;
  bool phased = false;
  while (!w->stop.load(std::memory_order_relaxed)) {
    timespec ts = to_timespec(next);
    int rc = clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr);
    if (rc == EINTR) continue;
    const std::int64_t now = clock_now_ns(CLOCK_MONOTONIC);
    const std::int64_t late = std::max<std::int64_t>(0, now - next);
    const int on = sched_getcpu();
    if (on == w->cpu) {
      if (slot.displaced_on.load(std::memory_order_relaxed) != kOnItsCpu)
        slot.displaced_on.store(kOnItsCpu, std::memory_order_release);
      slot.stamp(now, late, on);
    } else {
      // Only a stamp made on its CPU counts: this one speaks for no CPU.
      if (slot.displaced_on.load(std::memory_order_relaxed) < 0) {
        slot.moved_to.store(on, std::memory_order_relaxed);
        slot.displacements.store(slot.displacements.load(std::memory_order_relaxed) + 1,
                                 std::memory_order_relaxed);
        slot.displaced_on.store(on, std::memory_order_release);
        slot.attention.store(1, std::memory_order_relaxed);
      }
      if (now >= next_put_back) {
        next_put_back = now + 1'000'000'000;
        if (put_back(w->cpu)) {
          slot.placed_ns.store(now, std::memory_order_relaxed);
          slot.displaced_on.store(kReturning, std::memory_order_release);
          slot.attention.store(1, std::memory_order_relaxed);
        }
      }
    }
    if (w->gate != nullptr && w->hook != nullptr)
      check_on_wakeup(*w->gate, *w->hook, slot, w->cpu, now, late, Checker::late_bound_ns(interval));
    const std::uint32_t g = w->generation.load(std::memory_order_acquire);
    if (!phased || g != generation) {
      // From here on, deadlines sit at this CPU's phase of the interval (staggered heartbeats).
      phased = true;
      generation = g;
      interval = w->interval_ns.load(std::memory_order_relaxed);
      next = (now / interval) * interval + w->phase_ns.load(std::memory_order_relaxed);
    }
    next += interval;
    if (next <= now) next += ((now - next) / interval + 1) * interval;
  }
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
  w->gate = params.gate;
  w->hook = params.hook;

  auto try_create = [&](bool fifo) -> int {
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, params.stack_bytes);
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(static_cast<unsigned>(cpu), &set);
    pthread_attr_setaffinity_np(&attr, sizeof set, &set);
    pthread_attr_setinheritsched(&attr, PTHREAD_EXPLICIT_SCHED);
    sched_param sp{};
    sp.sched_priority = fifo ? params.priority : 0;
    pthread_attr_setschedpolicy(&attr, fifo ? SCHED_FIFO : SCHED_OTHER);
    pthread_attr_setschedparam(&attr, &sp);
    int rc = pthread_create(&w->thread, &attr, &HeartbeatManager::run, w.get());
    pthread_attr_destroy(&attr);
    return rc;
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
  if (rc != 0) return make_error("cannot start the heartbeat on CPU {}: {}", cpu, std::strerror(rc));
  pthread_setname_np(w->thread, fmt::format("sw-hb/{}", cpu).c_str());
  slot_worker = std::move(w);
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
    w.priority = params.priority;
  }
  return Ok{};
}

void HeartbeatManager::request_stop(int cpu) {
  if (cpu < 0 || cpu >= slot_count_) return;
  if (auto& w = workers_[static_cast<std::size_t>(cpu)]) w->stop.store(true, std::memory_order_relaxed);
}

bool HeartbeatManager::reap(int cpu) {
  if (cpu < 0 || cpu >= slot_count_) return true;
  auto& w = workers_[static_cast<std::size_t>(cpu)];
  if (!w) return true;
  if (!w->exited.load(std::memory_order_acquire)) return false;
  pthread_join(w->thread, nullptr);
  w.reset();
  return true;
}

bool HeartbeatManager::has_thread(int cpu) const {
  return cpu >= 0 && cpu < slot_count_ && workers_[static_cast<std::size_t>(cpu)] != nullptr;
}

bool HeartbeatManager::exited(int cpu) const {
  if (!has_thread(cpu)) return false;
  return workers_[static_cast<std::size_t>(cpu)]->exited.load(std::memory_order_acquire);
}

namespace {

// Wakes a heartbeat out of clock_nanosleep (EINTR) so it sees its stop flag at once.
void install_wake_handler() {
  static const bool installed = [] {
    struct sigaction sa{};
    sa.sa_handler = [](int) {};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGRTMIN, &sa, nullptr);
    return true;
  }();
  (void)installed;
}

bool timed_join(pthread_t thread, std::int64_t deadline_mono_ns) {
  const std::int64_t until = clock_now_ns(CLOCK_REALTIME) +
                             std::max<std::int64_t>(0, deadline_mono_ns - clock_now_ns(CLOCK_MONOTONIC));
  timespec ts = to_timespec(until);
  return pthread_timedjoin_np(thread, nullptr, &ts) == 0;
}

}  // namespace

int HeartbeatManager::stop_all(std::int64_t deadline_ns) {
  install_wake_handler();
  for (auto& w : workers_) {
    if (!w) continue;
    w->stop.store(true, std::memory_order_relaxed);
    pthread_kill(w->thread, SIGRTMIN);
  }
  // Healthy heartbeats exit at once. One still there after a moment is behind a stalled CPU:
  // it cannot run there to exit, and the process cannot be reaped until every thread has, so it
  // is moved to the CPUs whose heartbeats did exit (demonstrably running).
  const std::int64_t first = std::min(deadline_ns, clock_now_ns(CLOCK_MONOTONIC) + 100'000'000);
  cpu_set_t healthy;
  CPU_ZERO(&healthy);
  for (auto& w : workers_) {
    if (!w || !timed_join(w->thread, first)) continue;
    CPU_SET(static_cast<unsigned>(w->cpu), &healthy);
    w.reset();
  }
  int abandoned = 0;
  for (auto& w : workers_) {
    if (!w) continue;
    cpu_set_t set = healthy;
    const int here = sched_getcpu();  // the stopping thread's CPU is running too
    if (here >= 0 && here != w->cpu) CPU_SET(static_cast<unsigned>(here), &set);
    if (CPU_COUNT(&set) == 0) {
      for (int c = 0; c < slot_count_; ++c)
        if (c != w->cpu) CPU_SET(static_cast<unsigned>(c), &set);
    }
    if (CPU_COUNT(&set) > 0) pthread_setaffinity_np(w->thread, sizeof set, &set);
    if (timed_join(w->thread, deadline_ns)) {
      w.reset();
      continue;
    }
    pthread_detach(w->thread);
    (void)w.release();
    leak_ = true;
    ++abandoned;
  }
  return abandoned;
}

}  // namespace stallwatch
