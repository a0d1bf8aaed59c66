// SPDX-License-Identifier: GPL-2.0-or-later
// The way out of the process during a stall. A process is reaped only when every one of its
// threads has run its own exit, and a thread whose CPU is stalled (non-preemptible kernel code,
// interrupts off, an RT hog) cannot: woken by the exit's SIGKILL it waits on that CPU's run queue
// for as long as the stall lasts, and so does `systemctl stop`. Before _exit the supervisor moves
// every other thread of the process to its own CPU, which is demonstrably running. The moves run
// on a helper thread with a deadline, so a move that would have to wait (a thread current on a
// stalled CPU) cannot hold the exit either. Called by main only, once, at the very end.
#pragma once

#include <cstdint>

namespace stallwatch::daemon {

// Moves every thread but the caller to the caller's CPU; returns within about wait_ms.
void gather_threads_for_exit(int wait_ms);

}  // namespace stallwatch::daemon
