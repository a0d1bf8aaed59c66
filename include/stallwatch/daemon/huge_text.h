// SPDX-License-Identifier: GPL-2.0-or-later
// stallwatchd's code moved into one 2 MiB page at start, before any thread runs.
//
// Why: on a virtual machine whose hypervisor keeps shadow page tables (no EPT/NPT for the guest,
// as on the PVM machine the figures in docs/performance.md come from), what a thread pays to wake
// after sleeping follows the number of 4 KiB page mappings its process has; a 2 MiB page costs
// about what one 4 KiB page costs. The daemon's code is about 420 of its ~1,650 mappings. On bare
// metal the same move saves iTLB misses on a cold wakeup.
//
// How: the build aligns the code segment to 2 MiB (-z max-page-size=0x200000, src/CMakeLists.txt),
// so the kernel loads it 2 MiB-aligned. At start the code is copied into an anonymous 2 MiB
// transparent huge page (madvise(MADV_HUGEPAGE), MADV_COLLAPSE if the first fault fell back),
// made read+execute (never writable and executable at once), and mremap()ed over the file
// mapping at the same address: the code that runs after is byte for byte the code that ran
// before. The space between the end of the code and the next segment, unmapped after load, is
// filled with int3. The mapping is named "[anon:stallwatchd code]" in /proc/<pid>/maps.
//
// Off by default (daemon.huge_code): the packaged unit's MemoryDenyWriteExecute=yes refuses the
// one mprotect(PROT_EXEC) this needs, and anonymous executable memory hides symbols from perf.
//
// Every step that can fail does so before the move, and leaves the file mapping as it was: no
// 2 MiB alignment (a sanitizer build), transparent huge pages off ("never", or
// PR_SET_THP_DISABLE), no huge page free, an mprotect(PROT_EXEC) refused (MemoryDenyWriteExecute=,
// PR_SET_MDWE), something mapped where the int3 fill would go. Then the daemon runs from its
// 4 KiB pages as before and says why. Used by main.cpp only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <variant>

namespace stallwatch::daemon {

inline constexpr std::uintptr_t kHugePageBytes = std::uintptr_t{2} << 20;

// [start, start + length) becomes huge pages: its first `copy` bytes are the code's, the rest
// (the unmapped gap up to the next 2 MiB boundary) int3.
struct HugeTextPlan {
  std::uintptr_t start = 0;
  std::size_t length = 0;
  std::size_t copy = 0;
};

// Pure: from the code segment [text_start, text_end), the start of the next segment the
// executable maps after it, and the page size. The gap up to the next 2 MiB boundary is taken
// only when the next segment starts at or past that boundary; otherwise only whole 2 MiB inside
// the code are. A string says why nothing can be moved.
std::variant<HugeTextPlan, std::string> plan_huge_text(std::uintptr_t text_start,
                                                       std::uintptr_t text_end,
                                                       std::uintptr_t next_segment_start,
                                                       std::size_t page_size);

struct HugeTextResult {
  bool moved = false;
  std::size_t bytes = 0;  // length moved into huge pages
  std::string why_not;    // when !moved
};

// Finds the executable's code segment (dl_iterate_phdr), follows the plan. Call before any
// thread starts and before mlockall.
HugeTextResult move_text_to_huge_pages();

}  // namespace stallwatch::daemon
