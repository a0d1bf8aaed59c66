// SPDX-License-Identifier: GPL-2.0-or-later
// EventSink: where stall events and their reports go (journald, report files, escalation).
// Called on the report worker thread only. A sink that fails logs (rate-limited) and returns;
// the composite keeps going with the others: an exception escaping one sink (a last resort --
// sinks catch their own) is logged and the next sink still runs, so a bad report can never
// keep the escalation sink from acting.
#pragma once

#include <cstdint>
#include <exception>
#include <memory>
#include <vector>

#include <spdlog/spdlog.h>

#include "stallwatch/core/event.h"
#include "stallwatch/core/stall_report.h"

namespace stallwatch {

class EventSink {
 public:
  virtual ~EventSink() = default;
  // report is null for events without evidence (recovered, global pause, evidence disabled).
  virtual void fire(const StallEvent& event, const StallReport* report) = 0;
};

class CompositeSink final : public EventSink {
 public:
  void add(std::unique_ptr<EventSink> sink) { sinks_.push_back(std::move(sink)); }
  void fire(const StallEvent& event, const StallReport* report) override {
    for (auto& s : sinks_) {
      try {
        s->fire(event, report);
      } catch (const std::exception& e) {
        if (failures_++ % 100 == 0) spdlog::error("event sink failed: {}", e.what());
      } catch (...) {
        if (failures_++ % 100 == 0) spdlog::error("event sink failed: unknown exception");
      }
    }
  }

 private:
  std::vector<std::unique_ptr<EventSink>> sinks_;
  std::uint64_t failures_ = 0;
};

}  // namespace stallwatch
