// SPDX-License-Identifier: GPL-2.0-or-later
#include "stallwatch/daemon/report_worker.h"

#include <pthread.h>
#include <time.h>

#include <algorithm>

#include <spdlog/spdlog.h>

#include "stallwatch/core/thread_move.h"
#include "stallwatch/core/thread_start.h"

namespace stallwatch::daemon {

ReportWorker::ReportWorker(std::unique_ptr<EventSink> sink, Enricher enrich)
    : sink_(std::move(sink)), enrich_(std::move(enrich)) {}

ReportWorker::~ReportWorker() {
  if (started_) stop();
}

void ReportWorker::start(std::size_t stack_bytes) {
  ThreadOptions options;
  options.name = "sw-report";
  options.stack_bytes = stack_bytes;
  const int rc =
      start_thread(&thread_, &thread_entry<ReportWorker, &ReportWorker::run>, this, options);
  if (rc == 0) {
    started_ = true;
  } else {
    spdlog::error("cannot start the report worker thread (error {}); events are written inline",
                  rc);
  }
}

void ReportWorker::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (started_) {
    pthread_join(thread_, nullptr);
    started_ = false;
  }
}

bool ReportWorker::stop(std::int64_t deadline_ns) {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (!started_) return true;
  started_ = false;
  if (join_until(thread_, deadline_ns)) return true;
  pthread_detach(thread_);
  return false;
}

bool ReportWorker::push(StallEvent event) {
  if (!started_) {
    process(event);
    return true;
  }
  {
    std::lock_guard lock(mu_);
    if (queue_.size() >= kCapacity) {
      ++dropped_;
      return false;
    }
    queue_.push_back(std::move(event));
  }
  cv_.notify_one();
  return true;
}

std::uint64_t ReportWorker::dropped() const {
  std::lock_guard lock(mu_);
  return dropped_;
}

void ReportWorker::process(const StallEvent& event) {
  std::optional<StallReport> report;
  if (enrich_ && (event.kind == EventKind::kStall || event.kind == EventKind::kOngoing ||
                  event.kind == EventKind::kEscalation))
    report = enrich_(event);
  sink_->fire(event, report ? &*report : nullptr);
}

void ReportWorker::run() {
  for (;;) {
    StallEvent event;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping and drained
      event = std::move(queue_.front());
      queue_.pop_front();
    }
    process(event);
  }
}

}  // namespace stallwatch::daemon
