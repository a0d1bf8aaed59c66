// SPDX-License-Identifier: GPL-2.0-or-later
// The one list of stallwatchd's fixed journald MESSAGE_IDs (uuid4, never change them). Each has
// an entry in systemd/stallwatch.catalog; tests/unit/core/message_ids_test.cpp checks that the
// two lists are the same. Constants only; no thread concerns.
#pragma once

namespace stallwatch::message_id {
// Stall events (JournalSink).
inline constexpr const char* kStall = "d17d986fdeb84612815c1f621f53b794";
inline constexpr const char* kOngoing = "38126cf29e2347f7b11c04325d9fa053";
inline constexpr const char* kRecovered = "14a4fcd165e543e8a792037a0ff3d7c3";
inline constexpr const char* kGlobalPause = "9e4ae5f9974449b5bfc966124c027087";
// A CPU's heartbeat was moved off it from outside: the CPU is not monitored until it is back.
inline constexpr const char* kDisplaced = "5b0f3c2e8d4a4f7e9c61a2b7d3e8f014";
// A configuration reload failed; the running configuration is kept.
inline constexpr const char* kConfigError = "04feed33751548db998fbced2ceb4d1e";
// PRIORITY=1: an escalation is being carried out (written just before acting).
inline constexpr const char* kEscalation = "87cf2ea35fc844aeb8c72139d29e0993";
// PRIORITY=4: dry_run, "would escalate ...": nothing was done.
inline constexpr const char* kEscalationDryRun = "7366235b16634a3a856f3c4d0e26d4f7";
// PRIORITY=4 at startup: how the previous boot ended (stallwatch escalation or watchdog reset).
inline constexpr const char* kPreviousBoot = "1674528cb53e4c37a51d682a078392f5";
// PRIORITY=3/4: the hardware watchdog cannot be disarmed (nowayout) or failed to disarm.
inline constexpr const char* kWatchdogNotice = "1bcf4f8d390b49448e0ba677a9dc5a3f";

// Every ID above, for the catalog check.
inline constexpr const char* kAll[] = {
    kStall,      kOngoing,          kRecovered,    kGlobalPause,    kConfigError,
    kEscalation, kEscalationDryRun, kPreviousBoot, kWatchdogNotice, kDisplaced};
}  // namespace stallwatch::message_id
