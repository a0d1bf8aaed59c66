// SPDX-License-Identifier: GPL-2.0-or-later
#include "stallwatch/escalation_actor.h"

#include <sched.h>
#include <sys/select.h>
#include <time.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "stallwatch/thread_move.h"

namespace stallwatch {

EscalationActor::EscalationActor(std::function<void(const StallEvent&)> act)
    : act_(std::move(act)) {}

EscalationActor::~EscalationActor() { (void)stop(0); }

Status EscalationActor::start(int priority, bool allow_other) {
  if (!wake_.valid()) return make_error("eventfd: {}", std::strerror(errno));
  auto create = [&](bool fifo) {
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 64 * 1024);
    pthread_attr_setinheritsched(&attr, PTHREAD_EXPLICIT_SCHED);
    sched_param sp{};
    sp.sched_priority = fifo ? priority : 0;
    pthread_attr_setschedpolicy(&attr, fifo ? SCHED_FIFO : SCHED_OTHER);
    pthread_attr_setschedparam(&attr, &sp);
    const int rc = pthread_create(&thread_, &attr, [](void* self) -> void* {
      static_cast<EscalationActor*>(self)->run();
      return nullptr;
    }, this);
    pthread_attr_destroy(&attr);
    return rc;
  };
  int rc = create(true);
  if (rc == EPERM && allow_other) rc = create(false);
  if (rc != 0) return make_error("cannot start the escalation thread: {}", std::strerror(rc));
  pthread_setname_np(thread_, "sw-escalate");
  started_ = true;
  return Ok{};
}

void EscalationActor::request(int cpu, const CheckEvent& e) noexcept {
  // One writer (the check owner); the mailbox is written only while empty.
  if (state_.load(std::memory_order_relaxed) != kEmpty) return;
  posted_ = e;
  state_.store(kPosted, std::memory_order_release);
  wake_.wake_on(cpu);
}

void EscalationActor::run() {
  wake_.attach();
  while (!stop_.load(std::memory_order_acquire)) {
    if (wake_.busy() == 0) {
      wake_.idle();
      fd_set set;
      FD_ZERO(&set);
      FD_SET(wake_.fd(), &set);
      ::select(wake_.fd() + 1, &set, nullptr, nullptr, nullptr);
      continue;
    }
    if (stop_.load(std::memory_order_acquire)) break;
    if (state_.load(std::memory_order_acquire) != kPosted) continue;
    if (!spread_.empty()) (void)spread_thread(0, spread_);
    const StallEvent e = to_stall_event(posted_);
    act_(e);
    state_.store(kTaken, std::memory_order_release);
  }
}

bool EscalationActor::stop(std::int64_t deadline_ns) {
  if (!started_) return true;
  started_ = false;
  stop_.store(true, std::memory_order_release);
  timespec mono{};
  clock_gettime(CLOCK_MONOTONIC, &mono);
  const std::int64_t now = mono.tv_sec * 1'000'000'000LL + mono.tv_nsec;
  // Moved off a CPU that may be stalled now, by a helper (see Feeder::stop).
  if (const int cpu = sched_getcpu(); cpu >= 0 && wake_.tid() > 0)
    (void)move_threads_until({static_cast<pid_t>(wake_.tid())}, {cpu},
                             std::min(deadline_ns, now + 100'000'000));
  wake_.wake();
  clock_gettime(CLOCK_MONOTONIC, &mono);
  timespec real{};
  clock_gettime(CLOCK_REALTIME, &real);
  const std::int64_t left = deadline_ns - (mono.tv_sec * 1'000'000'000LL + mono.tv_nsec);
  const std::int64_t until = real.tv_sec * 1'000'000'000LL + real.tv_nsec + std::max<std::int64_t>(left, 0);
  timespec ts{static_cast<time_t>(until / 1'000'000'000), static_cast<long>(until % 1'000'000'000)};
  if (pthread_timedjoin_np(thread_, nullptr, &ts) == 0) return true;
  pthread_detach(thread_);
  return false;
}

}  // namespace stallwatch
