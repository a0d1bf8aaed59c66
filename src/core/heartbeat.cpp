#include "stallwatch/heartbeat.h"

#include <sched.h>
#include <time.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

namespace stallwatch {

namespace {

std::int64_t mono_now_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1'000'000'000LL + ts.tv_nsec;
}

timespec to_timespec(std::int64_t ns) {
  return timespec{static_cast<time_t>(ns / 1'000'000'000), static_cast<long>(ns % 1'000'000'000)};
}

// Rare path: pin the stuck checker to this CPU. The checker restores its affinity on its next tick.
void rescue_checker(CheckerBeacon& b, int cpu) {
  int expected = -1;
  if (!b.rescued_by.compare_exchange_strong(expected, cpu, std::memory_order_acq_rel)) return;
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(static_cast<unsigned>(cpu), &set);
  if (sched_setaffinity(b.tid.load(std::memory_order_relaxed), sizeof set, &set) != 0)
    b.rescued_by.store(-1, std::memory_order_release);
}

}  // namespace

HeartbeatManager::HeartbeatManager(int slot_count)
    : slot_count_(slot_count),
      slots_(new HeartbeatSlot[static_cast<std::size_t>(slot_count)]),
      workers_(static_cast<std::size_t>(slot_count)) {}

HeartbeatManager::~HeartbeatManager() { stop_all(); }

// The heartbeat loop: one absolute sleep and one clock read per period, no locks, allocation,
// logging or other syscalls. Missed periods are skipped (as cyclictest does), so a stalled
// heartbeat wakes once when the CPU frees up rather than catching up in a burst.
void* HeartbeatManager::run(void* arg) {
  auto* w = static_cast<Worker*>(arg);
  const std::int64_t interval = w->interval_ns;
  std::int64_t next = mono_now_ns();  // stamp at once so READY comes quickly
  while (!w->stop.load(std::memory_order_relaxed)) {
    timespec ts = to_timespec(next);
    int rc = clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr);
    if (rc == EINTR) continue;
    const std::int64_t now = mono_now_ns();
    w->slot->stamp(now, now - next, sched_getcpu());
    if (CheckerBeacon* b = w->beacon) {
      const std::int64_t last_tick = b->last_tick_ns.load(std::memory_order_relaxed);
      const std::int64_t overdue = b->overdue_ns.load(std::memory_order_relaxed);
      if (overdue > 0 && last_tick > 0 && now - last_tick > overdue) rescue_checker(*b, w->cpu);
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
  w->interval_ns = params.interval_ns;
  w->slot = &slots_[cpu];
  w->beacon = params.beacon;

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
    rc = try_create(false);
  }
  if (rc != 0) return make_error("cannot start the heartbeat on CPU {}: {}", cpu, std::strerror(rc));
  pthread_setname_np(w->thread, fmt::format("sw-hb/{}", cpu).c_str());
  slot_worker = std::move(w);
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

void HeartbeatManager::stop_all() {
  for (auto& w : workers_)
    if (w) w->stop.store(true, std::memory_order_relaxed);
  for (auto& w : workers_) {
    if (!w) continue;
    pthread_join(w->thread, nullptr);
    w.reset();
  }
}

}  // namespace stallwatch
