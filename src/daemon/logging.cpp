// SPDX-License-Identifier: GPL-2.0-or-later
#include "stallwatch/daemon/logging.h"

#include <pthread.h>
#include <syslog.h>

#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <spdlog/details/log_msg_buffer.h>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/sinks/sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include "stallwatch/core/journal_socket.h"
#include "stallwatch/core/journal_writer.h"
#include "stallwatch/core/sanitize.h"
#include "stallwatch/core/thread_start.h"

namespace stallwatch::daemon {

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

// Asynchronous: a caller never waits for stderr or journald. Lines go into a bounded queue that
// a full one overwrites from its oldest line (counted, and reported with the next line written),
// and one writer thread (sw-log) writes them to the inner sink. The writer sleeps until a line
// comes: no periodic wakeup (spdlog's own thread pool polls its queue every 10 s). It is never
// joined: at exit it may be blocked in a write, and the process ends with _exit.
class QueuedSink final : public spdlog::sinks::sink {
 public:
  static constexpr std::size_t kCapacity = 4096;

  explicit QueuedSink(std::shared_ptr<spdlog::sinks::sink> inner) : inner_(std::move(inner)) {
    pthread_t t;
    ThreadOptions options;
    options.name = "sw-log";
    options.detached = true;
    threaded_ = start_thread(&t, &thread_entry<QueuedSink, &QueuedSink::run>, this, options) == 0;
  }

  void log(const spdlog::details::log_msg& msg) override {
    if (!threaded_) {  // no thread: write in place rather than lose the line
      inner_->log(msg);
      inner_->flush();
      return;
    }
    {
      std::lock_guard lock(mu_);
      if (queue_.size() >= kCapacity) {
        queue_.pop_front();
        ++overrun_;
      }
      queue_.emplace_back(msg);
    }
    cv_.notify_one();
  }
  void flush() override {}  // the writer flushes after each batch
  void set_pattern(const std::string& pattern) override { inner_->set_pattern(pattern); }
  void set_formatter(std::unique_ptr<spdlog::formatter> formatter) override {
    inner_->set_formatter(std::move(formatter));
  }

  // Waits up to limit for the queue to be written out.
  void drain(std::chrono::milliseconds limit) {
    std::unique_lock lock(mu_);
    idle_cv_.wait_for(lock, limit, [&] { return queue_.empty() && !writing_; });
  }

 private:
  void run() {
    std::unique_lock lock(mu_);
    for (;;) {
      cv_.wait(lock, [&] { return !queue_.empty(); });
      std::deque<spdlog::details::log_msg_buffer> batch;
      batch.swap(queue_);
      const std::uint64_t overrun = overrun_ - reported_overrun_;
      reported_overrun_ = overrun_;
      writing_ = true;
      lock.unlock();
      if (overrun > 0) {
        const std::string note =
            fmt::format("{} log lines were dropped (the log output did not keep up)", overrun);
        spdlog::details::log_msg m(spdlog::source_loc{}, "stallwatchd", spdlog::level::warn, note);
        inner_->log(m);
      }
      for (const auto& m : batch) inner_->log(m);
      inner_->flush();
      lock.lock();
      writing_ = false;
      if (queue_.empty()) idle_cv_.notify_all();
    }
  }

  std::shared_ptr<spdlog::sinks::sink> inner_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::condition_variable idle_cv_;
  std::deque<spdlog::details::log_msg_buffer> queue_;
  std::uint64_t overrun_ = 0;
  std::uint64_t reported_overrun_ = 0;
  bool writing_ = false;
  bool threaded_ = false;
};

// spdlog's systemd_sink without libsystemd: MESSAGE, PRIORITY, SYSLOG_IDENTIFIER and the source
// location when there is one, over journald's native protocol (core/journal_socket.h). A line
// journald does not take goes to stderr (the unit's journal stream) rather than nowhere.
class JournalSink final : public spdlog::sinks::base_sink<std::mutex> {
 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    std::vector<std::string> fields;
    fields.push_back(
        fmt::format("MESSAGE={}", std::string_view(msg.payload.data(), msg.payload.size())));
    fields.push_back(fmt::format("PRIORITY={}", priority(msg.level)));
    fields.emplace_back(kSyslogIdentifierField);
    if (!msg.source.empty()) {
      fields.push_back(fmt::format("CODE_FILE={}", msg.source.filename));
      fields.push_back(fmt::format("CODE_LINE={}", msg.source.line));
      fields.push_back(fmt::format("CODE_FUNC={}", msg.source.funcname));
    }
    if (system_journal().send(std::vector<std::string_view>(fields.begin(), fields.end()))) return;
    std::fprintf(stderr, "<%d>%.*s\n", priority(msg.level), static_cast<int>(msg.payload.size()),
                 msg.payload.data());
  }
  void flush_() override {}

 private:
  static int priority(spdlog::level::level_enum l) {
    switch (l) {
      case spdlog::level::trace:
      case spdlog::level::debug: return LOG_DEBUG;
      case spdlog::level::warn: return LOG_WARNING;
      case spdlog::level::err: return LOG_ERR;
      case spdlog::level::critical: return LOG_CRIT;
      default: return LOG_INFO;
    }
  }
};

QueuedSink* g_queued = nullptr;  // leaked on purpose: its thread is never joined

}  // namespace

// No real-time thread logs at all; every other thread logs through the QueuedSink.
void setup_logging(bool under_journald) {
  spdlog::sink_ptr sink;
  if (under_journald)
    sink = std::make_shared<JournalSink>();
  else
    sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
  auto* queued = new QueuedSink(std::make_shared<EscapingSink>(sink));
  // The logger holds a non-owning pointer: the sink outlives every static destructor.
  auto logger = std::make_shared<spdlog::logger>(
      "stallwatchd", std::shared_ptr<spdlog::sinks::sink>(queued, [](spdlog::sinks::sink*) {}));
  g_queued = queued;
  // A refusal at start returns from main: its lines must reach the output first (bounded, in
  // case the reader stopped reading). The normal stop drains explicitly and leaves with _exit.
  std::atexit([] { flush_logging(std::chrono::milliseconds(500)); });
  logger->set_pattern(under_journald ? "%v" : "%Y-%m-%d %H:%M:%S.%e stallwatchd[%P] %l: %v");
  spdlog::set_default_logger(std::move(logger));
}

void set_log_level(const std::string& level) {
  auto l = spdlog::level::from_str(level);
  if (l != spdlog::level::off || level == "off") spdlog::set_level(l);
}

}  // namespace stallwatch::daemon

namespace stallwatch::daemon {

void flush_logging(std::chrono::milliseconds limit) {
  if (g_queued != nullptr) g_queued->drain(limit);
}

}  // namespace stallwatch::daemon
