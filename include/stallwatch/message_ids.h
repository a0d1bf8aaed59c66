// Fixed journald MESSAGE_IDs, one per event kind (documented in the journald catalog).
#pragma once

namespace stallwatch::message_id {
inline constexpr const char* kStall = "d17d986fdeb84612815c1f621f53b794";
inline constexpr const char* kOngoing = "38126cf29e2347f7b11c04325d9fa053";
inline constexpr const char* kRecovered = "14a4fcd165e543e8a792037a0ff3d7c3";
inline constexpr const char* kGlobalPause = "9e4ae5f9974449b5bfc966124c027087";
inline constexpr const char* kConfigError = "04feed33751548db998fbced2ceb4d1e";
}  // namespace stallwatch::message_id
