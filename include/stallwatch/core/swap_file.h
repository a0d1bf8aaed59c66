// SPDX-License-Identifier: GPL-2.0-or-later
// Transitional, for the dispatcher only (dispatcher.h), which still names the type by its old
// name: SwapFile is AtomicFile (atomic_file.h). Delete this header once dispatcher.h includes
// atomic_file.h and says AtomicFile.
#pragma once

#include "stallwatch/core/atomic_file.h"

namespace stallwatch {

using SwapFile = AtomicFile;

}  // namespace stallwatch
