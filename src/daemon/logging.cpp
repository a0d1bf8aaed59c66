#include "stallwatch/logging.h"

#include <thread>

#include <spdlog/async.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/sinks/systemd_sink.h>
#include <spdlog/spdlog.h>

namespace stallwatch {

// Asynchronous: a caller never waits for stderr or journald. The queue is bounded and a full one
// overwrites its oldest line (counted by spdlog), so a reader that stops reading cannot block
// the supervisor, the dispatcher or the report worker. No real-time thread logs at all.
void setup_logging(bool under_journald) {
  spdlog::init_thread_pool(4096, 1);
  spdlog::sink_ptr sink;
  if (under_journald) sink = std::make_shared<spdlog::sinks::systemd_sink_mt>("stallwatchd");
  else sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
  auto logger = std::make_shared<spdlog::async_logger>("stallwatchd", sink, spdlog::thread_pool(),
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
}

}  // namespace stallwatch
