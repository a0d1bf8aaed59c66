// SPDX-License-Identifier: GPL-2.0-or-later
// Dispatch plan: the dispatcher's decisions in one pass as pure functions of plain data and a
// clock reading, so they are unit-tested like plan_hotplug and Checker::tick:
//   plan_dispatch(): send READY=1 now (and whether every heartbeat has stamped), write status.json
//                    now, or hold a due write back (the request-flood limit);
//   plan_wait():     after the pass, when the periodic pass is due (PublishedState::status_due_ns,
//                    which the check rides) and how long to sleep in poll().
// The Dispatcher (its own thread) fills DispatchState each pass; no state is kept here.
#pragma once

#include <cstdint>

namespace stallwatch::daemon {

// A status pass is written at most this often (a flood of status.request writes).
inline constexpr std::int64_t kDispatchMinRewriteNs = 100'000'000;
// The periodic pass waits for a check to wake it (checks come at least every checker.interval,
// at most 1 s); this much past due, the dispatcher's own timer runs it.
inline constexpr std::int64_t kDispatchRideSlackNs = 2'000'000'000;

struct DispatchState {
  std::int64_t start_ns = 0;        // when the dispatcher started
  std::int64_t ready_after_ns = 0;  // READY=1 (and a status pass) anyway this long after start
  bool ready_sent = false;
  bool all_started = false;  // every heartbeat has stamped (PublishedState::all_started)
  bool checked = false;      // a check has published the CPUs' states (PublishedState::checks)
  bool changed = false;      // the published state or an outside count moved since the last pass
  bool requested = false;    // status.request, or request_status()
  std::int64_t last_status_ns = 0;  // the last status pass (0: none yet)
  std::int64_t refresh_ns = 0;      // rewrite at least this often
};

struct DispatchPlan {
  bool send_ready = false;
  bool ready_anyway = false;  // READY=1 although not every heartbeat has stamped (warn)
  bool write_status = false;
  bool held = false;  // a pass is due but the last was under kDispatchMinRewriteNs ago
};

DispatchPlan plan_dispatch(const DispatchState& s, std::int64_t now_ns);

struct DispatchWait {
  std::int64_t status_due_ns = 0;  // the periodic pass: the first check past it wakes the pass
  std::int64_t wait_ns = 0;        // until the dispatcher's own timer
  int timeout_ms = 1;              // for poll(): wait_ns rounded up, at least 1 ms
};

// s: the state as the pass left it (last_status_ns, ready_sent and refresh_ns after its write);
// held: the pass held a due write back.
DispatchWait plan_wait(const DispatchState& s, bool held, std::int64_t now_ns);

}  // namespace stallwatch::daemon
