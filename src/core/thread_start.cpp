// SPDX-License-Identifier: GPL-2.0-or-later
#include "stallwatch/core/thread_start.h"

#include <limits.h>
#include <sched.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <cstring>

namespace stallwatch {

namespace {

// The canary: one 64-bit word repeated ("SWSTACK!" in ASCII), a value no pointer, counter or
// small integer on a stack is likely to equal.
constexpr std::uint64_t kPaint = 0x214b434154535753ULL;
// Left unpainted below the painting frame: that frame's own locals and the x86-64 red zone
// (128 bytes) are within it. It only ever makes the high-water larger.
constexpr std::uintptr_t kPaintMarginBytes = 512;

// The painted thread's stack: [low, top) is all of it above the guard page; only [low, painted
// end) was painted. Static TLS of a few bytes in every thread; 0 = not painted.
thread_local std::uintptr_t t_stack_low = 0;
thread_local std::uintptr_t t_stack_top = 0;
// The unlocked reserve below the locked part, [t_reserve_low, t_stack_low); empty if none.
thread_local std::uintptr_t t_reserve_low = 0;

// Set once mlockall(MCL_CURRENT | MCL_FUTURE) is in effect (note_memory_locked()).
std::atomic<bool> g_memory_locked{false};

std::uintptr_t page_bytes() noexcept {
  const long n = ::sysconf(_SC_PAGESIZE);
  return n > 0 ? static_cast<std::uintptr_t>(n) : 4096;
}

// The new thread's own stack, [low, low + size) above its guard, and the guard's size; false when
// libc cannot say.
bool own_stack(std::uintptr_t* low, std::size_t* size, std::size_t* guard) noexcept {
  pthread_attr_t attr;
  if (pthread_getattr_np(pthread_self(), &attr) != 0) return false;
  void* addr = nullptr;
  const bool ok = pthread_attr_getstack(&attr, &addr, size) == 0 &&
                  pthread_attr_getguardsize(&attr, guard) == 0;
  pthread_attr_destroy(&attr);
  if (!ok || addr == nullptr) return false;
  // pthread_attr_getstack's address is the stack's low end, above the guard page.
  *low = reinterpret_cast<std::uintptr_t>(addr);
  return true;
}

// glibc maps a thread's guard page (PROT_NONE, below its stack) in the same mapping as the
// stack, so under mlockall(MCL_FUTURE) it counts in VmLck and against RLIMIT_MEMLOCK although
// it can never be resident: 4 KiB per thread, 8 KiB per monitored CPU. Unlocked here: the guard
// stays (an overflow still faults), the stack stays locked.
void unlock_guard(std::uintptr_t low, std::size_t guard) noexcept {
  if (guard == 0 || low < guard) return;
  ::munlock(reinterpret_cast<void*>(low - guard), guard);  // best effort: only VmLck changes
}

// Runs in the new thread before its function. The stack is locked and already faulted in
// (mlockall), so painting costs a few thousand stores and no memory. Address sanitizer off: the
// words below the stack pointer may still be shadow-poisoned by frames that came and went.
// Only [low, top) is painted: a reserve below it (split_reserve) is left unpopulated.
[[gnu::noinline, gnu::no_sanitize_address]] void paint_own_stack(std::uintptr_t low,
                                                                 std::uintptr_t top) noexcept {
  std::uintptr_t here_word = 0;
  const auto here = reinterpret_cast<std::uintptr_t>(&here_word);  // a local: at or above the SP
  if (here < low + kPaintMarginBytes || here >= top) return;       // not this stack
  const std::uintptr_t end = (here - kPaintMarginBytes) & ~std::uintptr_t{7};
  for (auto* p = reinterpret_cast<volatile std::uint64_t*>(low);
       reinterpret_cast<std::uintptr_t>(p) < end; ++p)
    *p = kPaint;
  t_stack_low = low;
  t_stack_top = top;
}

// With memory locked, keeps only the top `locked` bytes of [low, top) locked (rounded up to a
// page) and turns the rest into a reserve: munlocked and dropped, so it is neither resident nor
// in VmLck, yet still stack (a thread that ever goes that deep takes a minor fault there, where a
// smaller stack would overflow). Returns the locked part's low end (low when nothing was split).
// Checked against this frame: the reserve never holds the running thread's stack pointer.
[[gnu::noinline]] std::uintptr_t split_reserve(std::uintptr_t low, std::uintptr_t top,
                                               std::size_t locked) noexcept {
  if (locked == 0 || !g_memory_locked.load(std::memory_order_relaxed)) return low;
  const std::uintptr_t page = page_bytes();
  if (top - low <= locked) return low;
  const std::uintptr_t split = (top - locked) & ~(page - 1);
  std::uintptr_t here_word = 0;
  const auto here = reinterpret_cast<std::uintptr_t>(&here_word);
  if (split <= low || here < split + kPaintMarginBytes || here >= top) return low;
  void* reserve = reinterpret_cast<void*>(low);
  if (::munlock(reserve, split - low) != 0) return low;
  if (::madvise(reserve, split - low, MADV_DONTNEED) != 0) {
    (void)::mlock(reserve, split - low);  // nothing dropped: keep it as it was
    return low;
  }
  t_reserve_low = low;
  return split;
}

// Before the stack goes back to glibc's cache, where any thread of its size may take it: the
// reserve is locked again, as mlockall left every other stack.
void relock_reserve(std::uintptr_t low, std::uintptr_t split) noexcept {
  if (split > low) (void)::mlock(reinterpret_cast<void*>(low), split - low);
}

struct Entry {
  void* (*fn)(void*);
  void* arg;
  bool paint;
  std::size_t locked;
};

// Every thread start_thread makes begins here, off any real-time path (the thread's function
// has not run yet), and ends here after its function returned.
void* entry(void* raw) {
  const Entry e = *static_cast<Entry*>(raw);
  delete static_cast<Entry*>(raw);
  std::uintptr_t low = 0;
  std::size_t size = 0;
  std::size_t guard = 0;
  std::uintptr_t split = 0;
  if (own_stack(&low, &size, &guard)) {
    unlock_guard(low, guard);
    split = split_reserve(low, low + size, e.locked);
    if (e.paint) paint_own_stack(split, low + size);
  }
  void* ret = e.fn(e.arg);
  if (split != 0) relock_reserve(low, split);
  return ret;
}

}  // namespace

[[gnu::no_sanitize_address]] std::size_t stack_high_water_bytes() noexcept {
  if (t_stack_low == 0) return 0;
  // Down in the reserve: its deepest resident page (page granularity, never an underestimate).
  const std::uintptr_t page = page_bytes();
  for (std::uintptr_t a = t_reserve_low; a != 0 && a < t_stack_low; a += page) {
    unsigned char resident = 0;
    if (::mincore(reinterpret_cast<void*>(a), page, &resident) == 0 && (resident & 1) != 0)
      return t_stack_top - a;
  }
  auto* p = reinterpret_cast<const volatile std::uint64_t*>(t_stack_low);
  while (reinterpret_cast<std::uintptr_t>(p) < t_stack_top && *p == kPaint) ++p;
  return t_stack_top - reinterpret_cast<std::uintptr_t>(p);
}

void note_memory_locked() noexcept { g_memory_locked.store(true, std::memory_order_relaxed); }

bool memory_locked() noexcept { return g_memory_locked.load(std::memory_order_relaxed); }

std::size_t min_thread_stack_bytes() {
  const long n = ::sysconf(_SC_THREAD_STACK_MIN);
  return n > 0 ? static_cast<std::size_t>(n) : static_cast<std::size_t>(PTHREAD_STACK_MIN);
}

int start_thread(pthread_t* thread, void* (*fn)(void*), void* arg, const ThreadOptions& options) {
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  // Refused below the libc minimum: the thread would get the 8 MiB default, locked.
  if (options.stack_bytes > 0)
    if (const int rc = pthread_attr_setstacksize(&attr, options.stack_bytes); rc != 0) {
      pthread_attr_destroy(&attr);
      return rc;
    }
  if (options.pin_cpu >= 0) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(static_cast<unsigned>(options.pin_cpu), &set);
    pthread_attr_setaffinity_np(&attr, sizeof set, &set);
  }
  if (options.sched != ThreadSched::kInherit) {
    const bool fifo = options.sched == ThreadSched::kFifo;
    pthread_attr_setinheritsched(&attr, PTHREAD_EXPLICIT_SCHED);
    sched_param sp{};
    sp.sched_priority = fifo ? options.priority : 0;
    pthread_attr_setschedpolicy(&attr, fifo ? SCHED_FIFO : SCHED_OTHER);
    pthread_attr_setschedparam(&attr, &sp);
  }
  if (options.detached) pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  auto* start = new Entry{fn, arg, options.paint_stack, options.locked_stack_bytes};
  const int rc = pthread_create(thread, &attr, &entry, start);
  if (rc != 0) delete start;
  pthread_attr_destroy(&attr);
  if (rc == 0 && options.name != nullptr && options.name[0] != '\0')
    pthread_setname_np(*thread, options.name);
  return rc;
}

Status start_background_thread(pthread_t* thread, void* (*fn)(void*), void* arg,
                               std::size_t stack_bytes, const char* name) {
  ThreadOptions options;
  options.name = name;
  options.stack_bytes = stack_bytes;
  options.sched = ThreadSched::kOther;
  const int rc = start_thread(thread, fn, arg, options);
  if (rc != 0) return make_error("{}: pthread_create: {}", name, std::strerror(rc));
  return Ok{};
}

}  // namespace stallwatch
