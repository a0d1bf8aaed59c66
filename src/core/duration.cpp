// SPDX-License-Identifier: GPL-2.0-or-later
#include <cmath>
#include <cstdlib>
#include <string>

#include "stallwatch/core/config.h"

namespace stallwatch {

Result<Nanos> parse_duration(std::string_view text) {
  auto bad = [&] {
    return make_error("invalid duration \"{}\": expected a number followed by a unit "
                      "(ns, us, ms, s, m, h), e.g. \"500ms\"",
                      text);
  };
  std::size_t i = 0;
  while (i < text.size() && (std::isdigit(static_cast<unsigned char>(text[i])) || text[i] == '.'))
    ++i;
  if (i == 0) return bad();
  std::string number(text.substr(0, i));
  std::string_view unit = text.substr(i);
  char* end = nullptr;
  double value = std::strtod(number.c_str(), &end);
  if (end != number.c_str() + number.size() || !std::isfinite(value)) return bad();
  double scale = 0;
  if (unit == "ns")
    scale = 1;
  else if (unit == "us")
    scale = 1e3;
  else if (unit == "ms")
    scale = 1e6;
  else if (unit == "s")
    scale = 1e9;
  else if (unit == "m" || unit == "min")
    scale = 60e9;
  else if (unit == "h")
    scale = 3600e9;
  else if (unit.empty() && value == 0)
    scale = 1;
  else
    return bad();
  double ns = value * scale;
  if (ns > 1e18) return make_error("invalid duration \"{}\": too large", text);
  return Nanos(static_cast<std::int64_t>(std::llround(ns)));
}

std::string format_duration(Nanos d) {
  const std::int64_t ns = d.count();
  if (ns == 0) return "0s";
  struct Unit {
    std::int64_t ns;
    const char* name;
  };
  static constexpr Unit kUnits[] = {{3600'000'000'000, "h"}, {60'000'000'000, "m"},
                                    {1'000'000'000, "s"},    {1'000'000, "ms"},
                                    {1'000, "us"},           {1, "ns"}};
  for (const auto& u : kUnits)
    if (ns % u.ns == 0) return std::to_string(ns / u.ns) + u.name;
  return std::to_string(ns) + "ns";
}

}  // namespace stallwatch
