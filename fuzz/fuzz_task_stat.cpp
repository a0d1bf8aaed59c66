// SPDX-License-Identifier: GPL-2.0-or-later
// /proc/<pid>/task/<tid>/stat and the other per-task files.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "stallwatch/evidence/proc_parse.h"
#include "stallwatch/evidence/task_scan.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  using namespace stallwatch::evidence;
  if (auto st = parse_task_stat(text)) {
    (void)policy_name(st->policy);
    (void)is_rt_policy(st->policy);
  }
  (void)parse_schedstat(text);
  (void)parse_stack(text, 32);
  (void)pick_cgroup(text);
  (void)format_cmdline(text, 64);
  return 0;
}
