// SPDX-License-Identifier: GPL-2.0-or-later
// Transitional, for the daemon's wiring only (daemon.h, daemon.cpp), which still names the class
// by its old name: Escalation is EscalationControl (escalation_control.h). Delete this header
// once those files say EscalationControl and include escalation_control.h.
#pragma once

#include "stallwatch/escalation/escalation_control.h"

namespace stallwatch::escalation {

using EscalationSeams = EscalationControlSeams;

// A class, not an alias: daemon.h forward-declares `class Escalation`.
class Escalation final : public EscalationControl {
 public:
  using EscalationControl::EscalationControl;
};

}  // namespace stallwatch::escalation
