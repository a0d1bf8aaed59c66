// SPDX-License-Identifier: GPL-2.0-or-later
// A heartbeat that does nothing, in an address space as large as asked: bench/overhead.py's
// second yardstick. One thread per CPU, pinned, SCHED_FIFO, sleeping on absolute CLOCK_MONOTONIC
// deadlines at the given interval and phase, one clock read per wakeup and nothing else (less
// than a stallwatchd heartbeat does); all memory locked, and `resident KiB` of anonymous memory
// populated and locked beside it (never touched again).
//
// Why: on a virtual machine whose MMU the hypervisor shadows, switching into an address space
// costs more the more of it is resident, whatever the thread then touches. Run with the
// resident size of stallwatchd, this loop shows what any heartbeat in an address space that size
// costs per wakeup on the machine of the day; stallwatchd's own per-wakeup cost is then read
// against it as well as against cyclictest (whose address space is a few MiB).
//
// WARM_US (optional): the main thread, unpinned and SCHED_OTHER, wakes every WARM_US as
// cyclictest's main thread does (usleep(10000) in its loop, even with -q: 100 wakeups a second).
// An address space entered that often stays warm in the hypervisor, and a heartbeat in it is
// then as cheap as cyclictest's (docs/performance.md, 2026-12-04).
// What kind of memory the extra is (environment, for docs/performance.md "2026-12-04,
// evening"): by default private anonymous memory, each page written once (dirty, as a stack, the
// heap or a buffer is); RESIDENT_FILE=PATH maps that file's first RESIDENT_KIB (it must be that
// large) instead, private and read-only, each page read once (clean page cache, as code and
// libraries are). RESIDENT_HUGE=1 asks for the anonymous memory in 2 MiB transparent huge pages
// (MADV_HUGEPAGE; AnonHugePages in /proc/<pid>/smaps_rollup says whether it got them).
// RESIDENT_UNLOCKED=1 leaves out mlockall. RESIDENT_TOUCH=K (anonymous memory only): each wakeup
// also reads one byte in each of K pages of it, pages spread over the whole region, so each
// wakeup touches K more 4 KiB pages than the loop itself does: what one more page touched per
// wakeup costs on the machine of the day (a TLB miss each when the TLB is cold; under nested
// paging a miss is a two-dimensional page walk). RESIDENT_SPREAD=K: each wakeup also reads one
// byte in each of K pages mapped 1 GiB apart, so each needs its own page-table pages (their
// walks share no upper level), as a heartbeat's stack, heap, code, libc and vDSO do.
// Usage: resident_loop INTERVAL_US PHASE_US RESIDENT_KIB SECONDS [WARM_US]. Prints nothing;
// measured from /proc/<pid>/task/*/schedstat by overhead.py and resident_sweep.py.
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

namespace {

// The bytes each wakeup reads (RESIDENT_TOUCH, RESIDENT_SPREAD; none by default): one per page,
// each in a line of its own.
std::vector<const volatile unsigned char*> g_reads;

struct Loop {
  int cpu = 0;
  std::int64_t interval_ns = 0;
  std::int64_t phase_ns = 0;
  std::int64_t end_ns = 0;
};

std::int64_t now_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1'000'000'000LL + ts.tv_nsec;
}

void* run(void* arg) {
  const Loop& l = *static_cast<const Loop*>(arg);
  std::int64_t next = (now_ns() / l.interval_ns + 1) * l.interval_ns + l.phase_ns;
  while (next < l.end_ns) {
    timespec ts{static_cast<time_t>(next / 1'000'000'000), static_cast<long>(next % 1'000'000'000)};
    clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr);
    const std::int64_t now = now_ns();
    for (const volatile unsigned char* byte : g_reads) (void)*byte;
    next += l.interval_ns;
    if (next <= now) next += ((now - next) / l.interval_ns + 1) * l.interval_ns;
  }
  return nullptr;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 5 && argc != 6) {
    std::fprintf(stderr,
                 "usage: resident_loop INTERVAL_US PHASE_US RESIDENT_KIB SECONDS [WARM_US]\n");
    return 2;
  }
  const std::int64_t interval_ns = std::atoll(argv[1]) * 1000;
  const std::int64_t phase_ns = std::atoll(argv[2]) * 1000;
  const std::size_t resident = static_cast<std::size_t>(std::atoll(argv[3])) * 1024;
  const std::int64_t seconds = std::atoll(argv[4]);
  const std::int64_t warm_us = argc == 6 ? std::atoll(argv[5]) : 0;
  if (interval_ns <= 0 || seconds <= 0) return 2;
  // The extra memory first, then mlockall (MCL_CURRENT keeps it resident): a region populated
  // under MCL_FUTURE would be faulted in at mmap(), in 4 KiB pages, before any madvise.
  if (const char* file = std::getenv("RESIDENT_FILE"); resident > 0 && file != nullptr) {
    const int fd = open(file, O_RDONLY | O_CLOEXEC);
    void* mem = fd < 0 ? MAP_FAILED : mmap(nullptr, resident, PROT_READ, MAP_PRIVATE, fd, 0);
    if (mem == MAP_FAILED) {
      std::perror(file);
      return 1;
    }
    close(fd);
    const auto* pages = static_cast<const volatile unsigned char*>(mem);
    for (std::size_t i = 0; i < resident; i += 4096) (void)pages[i];  // resident and clean
  } else if (resident > 0) {
    const char* huge_env = std::getenv("RESIDENT_HUGE");
    const bool huge = huge_env != nullptr && std::strcmp(huge_env, "1") == 0;
    const std::size_t align = huge ? std::size_t{2} << 20 : 0;  // a PMD's reach on x86-64
    void* mem =
        mmap(nullptr, resident + align, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED) {
      std::perror("mmap");
      return 1;
    }
    auto* start = static_cast<unsigned char*>(mem);
    if (huge) {
      start += (align - reinterpret_cast<std::uintptr_t>(mem) % align) % align;
      if (madvise(start, resident, MADV_HUGEPAGE) != 0) std::perror("madvise(MADV_HUGEPAGE)");
    }
    std::memset(start, 1, resident);  // resident, each page its own
    if (const char* touch = std::getenv("RESIDENT_TOUCH"); touch != nullptr) {
      const std::size_t pages = resident / 4096;
      const std::size_t k =
          std::min<std::size_t>(static_cast<std::size_t>(std::atoll(touch)), pages);
      // Spread over the region, and a different line in each (not all in one cache set).
      for (std::size_t i = 0; i < k; ++i)
        g_reads.push_back(start + i * (pages / k) * 4096 + 64 * (i % 64));
    }
  }
  if (const char* spread = std::getenv("RESIDENT_SPREAD"); spread != nullptr) {
    for (long i = 0; i < std::atol(spread); ++i) {
      // Far from everything else: 64 TiB up, a GiB apart.
      void* want = reinterpret_cast<void*>((std::uintptr_t{64} << 40) + (std::uintptr_t(i) << 30));
      void* page = mmap(want, 4096, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
      if (page == MAP_FAILED) {
        std::perror("mmap (RESIDENT_SPREAD)");
        return 1;
      }
      static_cast<unsigned char*>(page)[64 * (i % 64)] = 1;  // resident, a line of its own
      g_reads.push_back(static_cast<unsigned char*>(page) + 64 * (i % 64));
    }
  }
  const char* unlocked = std::getenv("RESIDENT_UNLOCKED");
  if ((unlocked == nullptr || std::strcmp(unlocked, "1") != 0) &&
      mlockall(MCL_CURRENT | MCL_FUTURE) != 0)
    std::perror("mlockall");
  const int ncpu = static_cast<int>(sysconf(_SC_NPROCESSORS_ONLN));
  std::vector<Loop> loops(static_cast<std::size_t>(ncpu));
  std::vector<pthread_t> threads(loops.size());
  const std::int64_t end = now_ns() + seconds * 1'000'000'000;
  for (int c = 0; c < ncpu; ++c) {
    Loop& l = loops[static_cast<std::size_t>(c)];
    l = Loop{c, interval_ns, (phase_ns + c * interval_ns / ncpu) % interval_ns, end};
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(static_cast<unsigned>(c), &set);
    pthread_attr_setaffinity_np(&attr, sizeof set, &set);
    pthread_attr_setinheritsched(&attr, PTHREAD_EXPLICIT_SCHED);
    pthread_attr_setschedpolicy(&attr, SCHED_FIFO);
    sched_param sp{};
    sp.sched_priority = 99;
    pthread_attr_setschedparam(&attr, &sp);
    pthread_attr_setstacksize(&attr, 64 * 1024);
    if (pthread_create(&threads[static_cast<std::size_t>(c)], &attr, &run, &l) != 0) {
      std::fprintf(stderr, "pthread_create on CPU %d failed (root needed for SCHED_FIFO)\n", c);
      return 1;
    }
    pthread_attr_destroy(&attr);
  }
  while (warm_us > 0 && now_ns() < end) usleep(static_cast<useconds_t>(warm_us));
  for (pthread_t t : threads) pthread_join(t, nullptr);
  return 0;
}
