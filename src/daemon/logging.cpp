#include "stallwatch/logging.h"

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/sinks/systemd_sink.h>
#include <spdlog/spdlog.h>

namespace stallwatch {

void setup_logging(bool under_journald) {
  std::shared_ptr<spdlog::logger> logger;
  if (under_journald) {
    logger = std::make_shared<spdlog::logger>(
        "stallwatchd", std::make_shared<spdlog::sinks::systemd_sink_mt>("stallwatchd"));
    logger->set_pattern("%v");
  } else {
    logger = std::make_shared<spdlog::logger>("stallwatchd",
                                              std::make_shared<spdlog::sinks::stderr_sink_mt>());
    logger->set_pattern("%Y-%m-%d %H:%M:%S.%e stallwatchd[%P] %l: %v");
  }
  logger->flush_on(spdlog::level::info);
  spdlog::set_default_logger(std::move(logger));
}

void set_log_level(const std::string& level) {
  auto l = spdlog::level::from_str(level);
  if (l != spdlog::level::off || level == "off") spdlog::set_level(l);
}

}  // namespace stallwatch
