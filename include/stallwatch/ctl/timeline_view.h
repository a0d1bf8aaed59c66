// SPDX-License-Identifier: GPL-2.0-or-later
// TimelineView: `stallwatchctl reports ID --timeline`, the flight recorder's `timeline` object of
// a stall report (docs/timeline.md) drawn for a terminal: one row per CPU (the stalled one first,
// marked '>'), time across from the window's start to the detection, task segments labelled
// inside when the label fits (else a legend letter), hard IRQs and softirqs drawn on top, idle as
// '.', the heartbeat's wakeups as ticks, a ruler with the silence (S) and the detection (D), the
// hard-IRQ rate at the end of each row and a legend below. Every line fits `columns` exactly;
// ANSI colour only when asked. Every string from the report is reduced to printable ASCII before
// it is drawn, whatever the recorder promised. Pure functions but terminal_columns() and
// want_colour(), which read the environment and stdout. Single-threaded (stallwatchctl).
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "stallwatch/ctl/reports_view.h"

namespace stallwatch::ctl {

inline constexpr int kTimelineMinColumns = 80;
inline constexpr int kTimelineMaxColumns = 120;
inline constexpr int kTimelineMaxRows = 64;  // CPUs drawn; the rest are counted, not drawn
inline constexpr double kTimelineHeavyIrqPerS = 1000.0;  // a rate drawn as an alert

// The drawing of one `timeline` object, '\n'-terminated lines, none wider than `columns`
// (clamped to [kTimelineMinColumns, kTimelineMaxColumns]). A status other than "recorded" is one
// line: "timeline: <status>: <note>". colour = ANSI SGR codes (they take no columns).
std::string render_timeline(const nlohmann::json& timeline, int columns, bool colour);

// The timeline a report's drawing uses: the primary update's (the one the details come from)
// when it is recorded, else the latest update's that is recorded, else the primary's (or the
// latest update's) whatever its status; null when no update has one.
nlohmann::json pick_timeline(const ReportEntry& entry);

// What `reports ID --timeline` prints: the report's id, then render_timeline() of
// pick_timeline(); a report without any timeline or an unreadable one is one line.
std::string format_report_timeline(const ReportEntry& entry, int columns, bool colour);

// The drawing's width: $COLUMNS when it is a number, else the terminal's width from
// ioctl(TIOCGWINSZ) on stdout, clamped to [kTimelineMinColumns, kTimelineMaxColumns]; 80 when
// neither is known.
int terminal_columns();

// Colour only for a terminal: stdout is a tty and NO_COLOR is not set (to anything).
bool want_colour();

}  // namespace stallwatch::ctl
