// SPDX-License-Identifier: GPL-2.0-or-later
// The untrusted-text sanitizer: for any bytes, sanitize_text() has no control byte (< 0x20, DEL),
// is valid UTF-8 with no C1 control, and unescape_text() gives the exact bytes back; the
// multi-line form differs only by keeping '\n'; escape_controls() output is clean and leaves
// clean text alone.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "stallwatch/core/sanitize.h"

namespace {

void require(bool ok) {
  if (!ok) std::abort();
}

// Independent UTF-8 check (RFC 3629), rejecting C0/C1 controls and DEL; allow_nl keeps '\n'.
bool valid_clean_utf8(std::string_view s, bool allow_nl) {
  std::size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      if ((c < 0x20 && !(allow_nl && c == '\n')) || c == 0x7f) return false;
      ++i;
      continue;
    }
    int n = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 0;
    if (n == 0 || c > 0xf4 || i + n > s.size()) return false;
    std::uint32_t cp = c & (0x7f >> n);
    for (int k = 1; k < n; ++k) {
      auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xc0) != 0x80) return false;
      cp = cp << 6 | (cc & 0x3f);
    }
    static const std::uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMin[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
    if (cp <= 0x9f) return false;  // C1
    i += n;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace stallwatch;
  std::string_view raw(reinterpret_cast<const char*>(data), size);

  std::string s = sanitize_text(raw);
  require(valid_clean_utf8(s, false));
  require(is_clean_text(s));
  require(unescape_text(s) == raw);

  std::string multi = sanitize_text(raw, Newlines::kKeep);
  require(valid_clean_utf8(multi, true));
  require(unescape_text(multi) == raw);

  std::string out = escape_controls(raw);
  require(valid_clean_utf8(out, false));
  require(escape_controls(s) == s);  // sanitized text passes output escaping unchanged
  require(escape_controls(out) == out);
  require(hex_bytes(raw).size() == 2 * raw.size());
  return 0;
}
