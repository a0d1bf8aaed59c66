// Fixed journald MESSAGE_IDs of the escalation area (generated with uuid4, never change them).
// The core's stall/ongoing/recovered/global-pause IDs live in stallwatch/message_ids.h.
// Constants only; no thread concerns.
#pragma once

namespace stallwatch::escalation::message_id {
// PRIORITY=1: an escalation is being carried out (written just before acting).
inline constexpr const char* kEscalation = "87cf2ea35fc844aeb8c72139d29e0993";
// PRIORITY=4: dry_run, "would escalate ...": nothing was done.
inline constexpr const char* kEscalationDryRun = "7366235b16634a3a856f3c4d0e26d4f7";
// PRIORITY=4 at startup: how the previous boot ended (stallwatch escalation or watchdog reset).
inline constexpr const char* kPreviousBoot = "1674528cb53e4c37a51d682a078392f5";
// PRIORITY=3/4: the hardware watchdog cannot be disarmed (nowayout) or failed to disarm.
inline constexpr const char* kWatchdogNotice = "1bcf4f8d390b49448e0ba677a9dc5a3f";
}  // namespace stallwatch::escalation::message_id
