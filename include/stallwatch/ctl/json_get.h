// SPDX-License-Identifier: GPL-2.0-or-later
// get_or: tolerant field access for the JSON files stallwatchctl reads (status.json, reports),
// which may come from an older or newer daemon. Pure; any thread.
#pragma once

#include <cmath>
#include <limits>
#include <type_traits>

#include <nlohmann/json.hpp>

namespace stallwatch::ctl {

// j[key] as T if present and convertible, else fallback; j may be anything. A floating-point
// number read as an integer must fit (converting 2.4e69 to a long is undefined behaviour, which
// nlohmann::json does not guard against): otherwise the fallback.
template <class T>
T get_or(const nlohmann::json& j, const char* key, T fallback) {
  if (!j.is_object()) return fallback;
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return fallback;
  if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
    if (it->is_number_float()) {
      const double d = it->get<double>();
      // max() rounds up to a power of two as a double, so "<" keeps the result in range.
      if (!std::isfinite(d) || d < static_cast<double>(std::numeric_limits<T>::min()) ||
          d >= static_cast<double>(std::numeric_limits<T>::max()))
        return fallback;
      return static_cast<T>(d);
    }
  }
  try {
    return it->get<T>();
  } catch (const nlohmann::json::exception&) {
    return fallback;
  }
}

}  // namespace stallwatch::ctl
