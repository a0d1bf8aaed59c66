// SPDX-License-Identifier: GPL-2.0-or-later
#include "stallwatch/evidence/engine.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "stallwatch/core/clock.h"
#include "stallwatch/core/thread_start.h"
#include "stallwatch/evidence/report_json.h"

namespace stallwatch::evidence {

namespace {

// "20261121T101502Z" (file names) or "2026-11-21T10:15:02Z" (report contents).
std::string utc_stamp(bool compact) {
  const time_t now = static_cast<time_t>(real_now_ns() / 1'000'000'000);
  tm t{};
  gmtime_r(&now, &t);
  char buf[64];
  if (compact)
    std::strftime(buf, sizeof buf, "%Y%m%dT%H%M%SZ", &t);
  else
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &t);
  return buf;
}

}  // namespace

EvidenceEngine::EvidenceEngine(Sysroot root, EvidenceConfig cfg, int heartbeat_priority,
                               std::string state_dir, EngineTuning tuning)
    : root_(std::move(root)),
      cfg_(cfg),
      heartbeat_priority_(heartbeat_priority),
      tuning_(tuning),
      run_id_(utc_stamp(true)),
      store_(state_dir + "/reports", cfg.max_reports, cfg.max_report_bytes),
      kmsg_(root_) {
  if (tuning_.exclude_pid < 0) tuning_.exclude_pid = static_cast<int>(::getpid());
  if (tuning_.clk_tck <= 0) tuning_.clk_tck = ::sysconf(_SC_CLK_TCK);
  if (tuning_.clk_tck <= 0) tuning_.clk_tck = 100;
}

EvidenceEngine::~EvidenceEngine() { stop(); }

void EvidenceEngine::start() {
  if (timeline_cfg_.enabled && !recorder_) {
    recorder_ = std::make_unique<TraceRecorder>(
        root_, RecorderOptions{"stallwatch", timeline_cfg_.buffer_kib});
    recorder_->start(tuning_.thread_stack_bytes);
  }
  if (auto s = kmsg_.start(tuning_.thread_stack_bytes); !s) {
    kmsg_error_ = s.error().message;
    spdlog::warn("kernel verdicts unavailable: {}", kmsg_error_);
  }
  if (auto s = detail_io_.start(tuning_.thread_stack_bytes); !s)
    spdlog::warn("evidence: {}; /proc detail reads run without a timeout", s.error().message);
  if (auto s = sysrq_io_.start(tuning_.thread_stack_bytes); !s)
    spdlog::warn("evidence: {}; the sysrq write runs without a timeout", s.error().message);
  if (sampler_running_) return;
  stop_fd_.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  sample_fd_.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!stop_fd_.valid()) {
    spdlog::warn("evidence: eventfd failed; no counter baselines");
    return;
  }
  if (auto s = start_background_thread(&sampler_,
                                       &thread_entry<EvidenceEngine, &EvidenceEngine::sampler_run>,
                                       this, tuning_.thread_stack_bytes, "sw-counters");
      !s) {
    spdlog::warn("evidence: {}; no counter baselines", s.error().message);
    return;
  }
  sampler_running_ = true;
}

void EvidenceEngine::stop() {
  if (sampler_running_) {
    std::uint64_t one = 1;
    [[maybe_unused]] ssize_t n = ::write(stop_fd_.get(), &one, sizeof one);
    pthread_join(sampler_, nullptr);
    sampler_running_ = false;
  }
  if (recorder_) recorder_->stop(std::chrono::seconds(2));
  kmsg_.stop();
  detail_io_.stop();
  sysrq_io_.stop();
}

void EvidenceEngine::request_sample() {
  if (!sample_fd_.valid()) return;
  std::uint64_t one = 1;
  [[maybe_unused]] ssize_t n = ::write(sample_fd_.get(), &one, sizeof one);
}

void EvidenceEngine::sampler_run() {
  const auto period_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(tuning_.sample_interval).count();
  const int timeout_ms = period_ms > 0 ? static_cast<int>(period_ms) : -1;  // -1: on request only
  bool take = timeout_ms > 0;
  for (;;) {
    if (take) {
      std::vector<std::string> errors;
      auto sample =
          std::make_shared<CounterSample>(read_counter_sample(root_, tuning_.now(), &errors));
      if (sample->have_stat || sample->have_interrupts || sample->have_softirqs)
        history_.push(std::move(sample));
    }
    pollfd pfd[2] = {{stop_fd_.get(), POLLIN, 0}, {sample_fd_.get(), POLLIN, 0}};
    int rc = ::poll(pfd, sample_fd_.valid() ? 2 : 1, timeout_ms);
    if (rc > 0 && (pfd[0].revents & POLLIN)) return;
    take = rc == 0 || (pfd[1].revents & POLLIN);
    if (pfd[1].revents & POLLIN) {
      std::uint64_t n = 0;
      [[maybe_unused]] ssize_t r = ::read(sample_fd_.get(), &n, sizeof n);
    }
  }
}

EvidenceEngine::Episode& EvidenceEngine::episode(const StallEvent& ev) {
  EpisodeKey key{ev.cpu, ev.episode};
  auto it = episodes_.find(key);
  if (it != episodes_.end()) return it->second;
  constexpr std::size_t kMaxEpisodes = 32;
  while (episodes_.size() >= kMaxEpisodes) {
    auto oldest = std::min_element(episodes_.begin(), episodes_.end(), [](auto& a, auto& b) {
      return a.second.order < b.second.order;
    });
    episodes_.erase(oldest);
  }
  Episode& ep = episodes_[key];
  ep.order = ++episode_order_;
  ep.file_name = fmt::format("stall-{}-ep{:06}-cpu{}.json", run_id_, ev.episode,
                             ev.cpu >= 0 ? std::to_string(ev.cpu) : std::string("all"));
  return ep;
}

StallReport EvidenceEngine::repeat_last(const StallEvent& ev, const char* why) {
  Episode& ep = episode(ev);
  StallReport r = ep.last;
  r.event = ev;
  r.report_path.clear();
  if (r.stall_class.empty()) r.stall_class = "unknown";
  r.notes.push_back(why);
  return r;
}

void EvidenceEngine::store(StallReport& report) {
  report.report_path.clear();
  Episode& ep = episode(report.event);
  ep.updates.push_back(evidence::report_to_json(report, utc_stamp(false)));
  // Keep the first update (the stall) and the latest ones.
  while (ep.updates.size() > tuning_.max_updates_per_episode && ep.updates.size() > 2)
    ep.updates.erase(ep.updates.begin() + 1);
  std::string doc =
      fmt::format("{{\"format\":\"stallwatch-report/1\",\"cpu\":{},\"episode\":{},\"updates\":[",
                  report.event.cpu, report.event.episode);
  for (std::size_t i = 0; i < ep.updates.size(); ++i) doc += (i ? "," : "") + ep.updates[i];
  doc += "]}\n";
  auto path = store_.write(ep.file_name, doc, tuning_.now());
  if (path) report.report_path = *path;
}

}  // namespace stallwatch::evidence
