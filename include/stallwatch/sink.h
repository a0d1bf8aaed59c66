// EventSink: where stall events and their reports go (journald, report files, escalation).
// Called on the report worker thread only. A sink that fails logs (rate-limited) and returns;
// the composite keeps going with the others.
#pragma once

#include <memory>
#include <vector>

#include "stallwatch/event.h"
#include "stallwatch/stall_report.h"

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
    for (auto& s : sinks_) s->fire(event, report);
  }

 private:
  std::vector<std::unique_ptr<EventSink>> sinks_;
};

}  // namespace stallwatch
