// SPDX-License-Identifier: GPL-2.0-or-later
// MetricsPublisher: the daemon's one handle on metrics. It owns the StallCounters (fed by the
// CountingSink it makes for the report worker), adds their values to the status document, and
// every metrics.interval renders that document (render_metrics) into the textfile. The status
// document stays the single source of truth: the textfile and `stallwatchctl metrics` are both
// render_metrics() of it.
// Owned by the Daemon. make_sink() at start; add_fields() and publish() on the dispatcher (the
// status writer; blocking file I/O: never a real-time thread); count_reload_failure() and
// configure() from any thread.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include <nlohmann/json_fwd.hpp>

#include "stallwatch/core/atomic_file.h"
#include "stallwatch/core/config.h"
#include "stallwatch/core/sink.h"
#include "stallwatch/metrics/stall_counters.h"

namespace stallwatch::metrics {

class MetricsPublisher {
 public:
  // escalation_action: to_string(escalation.action); its escalation counter is shown from zero
  // ("none": no escalation counter). auto_path: where textfile = "auto" writes.
  MetricsPublisher(int cpu_slots, std::string escalation_action,
                   std::string auto_path = kAutoTextfile);

  // on_count: called on the report worker after each count (wakes the status writer).
  std::unique_ptr<EventSink> make_sink(std::function<void()> on_count = {});
  // Moves with every count (StallCounters::generation): a change the textfile should show.
  std::uint64_t generation() const { return counters_->generation(); }
  void count_reload_failure() { counters_->count_reload_failure(); }

  // Adds the counter fields to a status document (status_document()): per CPU (by its "cpu",
  // with its "episode_ms" as the ongoing stall) stalls_by_class {class: n>0} and stall_ms_total;
  // and escalations_total {action: n}, watchdog_armed (bool; null when no hardware watchdog is
  // configured), config_reload_failures_total.
  void add_fields(nlohmann::json& doc, std::optional<bool> watchdog_armed);

  // Writes render_metrics(doc) when metrics.interval has passed since the last write (the first
  // call always writes), and on a change: `changed` (the status writer saw a CPU's state or a
  // stall count move) or a counter of its own moved since the last write. Changes are written at
  // most every kChangeGapNs; one held back by that makes refresh_ns() ask for a pass when the gap
  // has passed. So the file carries a stall at once, and an idle host rewrites it only every
  // interval. Logs where it writes when that changes, and failures rate-limited.
  static constexpr std::int64_t kChangeGapNs = 1'000'000'000;
  void publish(const nlohmann::json& doc, std::int64_t now_mono_ns, const MetricsConfig& config,
               bool changed = false);
  // The same with the [metrics] settings last given to configure() (start, reload: any thread).
  void configure(const MetricsConfig& config);
  void publish(const nlohmann::json& doc, std::int64_t now_mono_ns, bool changed = false);

  const std::string& current_path() const { return path_; }

  // How often the status document must be rebuilt (at most max_refresh_ns apart) so the
  // textfile is written every metrics.interval: interval / ceil(interval / max_refresh).
  // max_refresh_ns when the textfile is off.
  static std::int64_t refresh_ns(const MetricsConfig& config, std::int64_t max_refresh_ns);
  // The same for the settings last given to configure(), with "auto" counted as off while its
  // directory does not exist (no node_exporter: the status document waits max_refresh_ns);
  // kChangeGapNs while a change waits to be written.
  std::int64_t refresh_ns(std::int64_t max_refresh_ns);

 private:
  std::shared_ptr<StallCounters> counters_;
  std::mutex config_mu_;  // reload (supervisor) vs the dispatcher; never a real-time thread
  MetricsConfig config_;
  std::string escalation_action_;
  std::string auto_path_;
  std::string path_;                  // where the last write went ("" = off)
  std::unique_ptr<AtomicFile> file_;  // at path_
  bool announced_ = false;
  std::int64_t last_write_ns_ = 0;
  bool written_ = false;
  bool change_pending_ = false;
  std::uint64_t written_generation_ = 0;
  std::uint64_t failures_ = 0;
};

}  // namespace stallwatch::metrics
