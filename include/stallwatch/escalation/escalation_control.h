// SPDX-License-Identifier: GPL-2.0-or-later
// EscalationControl: the one object the daemon wires in for escalation and hardware-watchdog
// ownership. Built from Config + Sysroot on the main thread.
//   start()               main thread, before the heartbeats start: refuses a state or runtime
//                         directory that is not ours or is group/other-writable
//                         (check_private_dir), owns/arms the watchdog device (if
//                         watchdog.device is set) and reports how the previous boot ended.
//   on_tick()             the check (on whichever heartbeat runs it), every check: feeds the
//                         device per FeedPolicy. Never blocks on a lock; one ioctl at most.
//   on_escalation_due()   the check, when tick() returned a kEscalation event: the feeding
//                         stops after a grace even if the report worker is wedged.
//   make_sink()           the EscalationSink (an EventSink) for the report worker's CompositeSink.
//   shutdown()            main thread, after the heartbeats and the report worker have
//                         stopped: disarms cleanly, or (after an escalation) leaves the reset due.
// Escalation/watchdog settings are read once; a SIGHUP reload does not change them.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "stallwatch/core/config.h"
#include "stallwatch/core/journal_writer.h"
#include "stallwatch/core/result.h"
#include "stallwatch/core/sink.h"
#include "stallwatch/core/sysroot.h"
#include "stallwatch/escalation/escalation_sink.h"
#include "stallwatch/escalation/feed_policy.h"
#include "stallwatch/escalation/reset_reason.h"
#include "stallwatch/escalation/watchdog_device.h"
#include "stallwatch/escalation/watchdog_ops.h"

namespace stallwatch::escalation {

// Everything with a side effect; empty members get the real implementation.
struct EscalationControlSeams {
  std::unique_ptr<WatchdogOps> ops;
  std::unique_ptr<JournalWriter> journal;
  EscalationSinkSeams sink;
  std::function<std::int64_t()> mono_ns;  // CLOCK_MONOTONIC: times the keepalive at start
};

class EscalationControl {
 public:
  EscalationControl(const Config& config, const Sysroot& root, EscalationControlSeams seams = {});
  ~EscalationControl();
  EscalationControl(const EscalationControl&) = delete;
  EscalationControl& operator=(const EscalationControl&) = delete;

  // Reads the boot id, probes and arms the device, reports the previous boot. An error (e.g.
  // EBUSY, timeout out of the device's range) is fatal for the daemon: nothing stays armed.
  Status start(std::int64_t now_mono_ns);
  void on_tick(std::int64_t now_mono_ns, bool checker_healthy);
  // For the daemon's split feeding: the check decides with feed_policy() (real-time), the
  // feeder thread pets the device with feed_device() (may sleep in a slow driver).
  FeedPolicy* feed_policy() { return policy_.get(); }
  bool feed_device();
  // Whether the check may feed the device itself (feed_device() from the real-time path): the
  // keepalive was timed at start (3 calls, the slowest) and returned within kDirectFeedMaxNs, so
  // the driver does not sleep in it (i6300esb, iTCO_wdt, softdog). Otherwise the feeder thread
  // does (ipmi_watchdog waits for the BMC). -1 before start() or without a device.
  static constexpr std::int64_t kDirectFeedMaxNs = 200'000;
  bool direct_feed() const { return direct_feed_; }
  std::int64_t keepalive_ns() const { return keepalive_ns_; }
  void on_escalation_due(std::int64_t now_mono_ns);
  std::unique_ptr<EventSink> make_sink();
  // The escalation actor (daemon thread sw-escalate), as soon as the check found an escalation
  // due: persist the reason (bounded) and act, without waiting for evidence or journald. The
  // sink's event follows. Needs make_sink() first; false if nothing was taken.
  bool take_now(const StallEvent& event);
  // Whether action/dry_run call for an actor at all.
  bool acts() const;
  // Report worker: is this stall an announced `stallwatchctl drill`? The worker sets
  // report.drill from it before storing the report and running the sinks. Never throws.
  bool is_drill(const StallEvent& event, const StallReport& report) const;
  void shutdown();
  // watchdog-device: shorten the device timeout to this when escalating (0 = keep). There is
  // no config key for it yet; call before make_sink().
  void set_reset_timeout(int seconds) { reset_timeout_s_ = seconds; }

  // Startup report of the previous boot; start() calls it. Exposed for tests.
  PreviousBootReport report_previous_boot();

  const WatchdogDevice* device() const { return device_.get(); }
  const FeedPolicy* policy() const { return policy_.get(); }
  const std::string& boot_id() const { return boot_id_; }
  const ResetReasonStore& store() const { return store_; }

 private:
  Config config_;
  const Sysroot& root_;
  EscalationControlSeams seams_;
  ResetReasonStore store_;
  std::string boot_id_;
  std::unique_ptr<WatchdogDevice> device_;
  std::unique_ptr<FeedPolicy> policy_;
  bool started_ = false;
  bool shut_down_ = false;
  int reset_timeout_s_ = 0;
  EscalationSink* sink_ = nullptr;  // the sink make_sink() made (owned by the report worker)
  std::uint64_t feed_failures_ = 0;
  bool direct_feed_ = false;
  std::int64_t keepalive_ns_ = -1;
};

}  // namespace stallwatch::escalation
