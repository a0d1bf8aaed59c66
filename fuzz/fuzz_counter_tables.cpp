// SPDX-License-Identifier: GPL-2.0-or-later
// /proc/interrupts and /proc/softirqs, and deltas between two tables (input split at the first
// NUL byte: before / after).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "stallwatch/evidence/counters.h"
#include "stallwatch/evidence/proc_parse.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  using namespace stallwatch::evidence;
  auto nul = text.find('\0');
  std::string_view a = text.substr(0, nul);
  std::string_view b = nul == std::string_view::npos ? a : text.substr(nul + 1);
  auto ta = parse_interrupts(a);
  auto tb = parse_interrupts(b);
  (void)parse_softirqs(a);
  if (ta && tb) {
    CounterSample s1, s2;
    s1.interrupts = *ta;
    s1.have_interrupts = true;
    s2.interrupts = *tb;
    s2.have_interrupts = true;
    s2.mono_ns = 1'000'000'000;
    for (int cpu : {0, 1, 5, 63}) (void)compute_counter_delta(s1, s2, cpu, 100);
  }
  return 0;
}
