// SPDX-License-Identifier: GPL-2.0-or-later
// The one way the daemon starts a thread: a pthread with an explicit stack size, scheduling
// (the caller's, SCHED_OTHER, or SCHED_FIFO at a priority), optionally pinned to one CPU from its
// first instruction or detached, and named. Callable from any non-real-time thread (it allocates
// the thread's stack); the new thread's function gets `arg`. Before that function runs, the new
// thread munlocks its own guard page: glibc maps it with the stack, so under mlockall it would
// count in VmLck (and against RLIMIT_MEMLOCK) without ever being resident; it stays PROT_NONE.
//
// The stack canary (opt-in, ThreadOptions::paint_stack): the new thread paints the unused part of
// its own stack with a pattern before its function runs; stack_high_water_bytes(), called by that
// thread (at its exit, never on a real-time path), scans for the deepest word overwritten. Every
// thread's stack is locked (mlockall), so this is how its size, and the part of it kept locked
// (ThreadOptions::locked_stack_bytes), are chosen from a measurement.
#pragma once

#include <pthread.h>

#include <cstddef>

#include "stallwatch/core/result.h"

namespace stallwatch {

enum class ThreadSched {
  kInherit,  // the creating thread's policy and priority
  kOther,    // SCHED_OTHER, whatever the caller runs as
  kFifo,     // SCHED_FIFO at ThreadOptions::priority
};

// The locked top of a helper thread's stack. Their stacks are 64 to 512 KiB, sized for what a
// library (spdlog, fmt, nlohmann-json, libtracefs) might need; measured page-resident on their
// deepest paths (stalls with evidence, a reload, reports written), the flight recorder's sw-trace
// went deepest, 28 KiB (setting up tracefs), the others at most 20 KiB (docs/performance.md,
// "2026-12-04, evening"). Locked whole, the helpers' stacks were 1.5 MiB of the daemon's 8.4 MiB
// resident, and on a virtual machine whose hypervisor shadows page tables every resident page
// makes every heartbeat wakeup dearer. host_stack_high_water checks that no helper reaches into
// its reserve (the flight recorder, off by default, is not started there).
inline constexpr std::size_t kHelperLockedStackBytes = 32 * 1024;

struct ThreadOptions {
  const char* name = "";        // pthread_setname_np (15 characters at most)
  std::size_t stack_bytes = 0;  // 0 = the libc default
  ThreadSched sched = ThreadSched::kInherit;
  int priority = 0;  // with kFifo
  int pin_cpu = -1;  // >= 0: created with its affinity set to this CPU alone
  bool detached = false;
  bool paint_stack = false;  // the stack canary: see stack_high_water_bytes()
  // > 0, with memory locked (note_memory_locked()): only the top this many bytes of the stack
  // (page-rounded) stay locked and resident; the rest below is a reserve, unlocked and dropped
  // at the thread's start (not in VmLck; a minor fault if ever reached) and locked again at its
  // end. 0: the whole stack stays locked. The default, kHelperLockedStackBytes, is what every
  // helper (logging, evidence, reports, dispatch) keeps; heartbeats and relays keep less, the
  // real-time feeder and escalation actor (WokenThread) their whole stack.
  std::size_t locked_stack_bytes = kHelperLockedStackBytes;
};

// pthread_create's error number, or pthread_attr_setstacksize's (EINVAL: below the libc minimum,
// min_thread_stack_bytes()); 0: started and named. Callers that fall back (SCHED_FIFO refused with
// EPERM, a stack below the libc minimum or too small for its static TLS refused with EINVAL)
// retry with other options.
int start_thread(pthread_t* thread, void* (*fn)(void*), void* arg, const ThreadOptions& options);

// The smallest stack pthread_attr_setstacksize accepts (PTHREAD_STACK_MIN: 16 KiB on x86-64 with
// glibc). glibc carves the thread's descriptor and static TLS out of the requested size.
std::size_t min_thread_stack_bytes();

// From a thread started with ThreadOptions::paint_stack: the bytes of its stack it ever used,
// counted down from the top of its stack (glibc's thread descriptor and static TLS, carved out of
// the requested size, included; and the few hundred bytes left unpainted below its entry frame,
// so never an underestimate). 0 in a thread whose stack was not painted. Reads its whole stack:
// call it once, at the thread's exit.
// With a reserve (ThreadOptions::locked_stack_bytes), a thread that went down into it counts to
// its deepest resident page.
std::size_t stack_high_water_bytes() noexcept;

// Called once mlockall(MCL_CURRENT | MCL_FUTURE) succeeded: only then is there a locked stack to
// split (ThreadOptions::locked_stack_bytes).
void note_memory_locked() noexcept;
bool memory_locked() noexcept;  // note_memory_locked() was called

// The entry of a thread that runs one member function of `self` (the `arg` given to start_thread
// or start_background_thread): &thread_entry<Worker, &Worker::run>.
template <class T, void (T::*Run)()>
void* thread_entry(void* self) {
  (static_cast<T*>(self)->*Run)();
  return nullptr;
}

// A helper that must never compete with the heartbeats: SCHED_OTHER whatever the caller's
// policy, with an explicit (small) stack. The error names the thread.
Status start_background_thread(pthread_t* thread, void* (*fn)(void*), void* arg,
                               std::size_t stack_bytes, const char* name);

}  // namespace stallwatch
