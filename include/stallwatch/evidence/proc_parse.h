// SPDX-License-Identifier: GPL-2.0-or-later
// Procfs parsers for stall evidence: pure functions over the text of /proc/<pid>/task/<tid>/stat,
// .../schedstat, /proc/stat, /proc/interrupts and /proc/softirqs. Owned by the evidence module;
// stateless and thread-safe (no I/O here; readers live in task_scan.cpp and counters.cpp).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "stallwatch/core/result.h"
#include "stallwatch/core/text.h"

namespace stallwatch::evidence {

// /proc/<pid>/task/<tid>/stat. Fields are numbered as in proc(5); everything after the comm is
// parsed from the LAST ')' because a comm may hold spaces, '(' and ')'.
struct TaskStat {
  int tid = 0;                    // field 1 (the thread id when read from task/<tid>/stat)
  std::string comm;               // field 2, without the parentheses
  char state = '?';               // field 3
  int ppid = 0;                   // field 4
  std::uint64_t utime_ticks = 0;  // field 14, USER_HZ
  std::uint64_t stime_ticks = 0;  // field 15, USER_HZ
  int priority = 0;               // field 18: -2..-100 for RT, 0..39 for CFS (kernel prio - 100)
  int nice = 0;                   // field 19
  int num_threads = 0;            // field 20
  int processor = -1;             // field 39: CPU it last ran on (its runqueue when runnable)
  int rt_priority = 0;            // field 40
  int policy = 0;                 // field 41
};
Result<TaskStat> parse_task_stat(std::string_view text);

// SCHED_OTHER, SCHED_FIFO, ... ("SCHED_<n>" for unknown values).
std::string policy_name(int policy);
bool is_rt_policy(int policy);  // FIFO or RR
inline constexpr int kSchedDeadline = 6;

// /proc/<pid>/task/<tid>/schedstat: "run_ns wait_ns timeslices".
struct SchedStat {
  std::uint64_t run_ns = 0;
  std::uint64_t wait_ns = 0;
  std::uint64_t timeslices = 0;
};
Result<SchedStat> parse_schedstat(std::string_view text);

// One per-CPU line of /proc/stat ("cpuN user nice system idle iowait irq softirq steal ..."),
// in USER_HZ ticks.
struct CpuTimes {
  int cpu = -1;
  std::uint64_t user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0,
                steal = 0, guest = 0, guest_nice = 0;
  // guest time is already included in user/nice, so it is not added again.
  std::uint64_t total() const {
    return user + nice + system + idle + iowait + irq + softirq + steal;
  }
};
// The per-CPU lines only (the aggregate "cpu " line is skipped), in file order.
Result<std::vector<CpuTimes>> parse_proc_stat(std::string_view text);
const CpuTimes* find_cpu(const std::vector<CpuTimes>& all, int cpu);

// /proc/interrupts and /proc/softirqs: a header naming the online CPUs' columns ("CPU0 CPU1 CPU3"
// -- offline CPUs have no column), then one row per source. Rows may have fewer counts than
// columns (ERR, MIS).
struct CounterRow {
  std::string name;                   // "24", "LOC", "NET_RX"
  std::vector<std::uint64_t> counts;  // per column, may be shorter than cpus
  std::string description;            // "IO-APIC 5-edge ACPI:Ged", "Local timer interrupts"
};
struct CounterTable {
  std::vector<int> cpus;  // column -> CPU number
  std::vector<CounterRow> rows;
  int column_of(int cpu) const;  // -1 when the CPU has no column (offline)
  // Count of row for cpu; false when the CPU or the row's cell is absent.
  bool count(const CounterRow& row, int cpu, std::uint64_t* out) const;
  const CounterRow* find(std::string_view name) const;
};
Result<CounterTable> parse_interrupts(std::string_view text);
Result<CounterTable> parse_softirqs(std::string_view text);

// Small helpers shared by the evidence parsers (trim() is core's, stallwatch/core/text.h).
bool parse_u64(std::string_view s, std::uint64_t* out);
bool parse_i64(std::string_view s, std::int64_t* out);
bool parse_int(std::string_view s, int* out);

}  // namespace stallwatch::evidence
