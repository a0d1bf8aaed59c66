// SPDX-License-Identifier: GPL-2.0-or-later
// Small text helpers shared by every parser: trim() drops the white space a kernel file, a config
// line or a table cell carries around its value (space, tab, CR, LF, VT, FF: isspace in the C
// locale, without its locale lookup). Pure, allocation-free, any thread.
#pragma once

#include <string_view>

namespace stallwatch {

constexpr bool is_space(char c) noexcept {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

constexpr std::string_view trim(std::string_view s) noexcept {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

}  // namespace stallwatch
