// SPDX-License-Identifier: GPL-2.0-or-later
// ReportWorker: the thread between the check and the sinks. The dispatcher drains the check's
// event ring and pushes the events here without ever blocking (bounded queue; overflow is counted
// and dropped); the worker gathers evidence for stalls (which may take a while or block on /proc)
// and fans the result out to the sinks, in event order. Owned by the Daemon; push() from the
// dispatcher, everything else on the worker.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>

#include "stallwatch/core/sink.h"

namespace stallwatch::daemon {

class ReportWorker {
 public:
  using Enricher = std::function<std::optional<StallReport>(const StallEvent&)>;
  static constexpr std::size_t kCapacity = 1024;

  ReportWorker(std::unique_ptr<EventSink> sink, Enricher enrich);
  ~ReportWorker();
  ReportWorker(const ReportWorker&) = delete;
  ReportWorker& operator=(const ReportWorker&) = delete;

  void start(std::size_t stack_bytes);
  void stop();  // drains what is queued, then joins
  // Bounded: returns false (thread abandoned; keep this object alive) if the worker has not
  // finished by deadline_ns (CLOCK_MONOTONIC), e.g. stuck in evidence of a stalled CPU.
  bool stop(std::int64_t deadline_ns);
  bool push(StallEvent event);
  std::uint64_t dropped() const;
  // Runs one event synchronously (tests).
  void process(const StallEvent& event);

 private:
  void run();
  std::unique_ptr<EventSink> sink_;
  Enricher enrich_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<StallEvent> queue_;
  bool stopping_ = false;
  std::uint64_t dropped_ = 0;
  pthread_t thread_{};
  bool started_ = false;
};

}  // namespace stallwatch::daemon
