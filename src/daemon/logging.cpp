// SPDX-License-Identifier: GPL-2.0-or-later
#include "stallwatch/logging.h"

#include <thread>

#include <spdlog/async.h>
#include <spdlog/sinks/sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/sinks/systemd_sink.h>
#include <spdlog/spdlog.h>

#include "stallwatch/sanitize.h"

namespace stallwatch {

namespace {

// Escapes control bytes and invalid UTF-8 in every log message before the real sink sees it: a
// message that quotes untrusted text (a path, a task name) cannot put an escape sequence on the
// terminal or forge a log line.
class EscapingSink final : public spdlog::sinks::sink {
 public:
  explicit EscapingSink(std::shared_ptr<spdlog::sinks::sink> inner) : inner_(std::move(inner)) {}

  void log(const spdlog::details::log_msg& msg) override {
    std::string_view payload(msg.payload.data(), msg.payload.size());
    if (is_clean_text(payload)) {
      inner_->log(msg);
      return;
    }
    std::string clean = escape_controls(payload);
    spdlog::details::log_msg copy(msg);
    copy.payload = spdlog::string_view_t(clean.data(), clean.size());
    inner_->log(copy);
  }
  void flush() override { inner_->flush(); }
  void set_pattern(const std::string& pattern) override { inner_->set_pattern(pattern); }
  void set_formatter(std::unique_ptr<spdlog::formatter> formatter) override {
    inner_->set_formatter(std::move(formatter));
  }

 private:
  std::shared_ptr<spdlog::sinks::sink> inner_;
};

}  // namespace

// Asynchronous: a caller never waits for stderr or journald. The queue is bounded and a full one
// overwrites its oldest line (counted by spdlog), so a reader that stops reading cannot block
// the supervisor, the dispatcher or the report worker. No real-time thread logs at all.
void setup_logging(bool under_journald) {
  spdlog::init_thread_pool(4096, 1);
  spdlog::sink_ptr sink;
  if (under_journald) sink = std::make_shared<spdlog::sinks::systemd_sink_mt>("stallwatchd");
  else sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
  auto logger = std::make_shared<spdlog::async_logger>(
      "stallwatchd", std::make_shared<EscapingSink>(sink), spdlog::thread_pool(),
      spdlog::async_overflow_policy::overrun_oldest);
  logger->set_pattern(under_journald ? "%v" : "%Y-%m-%d %H:%M:%S.%e stallwatchd[%P] %l: %v");
  logger->flush_on(spdlog::level::info);
  spdlog::set_default_logger(std::move(logger));
}

void set_log_level(const std::string& level) {
  auto l = spdlog::level::from_str(level);
  if (l != spdlog::level::off || level == "off") spdlog::set_level(l);
}

}  // namespace stallwatch

namespace stallwatch {

void flush_logging(std::chrono::milliseconds limit) {
  auto pool = spdlog::thread_pool();
  if (!pool) return;
  spdlog::default_logger()->flush();
  const auto end = std::chrono::steady_clock::now() + limit;
  while (pool->queue_size() > 0 && std::chrono::steady_clock::now() < end)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  // The last line may be popped but still being written.
  if (std::chrono::steady_clock::now() < end) std::this_thread::sleep_for(std::chrono::milliseconds(20));
}

}  // namespace stallwatch
