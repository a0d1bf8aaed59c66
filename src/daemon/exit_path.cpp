// SPDX-License-Identifier: GPL-2.0-or-later
#include "stallwatch/exit_path.h"

#include <pthread.h>
#include <sched.h>
#include <time.h>
#include <unistd.h>

#include "stallwatch/thread_placement.h"

namespace stallwatch {

namespace {

struct Gather {
  int cpu = -1;
  int keep_tid = 0;  // the caller
};

void* gather_main(void* arg) {
  const auto* g = static_cast<const Gather*>(arg);
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(static_cast<unsigned>(g->cpu), &set);
  for_each_other_thread([&](pid_t tid) {
    if (tid != g->keep_tid) sched_setaffinity(tid, sizeof set, &set);
  });
  return nullptr;
}

}  // namespace

void gather_threads_for_exit(int wait_ms) {
  static Gather g;  // outlives a helper that is still busy when the process exits
  g.cpu = sched_getcpu();
  g.keep_tid = static_cast<int>(::gettid());
  if (g.cpu < 0) return;
  pthread_t t;
  if (pthread_create(&t, nullptr, &gather_main, &g) != 0) return;
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  ts.tv_nsec += static_cast<long>(wait_ms) * 1'000'000;
  ts.tv_sec += ts.tv_nsec / 1'000'000'000;
  ts.tv_nsec %= 1'000'000'000;
  if (pthread_timedjoin_np(t, nullptr, &ts) != 0) pthread_detach(t);
}

}  // namespace stallwatch
