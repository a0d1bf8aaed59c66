// SPDX-License-Identifier: GPL-2.0-or-later
// The escalation area's name for the one MESSAGE_ID list, stallwatch/message_ids.h (kEscalation,
// kEscalationDryRun, kPreviousBoot, kWatchdogNotice live there, beside the catalog check).
// Constants only; no thread concerns.
#pragma once

#include "stallwatch/message_ids.h"

namespace stallwatch::escalation {
namespace message_id = stallwatch::message_id;
}  // namespace stallwatch::escalation
