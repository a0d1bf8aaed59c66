// SPDX-License-Identifier: GPL-2.0-or-later
#include "stallwatch/core/sanitize.h"

#include <cstdint>

namespace stallwatch {
namespace {

constexpr char kHex[] = "0123456789abcdef";

void put_escape(std::string* out, unsigned char c) {
  out->push_back('\\');
  out->push_back('x');
  out->push_back(kHex[c >> 4]);
  out->push_back(kHex[c & 0xf]);
}

// Length of the valid, non-control UTF-8 sequence at s[i] (1..4), or 0 when s[i] must be
// escaped (control byte, DEL, C1 control, or not part of valid UTF-8).
std::size_t printable_sequence(std::string_view s, std::size_t i, Newlines newlines) {
  auto c = static_cast<unsigned char>(s[i]);
  if (c < 0x20) return c == '\n' && newlines == Newlines::kKeep ? 1 : 0;
  if (c < 0x7f) return 1;
  if (c == 0x7f) return 0;
  std::size_t len = 0;
  std::uint32_t cp = 0;
  if (c >= 0xc2 && c <= 0xdf) {
    len = 2;
    cp = c & 0x1f;
  } else if (c >= 0xe0 && c <= 0xef) {
    len = 3;
    cp = c & 0x0f;
  } else if (c >= 0xf0 && c <= 0xf4) {
    len = 4;
    cp = c & 0x07;
  } else {
    return 0;  // continuation byte out of place, 0xc0/0xc1 (overlong), 0xf5.. (beyond U+10FFFF)
  }
  if (i + len > s.size()) return 0;
  for (std::size_t k = 1; k < len; ++k) {
    auto cc = static_cast<unsigned char>(s[i + k]);
    if ((cc & 0xc0) != 0x80) return 0;
    cp = (cp << 6) | (cc & 0x3f);
  }
  if (len == 3 && cp < 0x800) return 0;                       // overlong
  if (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) return 0;  // overlong / out of range
  if (cp >= 0xd800 && cp <= 0xdfff) return 0;                 // UTF-16 surrogate
  if (cp >= 0x80 && cp <= 0x9f) return 0;                     // C1 control
  return len;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string escape(std::string_view raw, Newlines newlines, bool escape_backslash) {
  std::string out;
  out.reserve(raw.size() + 8);
  std::size_t i = 0;
  while (i < raw.size()) {
    std::size_t len = printable_sequence(raw, i, newlines);
    if (len == 0) {
      put_escape(&out, static_cast<unsigned char>(raw[i]));
      ++i;
      continue;
    }
    if (len == 1 && raw[i] == '\\' && escape_backslash) {
      out += "\\\\";
      ++i;
      continue;
    }
    out.append(raw.substr(i, len));
    i += len;
  }
  return out;
}

}  // namespace

std::string sanitize_text(std::string_view raw, Newlines newlines) {
  return escape(raw, newlines, true);
}

std::string unescape_text(std::string_view text, bool backslash_pairs) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\\' && i + 1 < text.size()) {
      if (backslash_pairs && text[i + 1] == '\\') {
        out.push_back('\\');
        ++i;
        continue;
      }
      if (text[i + 1] == 'x' && i + 3 < text.size()) {
        int hi = hex_value(text[i + 2]);
        int lo = hex_value(text[i + 3]);
        if (hi >= 0 && lo >= 0) {
          out.push_back(static_cast<char>(hi * 16 + lo));
          i += 3;
          continue;
        }
      }
    }
    out.push_back(text[i]);
  }
  return out;
}

std::string escape_controls(std::string_view text, Newlines newlines) {
  if (is_clean_text(text, newlines)) return std::string(text);
  return escape(text, newlines, false);
}

bool is_clean_text(std::string_view text, Newlines newlines) {
  std::size_t i = 0;
  while (i < text.size()) {
    std::size_t len = printable_sequence(text, i, newlines);
    if (len == 0) return false;
    i += len;
  }
  return true;
}

std::string hex_bytes(std::string_view raw) {
  std::string out;
  out.reserve(raw.size() * 2);
  for (char ch : raw) {
    auto c = static_cast<unsigned char>(ch);
    out.push_back(kHex[c >> 4]);
    out.push_back(kHex[c & 0xf]);
  }
  return out;
}

}  // namespace stallwatch
