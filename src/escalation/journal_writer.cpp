#include "stallwatch/escalation/journal_writer.h"

#include <sys/uio.h>
#include <systemd/sd-journal.h>

#include <cctype>
#include <cstdlib>
#include <string_view>

#include <spdlog/spdlog.h>

namespace stallwatch::escalation {

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
    rest += value;
  }
  if (!note.empty()) rest += " note=" + note;
  return "stallwatch: " + headline + " |" + rest;
}

namespace {

class SdJournalWriter final : public JournalWriter {
 public:
  SdJournalWriter(bool journal, std::FILE* err) : journal_(journal), err_(err) {}

  void send(const std::vector<std::string>& fields) override {
    if (journal_) {
      std::vector<iovec> iov;
      iov.reserve(fields.size() + 1);
      for (const auto& f : fields) iov.push_back(iovec{const_cast<char*>(f.data()), f.size()});
      static const std::string kIdent = "SYSLOG_IDENTIFIER=stallwatchd";
      iov.push_back(iovec{const_cast<char*>(kIdent.data()), kIdent.size()});
      if (sd_journal_sendv(iov.data(), static_cast<int>(iov.size())) >= 0) return;
      // journald gone (socket left behind, connection refused): never lose the entry.
      spdlog::warn("sd_journal_send failed; escalation event written to stderr");
    }
    std::fprintf(err_, "%s\n", journal_fields_to_line(fields).c_str());
    std::fflush(err_);
  }

 private:
  bool journal_;
  std::FILE* err_;
};

}  // namespace

std::unique_ptr<JournalWriter> make_journal_writer(JournalMode mode, std::FILE* err) {
  bool journal = mode == JournalMode::kJournal;
  if (mode == JournalMode::kAuto) {
    const char* js = std::getenv("JOURNAL_STREAM");
    journal = js != nullptr && *js != '\0';
  }
  return std::make_unique<SdJournalWriter>(journal, err);
}

}  // namespace stallwatch::escalation
