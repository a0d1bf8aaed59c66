// SPDX-License-Identifier: GPL-2.0-or-later
// Moving threads between CPUs without waiting for a stalled one.
//
// sched_setaffinity() of another thread returns at once while that thread sleeps or waits on a
// run queue, but when it is running (or being woken) on another CPU the kernel waits for that
// CPU (affine_move_task() runs the move through the CPU's stopper), and with
// CONFIG_CPUMASK_OFFSTACK (Debian's kernels) every call allocates with GFP_KERNEL. So no
// real-time heartbeat calls it (their relays do: heartbeat.h), and the stop path makes its moves
// through move_threads_until(), whose helper thread is the only one left waiting.
// Threads: any non-real-time thread (pin_thread also from a relay).
#pragma once

#include <pthread.h>
#include <sys/types.h>

#include <cstdint>
#include <vector>

namespace stallwatch {

// Pins thread tid (0 = the caller) to one CPU. The mask lives on the stack (no allocation in
// userspace); false when the kernel refused (an offline CPU, a cpuset without it).
bool pin_thread(pid_t tid, int cpu) noexcept;

// Whether the calling thread may run on `cpu` only (true also when the mask cannot be read).
bool pinned_to(int cpu) noexcept;

// Lets thread tid (0 = the caller) run on any of cpus. The feeder and the escalation actor call
// it on themselves once woken on the checking CPU, before work that may sleep (a keepalive in a
// slow driver): a real-time thread with more than one allowed CPU, woken while a higher (or
// equal) priority task holds its CPU, is placed by the kernel on a CPU where it can run
// (select_task_rq_rt), and one preempted there is pushed to one (push_rt_task). Pinned, it
// would wait for the hog. Same stack mask as pin_thread.
bool spread_thread(pid_t tid, const std::vector<int>& cpus) noexcept;

// Joins `thread` until deadline_ns (CLOCK_MONOTONIC). True when it was joined; false when it
// is still running (it is not detached: the caller decides).
bool join_until(pthread_t thread, std::int64_t deadline_ns) noexcept;

// Moves every thread of tids to the CPUs of cpus from a helper thread and waits for it until
// deadline_ns (CLOCK_MONOTONIC). Returns true when every move was attempted in time; false when
// the helper is still waiting in the kernel (it is then left to finish on its own).
bool move_threads_until(const std::vector<pid_t>& tids, const std::vector<int>& cpus,
                        std::int64_t deadline_ns);

}  // namespace stallwatch
