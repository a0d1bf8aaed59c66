// SPDX-License-Identifier: GPL-2.0-or-later
#include "stallwatch/daemon/dispatch_plan.h"

#include <algorithm>

namespace stallwatch::daemon {

namespace {

// Nothing is written before the first check has published the CPUs' states (until then every
// CPU would read "offline"), unless no check comes within ready_after_ns: then the file must say
// so.
bool checked(const DispatchState& s, std::int64_t now_ns) {
  return s.checked || now_ns - s.start_ns > s.ready_after_ns;
}

}  // namespace

DispatchPlan plan_dispatch(const DispatchState& s, std::int64_t now_ns) {
  DispatchPlan p;
  if (!s.ready_sent && (s.all_started || now_ns - s.start_ns > s.ready_after_ns)) {
    p.send_ready = true;
    p.ready_anyway = !s.all_started;
  }
  const bool due =
      checked(s, now_ns) && (s.changed || s.requested || now_ns - s.last_status_ns >= s.refresh_ns);
  if (due) {
    p.write_status = now_ns - s.last_status_ns >= kDispatchMinRewriteNs;
    p.held = !p.write_status;
  }
  return p;
}

DispatchWait plan_wait(const DispatchState& s, bool held, std::int64_t now_ns) {
  DispatchWait w;
  // The periodic pass rides on a check (the first one past status_due_ns wakes the dispatcher on
  // a CPU a heartbeat has just woken); the timer is only the fallback for when no check comes
  // (every heartbeat stalled, or the machine paused).
  w.status_due_ns = s.last_status_ns + s.refresh_ns;
  w.wait_ns = checked(s, now_ns) ? w.status_due_ns + kDispatchRideSlackNs - now_ns
                                 : s.start_ns + s.ready_after_ns + 1 - now_ns;
  if (held) w.wait_ns = std::min(w.wait_ns, kDispatchMinRewriteNs);
  if (!s.ready_sent)
    w.wait_ns = std::min(w.wait_ns,
                         std::max<std::int64_t>(s.start_ns + s.ready_after_ns - now_ns, 1'000'000));
  w.timeout_ms = static_cast<int>(std::max<std::int64_t>(1, w.wait_ns / 1'000'000 + 1));
  return w;
}

}  // namespace stallwatch::daemon
