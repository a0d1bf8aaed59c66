// SPDX-License-Identifier: GPL-2.0-or-later
#include "stallwatch/core/thread_move.h"

#include <pthread.h>
#include <sched.h>
#include <time.h>

#include <algorithm>
#include <condition_variable>
#include <memory>
#include <mutex>

#include "stallwatch/core/clock.h"
#include "stallwatch/core/thread_start.h"

namespace stallwatch {

namespace {

constexpr int kMaxCpus = 8192;
constexpr std::size_t kWords = kMaxCpus / (8 * sizeof(unsigned long));

struct StackMask {
  unsigned long bits[kWords] = {};
  std::size_t size = 0;
  bool add(int cpu) {
    if (cpu < 0 || cpu >= kMaxCpus) return false;
    bits[static_cast<std::size_t>(cpu) / (8 * sizeof(unsigned long))] |=
        1UL << (static_cast<unsigned>(cpu) % (8 * sizeof(unsigned long)));
    size = std::max(size, CPU_ALLOC_SIZE(cpu + 1));
    return true;
  }
  bool apply(pid_t tid) const {
    return size > 0 &&
           ::sched_setaffinity(tid, size, reinterpret_cast<const cpu_set_t*>(bits)) == 0;
  }
};

// Shared by the caller and the helper: whoever leaves last frees it.
struct MoveJob {
  std::vector<pid_t> tids;
  StackMask mask;
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
};

void* move_main(void* arg) {
  std::shared_ptr<MoveJob> job(*static_cast<std::shared_ptr<MoveJob>*>(arg));
  delete static_cast<std::shared_ptr<MoveJob>*>(arg);
  for (pid_t tid : job->tids) (void)job->mask.apply(tid);
  std::lock_guard lock(job->mu);
  job->done = true;
  job->cv.notify_all();
  return nullptr;
}

}  // namespace

bool pin_thread(pid_t tid, int cpu) noexcept {
  StackMask mask;
  return mask.add(cpu) && mask.apply(tid);
}

bool join_until(pthread_t thread, std::int64_t deadline_ns) noexcept {
  // pthread_timedjoin_np takes a CLOCK_REALTIME time: the monotonic deadline is carried over.
  const std::int64_t until = real_now_ns() + std::max<std::int64_t>(0, deadline_ns - mono_now_ns());
  const timespec ts{static_cast<time_t>(until / 1'000'000'000),
                    static_cast<long>(until % 1'000'000'000)};
  return pthread_timedjoin_np(thread, nullptr, &ts) == 0;
}

bool pinned_to(int cpu) noexcept {
  StackMask mask;
  if (::sched_getaffinity(0, sizeof mask.bits, reinterpret_cast<cpu_set_t*>(mask.bits)) != 0)
    return true;  // cannot tell: leave it as it is
  const std::size_t bits = 8 * sizeof(unsigned long);
  for (std::size_t w = 0; w < kWords; ++w) {
    unsigned long want = 0;
    if (cpu >= 0 && static_cast<std::size_t>(cpu) / bits == w)
      want = 1UL << (static_cast<std::size_t>(cpu) % bits);
    if (mask.bits[w] != want) return false;
  }
  return true;
}

bool spread_thread(pid_t tid, const std::vector<int>& cpus) noexcept {
  StackMask mask;
  for (int c : cpus) (void)mask.add(c);
  return mask.apply(tid);
}

bool move_threads_until(const std::vector<pid_t>& tids, const std::vector<int>& cpus,
                        std::int64_t deadline_ns) {
  if (tids.empty()) return true;
  auto job = std::make_shared<MoveJob>();
  job->tids = tids;
  for (int c : cpus) (void)job->mask.add(c);
  if (job->mask.size == 0) return false;
  ThreadOptions options;
  options.name = "sw-mover";
  options.stack_bytes = 64 * 1024;  // locked under mlockall: keep it small
  options.detached = true;
  pthread_t thread;
  auto* arg = new std::shared_ptr<MoveJob>(job);
  if (start_thread(&thread, &move_main, arg, options) != 0) {
    delete arg;
    return false;
  }
  std::unique_lock lock(job->mu);
  const std::int64_t left = std::max<std::int64_t>(0, deadline_ns - mono_now_ns());
  return job->cv.wait_for(lock, std::chrono::nanoseconds(left), [&] { return job->done; });
}

}  // namespace stallwatch
