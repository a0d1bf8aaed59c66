// SPDX-License-Identifier: GPL-2.0-or-later
#include "stallwatch/core/journal_writer.h"

#include <syslog.h>

#include <atomic>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <exception>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "stallwatch/core/journal_socket.h"
#include "stallwatch/core/sanitize.h"

namespace stallwatch {

EventOutput event_output_from_env() {
  const char* js = std::getenv("JOURNAL_STREAM");
  return js != nullptr && *js != '\0' ? EventOutput::kJournal : EventOutput::kStderr;
}

namespace {

// The process's real stderr broke (EPIPE, ...): every writer stops using it.
std::atomic<bool> g_stderr_broken{false};

bool needs_quotes(std::string_view v) {
  if (v.empty()) return true;
  for (char c : v)
    if (c == ' ' || c == '"') return true;
  return false;
}

void append_value(std::string* out, std::string_view v) {
  if (!needs_quotes(v)) {
    out->append(v);
    return;
  }
  out->push_back('"');
  for (char c : v) {
    if (c == '"' || c == '\\') out->push_back('\\');
    out->push_back(c);
  }
  out->push_back('"');
}

// "KEY=value" with the value escaped for output; MESSAGE may keep its newlines.
std::string escape_field(const std::string& field) {
  auto eq = field.find('=');
  std::string_view key(field.data(), eq == std::string::npos ? field.size() : eq);
  bool message = key == "MESSAGE";
  if (eq == std::string::npos) return escape_controls(field);
  std::string_view value(field.data() + eq + 1, field.size() - eq - 1);
  Newlines nl = message ? Newlines::kKeep : Newlines::kEscape;
  if (is_clean_text(value, nl) && is_clean_text(key)) return field;
  return escape_controls(key) + "=" + escape_controls(value, nl);
}

class SdJournalWriter final : public JournalWriter {
 public:
  SdJournalWriter(EventOutput output, std::FILE* err) : output_(output), err_(err) {}

  void send(const std::vector<std::string>& fields) override { send_with_line(fields, {}); }

  bool try_send(const std::vector<std::string>& raw_fields) override {
    if (output_ != EventOutput::kJournal) return false;
    try {
      std::vector<std::string> fields;
      fields.reserve(raw_fields.size());
      for (const auto& f : raw_fields) fields.push_back(escape_field(f));
      return send_journal(fields, JournalSocket::Wait::kNever);
    } catch (const std::exception&) {
      return false;
    }
  }

  void send_with_line(const std::vector<std::string>& fields,
                      const std::string& stderr_line) override {
    try {
      deliver(fields, stderr_line);
    } catch (const std::exception& e) {  // last resort: an event must never stop the caller
      if (errors_++ % 100 == 0) spdlog::error("event output failed: {}", e.what());
    }
  }

 private:
  bool stderr_usable() const {
    return !stderr_failed_ && !(err_ == stderr && g_stderr_broken.load());
  }

  void deliver(const std::vector<std::string>& raw_fields, const std::string& stderr_line) {
    std::vector<std::string> fields;
    fields.reserve(raw_fields.size());
    for (const auto& f : raw_fields) fields.push_back(escape_field(f));
    bool to_journal = output_ != EventOutput::kStderr || !stderr_usable();
    bool to_stderr = output_ != EventOutput::kJournal && stderr_usable();
    if (to_journal && !send_journal(fields)) {
      // journald gone (no socket, or one left behind: connection refused): never lose the entry.
      const int err = errno;
      if (journal_failures_++ % 100 == 0)
        spdlog::warn("sending to journald failed ({}); events go to stderr until journald is back",
                     std::strerror(err));
      to_stderr = stderr_usable();
    }
    if (!to_stderr) return;
    std::string line =
        stderr_line.empty() ? journal_fields_to_line(fields) : escape_controls(stderr_line);
    errno = 0;
    bool ok = std::fprintf(err_, "%s\n", line.c_str()) >= 0;
    ok = std::fflush(err_) == 0 && ok;
    if (ok) return;
    int err = errno;
    stderr_failed_ = true;
    bool first = true;
    if (err_ == stderr) first = !g_stderr_broken.exchange(true);
    std::clearerr(err_);
    if (first)
      journal_send_note(nullptr, LOG_WARNING,
                        fmt::format("stallwatchd: writing events to stderr failed ({}); stderr "
                                    "output is disabled, events go to journald",
                                    err != 0 ? std::strerror(err) : "write error"),
                        "output-disabled");
    // This entry too: it was not written to stderr.
    if (output_ == EventOutput::kStderr) send_journal(fields);
  }

  static bool send_journal(const std::vector<std::string>& fields,
                           JournalSocket::Wait wait = JournalSocket::Wait::kBlock) {
    std::vector<std::string_view> views(fields.begin(), fields.end());
    views.emplace_back(kSyslogIdentifierField);
    return system_journal().send(views, wait);
  }

  EventOutput output_;
  std::FILE* err_;
  bool stderr_failed_ = false;
  std::uint64_t journal_failures_ = 0;
  std::uint64_t errors_ = 0;
};

}  // namespace

std::unique_ptr<JournalWriter> make_journal_writer(EventOutput output, std::FILE* err) {
  return std::make_unique<SdJournalWriter>(output, err);
}

std::string journal_fields_to_line(const std::vector<std::string>& fields) {
  std::string headline;
  std::string note;  // MESSAGE lines after the first
  std::string rest;
  for (const auto& f : fields) {
    auto eq = f.find('=');
    if (eq == std::string::npos) continue;
    std::string_view key(f.data(), eq);
    std::string_view value(f.data() + eq + 1, f.size() - eq - 1);
    if (key == "MESSAGE") {
      auto nl = value.find('\n');
      headline = std::string(value.substr(0, nl));
      if (nl != std::string_view::npos) {
        note = std::string(value.substr(nl + 1));
        for (char& c : note)
          if (c == '\n') c = ' ';
      }
      continue;
    }
    constexpr std::string_view kPrefix = "STALLWATCH_";
    if (key.substr(0, kPrefix.size()) != kPrefix && key != "PRIORITY") continue;
    if (key.substr(0, kPrefix.size()) == kPrefix) key.remove_prefix(kPrefix.size());
    rest += ' ';
    for (char c : key) rest += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    rest += '=';
    append_value(&rest, value);
  }
  if (!note.empty()) rest += " note=" + note;
  return escape_controls("stallwatch: " + headline + " |" + rest);
}

JournalFields::JournalFields(std::string_view message, const char* message_id, int priority,
                             std::string_view event) {
  fields_.push_back("MESSAGE=" + std::string(message));
  fields_.push_back(fmt::format("MESSAGE_ID={}", message_id));
  fields_.push_back(fmt::format("PRIORITY={}", priority));
  fields_.push_back("STALLWATCH_EVENT=" + std::string(event));
}

JournalFields& JournalFields::add(std::string_view key, std::string_view value) {
  fields_.push_back(fmt::format("STALLWATCH_{}={}", key, value));
  return *this;
}

JournalFields& JournalFields::add(std::string_view key, std::int64_t value) {
  fields_.push_back(fmt::format("STALLWATCH_{}={}", key, value));
  return *this;
}

JournalFields& JournalFields::culprit(int pid, int tid, std::string_view comm) {
  if (pid > 0) add("PID", pid);
  if (tid > 0) add("TID", tid);
  if (pid > 0 || tid > 0) add("COMM", comm);
  return *this;
}

void journal_send_note(const char* message_id, int priority, const std::string& message,
                       const std::string& event_name) {
  try {
    std::vector<std::string> f;
    f.push_back("MESSAGE=" + escape_controls(message, Newlines::kKeep));
    if (message_id != nullptr) f.push_back(fmt::format("MESSAGE_ID={}", message_id));
    f.push_back(fmt::format("PRIORITY={}", priority));
    f.push_back("STALLWATCH_EVENT=" + escape_controls(event_name));
    std::vector<std::string_view> views(f.begin(), f.end());
    views.emplace_back(kSyslogIdentifierField);
    system_journal().send(views);
  } catch (const std::exception&) {
    // nothing to report it to
  }
}

}  // namespace stallwatch
