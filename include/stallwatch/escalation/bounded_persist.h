// SPDX-License-Identifier: GPL-2.0-or-later
// BoundedPersist: writes the reset reason on a short-lived helper thread and waits for it with a
// deadline, so a hung state disk (an fsync that never returns) delays an escalation by at most
// the deadline (1 s in the daemon). On a timeout the helper is left to finish or hang on its
// own: it owns copies of everything it touches (the persist function and the reason) and its
// result goes into shared state, so nothing it reaches can be destroyed under it.
// Used by the EscalationSink on the report worker thread; the helper thread only runs `persist`.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "stallwatch/core/result.h"
#include "stallwatch/escalation/reset_reason.h"

namespace stallwatch::escalation {

// Persists one reason; returns the new escalation counter (ResetReasonStore::record).
using PersistFn = std::function<Result<std::uint64_t>(const ResetReason&)>;

inline constexpr std::chrono::milliseconds kPersistDeadline{1000};

struct PersistOutcome {
  enum class Kind { kSaved, kFailed, kTimedOut };
  Kind kind = Kind::kFailed;
  std::uint64_t total = 0;  // kSaved: the counter after this escalation
  std::string error;        // kFailed: why
};

// Runs persist(reason) on a new thread, waits up to `deadline`. Never throws; a thread that
// cannot be started is kFailed.
PersistOutcome persist_with_deadline(PersistFn persist, const ResetReason& reason,
                                     std::chrono::milliseconds deadline);

}  // namespace stallwatch::escalation
