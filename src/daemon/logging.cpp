#include "stallwatch/logging.h"

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

void setup_logging(bool under_journald) {
  std::shared_ptr<spdlog::logger> logger;
  if (under_journald) {
    logger = std::make_shared<spdlog::logger>(
        "stallwatchd", std::make_shared<EscapingSink>(
                           std::make_shared<spdlog::sinks::systemd_sink_mt>("stallwatchd")));
    logger->set_pattern("%v");
  } else {
    logger = std::make_shared<spdlog::logger>(
        "stallwatchd",
        std::make_shared<EscapingSink>(std::make_shared<spdlog::sinks::stderr_sink_mt>()));
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
