// SPDX-License-Identifier: GPL-2.0-or-later
// get_or: tolerant field access for the JSON files stallwatchctl reads (status.json, reports),
// which may come from an older or newer daemon. Pure; any thread.
#pragma once

#include <nlohmann/json.hpp>

namespace stallwatch::ctl {

// j[key] as T if present and convertible, else fallback; j may be anything.
template <class T>
T get_or(const nlohmann::json& j, const char* key, T fallback) {
  if (!j.is_object()) return fallback;
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return fallback;
  try {
    return it->get<T>();
  } catch (const nlohmann::json::exception&) {
    return fallback;
  }
}

}  // namespace stallwatch::ctl
