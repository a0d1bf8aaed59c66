// SPDX-License-Identifier: GPL-2.0-or-later
// A batch job that keeps one CPU's caches and TLB cold: bench/overhead.py's "cold day"
// (`overhead.py BINARY SECONDS ROUNDS COLD_MIB`). Issue 22's slow day (2026-12-02) was userspace
// work on cold caches, and a VM cannot be told to have one; a job that writes one byte in every
// 64-byte line of a buffer larger than the last-level cache, page after 4 KiB page, leaves every
// line and TLB entry a sleeping thread owned evicted by the time it wakes, for stallwatchd's
// heartbeat and cyclictest's thread alike. The CPU is then never idle: a wakeup preempts the job
// instead of leaving idle, so the figure is "a busy CPU with cold caches", not the idle one.
//
// Runs at SCHED_IDLE (below any SCHED_OTHER task; the measured threads are SCHED_FIFO) on the
// CPUs it was started on (overhead.py pins one per measured CPU). Exits after SECONDS.
// Usage: cache_thrash MIB SECONDS. Prints nothing.
#include <sched.h>
#include <sys/mman.h>
#include <time.h>

#include <cstddef>
#include <cstdio>
#include <cstdlib>

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: cache_thrash MIB SECONDS\n");
    return 2;
  }
  const std::size_t bytes = static_cast<std::size_t>(std::strtoul(argv[1], nullptr, 10)) << 20;
  const long seconds = std::strtol(argv[2], nullptr, 10);
  if (bytes == 0 || seconds <= 0) {
    std::fprintf(stderr, "cache_thrash: MIB and SECONDS must be positive\n");
    return 2;
  }
  sched_param sp{};
  if (sched_setscheduler(0, SCHED_IDLE, &sp) != 0) std::perror("cache_thrash: SCHED_IDLE");
  void* mem = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) {
    std::perror("cache_thrash: mmap");
    return 1;
  }
  madvise(mem, bytes, MADV_NOHUGEPAGE);  // 4 KiB pages: a TLB entry per page, as the daemon has
  auto* p = static_cast<volatile unsigned char*>(mem);
  timespec start{}, now{};
  clock_gettime(CLOCK_MONOTONIC, &start);
  for (unsigned char round = 1;; ++round) {
    for (std::size_t i = 0; i < bytes; i += 64) p[i] = round;
    clock_gettime(CLOCK_MONOTONIC, &now);
    if (now.tv_sec - start.tv_sec >= seconds) break;
  }
  return 0;
}
