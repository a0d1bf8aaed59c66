// SPDX-License-Identifier: GPL-2.0-or-later
#include "stallwatch/metrics/publisher.h"

#include <sys/stat.h>

#include <algorithm>

#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include "stallwatch/core/status_schema.h"
#include "stallwatch/metrics/exposition.h"
#include "stallwatch/metrics/textfile.h"

namespace stallwatch::metrics {

MetricsPublisher::MetricsPublisher(int cpu_slots, std::string escalation_action,
                                   std::string auto_path)
    : counters_(std::make_shared<StallCounters>(cpu_slots)),
      escalation_action_(std::move(escalation_action)),
      auto_path_(std::move(auto_path)) {}

std::unique_ptr<EventSink> MetricsPublisher::make_sink(std::function<void()> on_count) {
  return std::make_unique<CountingSink>(counters_, std::move(on_count));
}

void MetricsPublisher::add_fields(nlohmann::json& doc, std::optional<bool> watchdog_armed) {
  namespace key = status_key;
  if (auto cpus = doc.find(key::kCpus); cpus != doc.end() && cpus->is_array()) {
    for (auto& c : *cpus) {
      if (!c.is_object()) continue;
      const int cpu = get_or<int>(c, key::kCpu, -1);
      nlohmann::json by_class = nlohmann::json::object();
      for (std::size_t k = 0; k < kStallClasses.size(); ++k)
        if (auto n = counters_->stalls(cpu, k); n > 0) by_class[std::string(kStallClasses[k])] = n;
      c[key::kStallsByClass] = std::move(by_class);
      const std::int64_t episode_ns = get_or<std::int64_t>(c, key::kEpisodeMs, 0) * 1'000'000;
      c[key::kStallMsTotal] = counters_->stall_ns_total(cpu, episode_ns) / 1'000'000;
    }
  }
  nlohmann::json esc = nlohmann::json::object();
  if (!escalation_action_.empty() && escalation_action_ != "none")
    esc[escalation_action_] = counters_->escalations();
  doc[key::kEscalationsTotal] = std::move(esc);
  doc[key::kWatchdogArmed] =
      watchdog_armed ? nlohmann::json(*watchdog_armed) : nlohmann::json(nullptr);
  doc[key::kConfigReloadFailuresTotal] = counters_->reload_failures();
}

std::int64_t MetricsPublisher::refresh_ns(const MetricsConfig& config,
                                          std::int64_t max_refresh_ns) {
  const std::int64_t interval = config.interval.count();
  if (config.textfile.empty() || interval <= 0 || max_refresh_ns <= 0) return max_refresh_ns;
  const std::int64_t n = (interval + max_refresh_ns - 1) / max_refresh_ns;
  return interval / n;
}

std::int64_t MetricsPublisher::refresh_ns(std::int64_t max_refresh_ns) {
  MetricsConfig config;
  {
    std::lock_guard lock(config_mu_);
    config = config_;
  }
  struct stat st {};
  if (config.textfile == "auto" &&
      !(::stat(parent_dir(auto_path_).c_str(), &st) == 0 && S_ISDIR(st.st_mode)))
    config.textfile.clear();
  const std::int64_t refresh = refresh_ns(config, max_refresh_ns);
  return change_pending_ ? std::min(refresh, kChangeGapNs) : refresh;
}

void MetricsPublisher::configure(const MetricsConfig& config) {
  std::lock_guard lock(config_mu_);
  config_ = config;
}

void MetricsPublisher::publish(const nlohmann::json& doc, std::int64_t now_mono_ns, bool changed) {
  MetricsConfig config;
  {
    std::lock_guard lock(config_mu_);
    config = config_;
  }
  publish(doc, now_mono_ns, config, changed);
}

void MetricsPublisher::publish(const nlohmann::json& doc, std::int64_t now_mono_ns,
                               const MetricsConfig& config, bool changed) {
  const std::uint64_t generation = counters_->generation();
  if (changed || generation != written_generation_) change_pending_ = true;
  const std::int64_t since = now_mono_ns - last_write_ns_;
  if (written_ && since < config.interval.count() && !(change_pending_ && since >= kChangeGapNs))
    return;
  written_ = true;
  change_pending_ = false;
  written_generation_ = generation;
  last_write_ns_ = now_mono_ns;
  struct stat st {};
  const bool auto_dir = config.textfile == "auto" &&
                        ::stat(parent_dir(auto_path_).c_str(), &st) == 0 && S_ISDIR(st.st_mode);
  std::string path = resolve_textfile(config.textfile, auto_path_, auto_dir);
  if (!announced_ || path != path_) {
    announced_ = true;
    if (path.empty())
      spdlog::info("metrics textfile off ({})", config.textfile.empty()
                                                    ? "metrics.textfile = \"\""
                                                    : parent_dir(auto_path_) + " does not exist");
    else
      spdlog::info("metrics: writing {} every {}s", path,
                   static_cast<double>(config.interval.count()) / 1e9);
    path_ = path;
    file_ = path.empty() ? nullptr : std::make_unique<AtomicFile>(path);
    failures_ = 0;
  }
  if (!file_) return;
  if (auto st_write = file_->write(render_metrics(doc)); !st_write) {
    if (failures_++ % 100 == 0)
      spdlog::warn("metrics: {} (failure {}; node_exporter keeps the previous file)",
                   st_write.error().message, failures_);
  }
}

}  // namespace stallwatch::metrics
