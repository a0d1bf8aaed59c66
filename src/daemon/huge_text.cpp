// SPDX-License-Identifier: GPL-2.0-or-later
#include "stallwatch/daemon/huge_text.h"

#include <elf.h>
#include <link.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <limits>

#include <fmt/format.h>

namespace stallwatch::daemon {

namespace {

#ifndef MADV_COLLAPSE
constexpr int MADV_COLLAPSE = 25;  // Linux 6.1
#endif
#ifndef PR_SET_VMA
constexpr int PR_SET_VMA = 0x53564d41;  // Linux 5.17
constexpr int PR_SET_VMA_ANON_NAME = 0;
#endif

constexpr std::uintptr_t round_down(std::uintptr_t v, std::uintptr_t to) { return v & ~(to - 1); }
constexpr std::uintptr_t round_up(std::uintptr_t v, std::uintptr_t to) {
  return round_down(v + to - 1, to);
}

struct Segments {
  std::uintptr_t text_start = 0;
  std::uintptr_t text_end = 0;
  std::uintptr_t next_start = std::numeric_limits<std::uintptr_t>::max();
};

// The first object dl_iterate_phdr reports is the executable itself.
int find_text(dl_phdr_info* info, std::size_t, void* data) {
  auto* s = static_cast<Segments*>(data);
  for (int i = 0; i < info->dlpi_phnum; ++i) {
    const ElfW(Phdr)& ph = info->dlpi_phdr[i];
    if (ph.p_type == PT_LOAD && (ph.p_flags & PF_X) != 0 && s->text_end == 0) {
      s->text_start = info->dlpi_addr + ph.p_vaddr;
      s->text_end = s->text_start + ph.p_memsz;
    }
  }
  for (int i = 0; i < info->dlpi_phnum; ++i) {
    const ElfW(Phdr)& ph = info->dlpi_phdr[i];
    const std::uintptr_t start = info->dlpi_addr + ph.p_vaddr;
    if (ph.p_type == PT_LOAD && s->text_end != 0 && start >= s->text_end && start < s->next_start)
      s->next_start = start;
  }
  return 1;
}

// AnonHugePages of the mapping that starts at `start`, in bytes; 0 when there is none.
std::size_t anon_huge_bytes(std::uintptr_t start) {
  std::ifstream smaps("/proc/self/smaps");
  std::string line;
  bool in_mapping = false;
  while (std::getline(smaps, line)) {
    std::uintptr_t from = 0;
    std::uintptr_t to = 0;
    if (std::sscanf(line.c_str(), "%" SCNxPTR "-%" SCNxPTR " ", &from, &to) == 2) {
      if (in_mapping) return 0;  // the next mapping's header: ours had no AnonHugePages line
      in_mapping = from == start;
      continue;
    }
    std::size_t kib = 0;
    if (in_mapping && std::sscanf(line.c_str(), "AnonHugePages: %zu kB", &kib) == 1)
      return kib * 1024;
  }
  return 0;
}

// The system's setting, and this process's where it is off (PR_SET_THP_DISABLE, inherited).
std::string thp_setting() {
  std::ifstream in("/sys/kernel/mm/transparent_hugepage/enabled");
  std::string setting;
  std::getline(in, setting);
  std::string why = "transparent_hugepage: " + (setting.empty() ? "absent" : setting);
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);)
    if (line.rfind("THP_enabled:", 0) == 0 && !line.empty() && line.back() == '0')
      why += "; off for this process: PR_SET_THP_DISABLE";
  return why;
}

}  // namespace

std::variant<HugeTextPlan, std::string> plan_huge_text(std::uintptr_t text_start,
                                                       std::uintptr_t text_end,
                                                       std::uintptr_t next_segment_start,
                                                       std::size_t page_size) {
  if (text_end <= text_start) return std::string("the executable has no code segment");
  const std::uintptr_t lo = round_up(text_start, kHugePageBytes);
  const std::uintptr_t end_page = round_up(text_end, page_size);
  std::uintptr_t hi = round_up(text_end, kHugePageBytes);
  if (hi > round_down(next_segment_start, page_size)) hi = round_down(text_end, kHugePageBytes);
  if (hi <= lo) {
    return fmt::format(
        "the code at {:#x}-{:#x} holds no whole 2 MiB-aligned 2 MiB (a build without "
        "-z max-page-size=0x200000, as the sanitizer builds are)",
        text_start, text_end);
  }
  HugeTextPlan plan;
  plan.start = lo;
  plan.length = hi - lo;
  plan.copy = (end_page < hi ? end_page : hi) - lo;
  return plan;
}

HugeTextResult move_text_to_huge_pages() {
  HugeTextResult result;
  Segments segments;
  dl_iterate_phdr(find_text, &segments);
  const auto page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  auto planned = plan_huge_text(segments.text_start, segments.text_end, segments.next_start, page);
  if (auto* why = std::get_if<std::string>(&planned)) {
    result.why_not = *why;
    return result;
  }
  const HugeTextPlan plan = std::get<HugeTextPlan>(planned);
  auto* const target = reinterpret_cast<char*>(plan.start);

  // The gap after the code: reserved first, so nothing else can be there when the move replaces
  // it. MAP_FIXED_NOREPLACE fails (or, before Linux 4.17, lands elsewhere) if anything is.
  char* gap = target + plan.copy;
  const std::size_t gap_length = plan.length - plan.copy;
  if (gap_length > 0) {
    void* reserved = ::mmap(gap, gap_length, PROT_NONE,
                            MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    if (reserved != gap) {
      if (reserved != MAP_FAILED) ::munmap(reserved, gap_length);
      result.why_not = fmt::format("something is mapped between the end of the code and {:#x}",
                                   plan.start + plan.length);
      return result;
    }
  }
  const auto release_gap = [&] {
    if (gap_length > 0) ::munmap(gap, gap_length);
  };

  // Staging: a 2 MiB-aligned anonymous area, huge pages asked for, the code copied in.
  void* raw = ::mmap(nullptr, plan.length + kHugePageBytes, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (raw == MAP_FAILED) {
    release_gap();
    result.why_not = fmt::format("mmap of {} KiB failed ({})",
                                 (plan.length + kHugePageBytes) / 1024, std::strerror(errno));
    return result;
  }
  const auto raw_start = reinterpret_cast<std::uintptr_t>(raw);
  const std::uintptr_t staging_start = round_up(raw_start, kHugePageBytes);
  if (staging_start > raw_start) ::munmap(raw, staging_start - raw_start);
  const std::uintptr_t raw_end = raw_start + plan.length + kHugePageBytes;
  if (raw_end > staging_start + plan.length)
    ::munmap(reinterpret_cast<void*>(staging_start + plan.length),
             raw_end - (staging_start + plan.length));
  auto* const staging = reinterpret_cast<char*>(staging_start);
  const auto fail = [&](std::string why) {
    ::munmap(staging, plan.length);
    release_gap();
    result.why_not = std::move(why);
    return result;
  };

  ::madvise(staging, plan.length, MADV_HUGEPAGE);
  std::memcpy(staging, target, plan.copy);
  std::memset(staging + plan.copy, 0xcc, plan.length - plan.copy);  // int3
  if (anon_huge_bytes(staging_start) < plan.length) {
    ::madvise(staging, plan.length, MADV_COLLAPSE);
    if (anon_huge_bytes(staging_start) < plan.length) {
      return fail(fmt::format("no transparent huge page was given ({})", thp_setting()));
    }
  }
  if (::mprotect(staging, plan.length, PROT_READ | PROT_EXEC) != 0) {
    return fail(fmt::format("making the copy executable was refused ({}; "
                            "MemoryDenyWriteExecute= or PR_SET_MDWE?)",
                            std::strerror(errno)));
  }

  // The move: the file mapping (and the gap's reservation) replaced by the copy, in one call.
  void* moved = ::mremap(staging, plan.length, plan.length, MREMAP_MAYMOVE | MREMAP_FIXED, target);
  if (moved != target) return fail(fmt::format("mremap failed ({})", std::strerror(errno)));
  ::prctl(PR_SET_VMA, PR_SET_VMA_ANON_NAME, plan.start, plan.length, "stallwatchd code");
  result.moved = true;
  result.bytes = plan.length;
  if (anon_huge_bytes(plan.start) < plan.length) {
    result.why_not = "the moved code is no longer in a huge page";  // reported, not fatal
  }
  return result;
}

}  // namespace stallwatch::daemon
