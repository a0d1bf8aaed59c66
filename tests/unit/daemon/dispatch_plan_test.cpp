// SPDX-License-Identifier: GPL-2.0-or-later
// The dispatcher's pass as plain data and a clock: when READY=1 goes out, when status.json is
// written or held back, and how long the dispatcher then sleeps.
#include "stallwatch/daemon/dispatch_plan.h"

#include <gtest/gtest.h>

namespace stallwatch::daemon {
namespace {

constexpr std::int64_t kMs = 1'000'000;
constexpr std::int64_t kS = 1000 * kMs;

// Started at 10 s, READY=1 anyway after 2 s, refresh every 60 s.
DispatchState started() {
  DispatchState s;
  s.start_ns = 10 * kS;
  s.ready_after_ns = 2 * kS;
  s.refresh_ns = 60 * kS;
  return s;
}

TEST(DispatchPlan, ReadyOnceEveryHeartbeatStampedOrAnywayAfterTheWait) {
  DispatchState s = started();
  EXPECT_FALSE(plan_dispatch(s, 11 * kS).send_ready);
  s.all_started = true;
  DispatchPlan p = plan_dispatch(s, 11 * kS);
  EXPECT_TRUE(p.send_ready);
  EXPECT_FALSE(p.ready_anyway);
  s.all_started = false;
  EXPECT_FALSE(plan_dispatch(s, 12 * kS).send_ready);  // exactly ready_after: not yet
  p = plan_dispatch(s, 12 * kS + 1);
  EXPECT_TRUE(p.send_ready);
  EXPECT_TRUE(p.ready_anyway);
  s.ready_sent = true;
  EXPECT_FALSE(plan_dispatch(s, 13 * kS).send_ready);  // once
}

TEST(DispatchPlan, NoStatusBeforeTheFirstCheckUnlessNoneComesInTime) {
  DispatchState s = started();
  s.changed = true;
  s.requested = true;
  DispatchPlan p = plan_dispatch(s, 11 * kS);
  EXPECT_FALSE(p.write_status);
  EXPECT_FALSE(p.held);
  // Its timer wakes it just past ready_after (READY=1 not sent: at most that, at least 1 ms).
  DispatchWait w = plan_wait(s, p.held, 11 * kS);
  EXPECT_EQ(w.wait_ns, 1 * kS);
  EXPECT_EQ(w.timeout_ms, 1001);
  s.checked = true;
  EXPECT_TRUE(plan_dispatch(s, 11 * kS).write_status);
  s.checked = false;
  EXPECT_TRUE(plan_dispatch(s, 12 * kS + 1).write_status);  // no check came: say so
}

TEST(DispatchPlan, WrittenOnChangeRequestOrRefresh) {
  DispatchState s = started();
  s.checked = true;
  s.ready_sent = true;
  s.last_status_ns = 20 * kS;
  EXPECT_FALSE(plan_dispatch(s, 30 * kS).write_status);  // nothing new
  s.changed = true;
  EXPECT_TRUE(plan_dispatch(s, 30 * kS).write_status);
  s.changed = false;
  s.requested = true;
  EXPECT_TRUE(plan_dispatch(s, 30 * kS).write_status);
  s.requested = false;
  EXPECT_FALSE(plan_dispatch(s, 80 * kS - 1).write_status);
  EXPECT_TRUE(plan_dispatch(s, 80 * kS).write_status);  // refresh_ns since the last
}

TEST(DispatchPlan, AFloodOfRequestsIsHeldToTheRewriteLimit) {
  DispatchState s = started();
  s.checked = true;
  s.ready_sent = true;
  s.requested = true;
  s.last_status_ns = 30 * kS;
  DispatchPlan p = plan_dispatch(s, 30 * kS + 40 * kMs);
  EXPECT_FALSE(p.write_status);
  EXPECT_TRUE(p.held);
  // Held: it sleeps at most the limit, then writes.
  EXPECT_EQ(plan_wait(s, p.held, 30 * kS + 40 * kMs).wait_ns, kDispatchMinRewriteNs);
  p = plan_dispatch(s, 30 * kS + kDispatchMinRewriteNs);
  EXPECT_TRUE(p.write_status);
  EXPECT_FALSE(p.held);
}

TEST(DispatchPlan, ThePeriodicPassRidesACheckAndItsTimerIsTheFallback) {
  DispatchState s = started();
  s.checked = true;
  s.ready_sent = true;
  s.last_status_ns = 30 * kS;  // just written
  DispatchWait w = plan_wait(s, false, 30 * kS);
  EXPECT_EQ(w.status_due_ns, 90 * kS);
  EXPECT_EQ(w.wait_ns, 60 * kS + kDispatchRideSlackNs);
  EXPECT_EQ(w.timeout_ms, 62'001);
  // A shorter refresh (the metrics textfile holding a change back) shortens both.
  s.refresh_ns = 1 * kS;
  w = plan_wait(s, false, 30 * kS + 500 * kMs);
  EXPECT_EQ(w.status_due_ns, 31 * kS);
  EXPECT_EQ(w.wait_ns, 2500 * kMs);
  // Past the fallback: the shortest poll.
  EXPECT_EQ(plan_wait(s, false, 40 * kS).timeout_ms, 1);
}

TEST(DispatchPlan, BeforeReadyTheWaitEndsAtTheReadyDeadline) {
  DispatchState s = started();
  s.checked = true;
  s.last_status_ns = 10 * kS + 100 * kMs;
  EXPECT_EQ(plan_wait(s, false, 10 * kS + 500 * kMs).wait_ns, 1500 * kMs);
  EXPECT_EQ(plan_wait(s, false, 13 * kS).wait_ns, 1 * kMs);  // past it: 1 ms at least
}

}  // namespace
}  // namespace stallwatch::daemon
