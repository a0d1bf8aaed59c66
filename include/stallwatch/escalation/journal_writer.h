// SPDX-License-Identifier: GPL-2.0-or-later
// The escalation area's names for the one event writer (stallwatch/journal_writer.h): the
// Escalator and Escalation send their journald entries through it, so --events, the output
// escaping and the stderr/journald fallbacks are the same as for stall events.
#pragma once

#include "stallwatch/journal_writer.h"

namespace stallwatch::escalation {

using stallwatch::JournalWriter;
using JournalMode = stallwatch::EventOutput;
using stallwatch::journal_fields_to_line;
using stallwatch::make_journal_writer;

}  // namespace stallwatch::escalation
