#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Builds the libFuzzer targets with clang-14 in their own build tree and runs each one briefly,
# seeded with the real fixture files. Usage: fuzz/run.sh [seconds per target, default 10]
# Exit status: 0 when no target found a crash, leak or sanitizer error.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/.." && pwd)
secs=${1:-10}
build=${STALLWATCH_FUZZ_BUILD:-$src/build-fuzz}
fixtures=$src/tests/fixtures/evidence
command -v clang++-14 >/dev/null || { echo "fuzz: clang++-14 missing (scripts/install-deps.sh --test)" >&2; exit 77; }

CC=clang-14 CXX=clang++-14 cmake -S "$src" -B "$build" -DSTALLWATCH_FUZZ=ON \
  -DSTALLWATCH_TESTS=OFF -DSTALLWATCH_BENCH=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
targets=(fuzz_task_stat fuzz_proc_stat fuzz_counter_tables fuzz_kmsg_record fuzz_kmsg_reader
         fuzz_sysrq_dump fuzz_cpu_list fuzz_sanitize fuzz_report_render fuzz_status_render
         fuzz_trace_page)
cmake --build "$build" -j2 --target "${targets[@]}" >/dev/null

seed() {  # target -> seed directory made of real files
  local dir=$build/seeds/$1
  rm -rf "$dir"
  mkdir -p "$dir"
  case $1 in
    fuzz_task_stat) find "$fixtures" \( -name stat -path '*/task/*' -o -path '*/task_stat/*' \
                      -o -name schedstat -o -name stack -o -name cgroup \) -type f ;;
    fuzz_proc_stat) find "$fixtures" \( -name stat -path '*/proc/stat' -o -path '*/proc_stat/*' \) -type f ;;
    fuzz_counter_tables) find "$fixtures" \( -name interrupts -o -name softirqs -o -name '*.interrupts' \
                           -o -name '*.softirqs' \) -type f ;;
    fuzz_kmsg_record|fuzz_kmsg_reader|fuzz_sysrq_dump) find "$fixtures" -name '*.kmsg' -type f ;;
    fuzz_cpu_list) find "$fixtures" -name online -type f ;;
    fuzz_sanitize) find "$src/tests/fixtures/core/hostile_names" -type f ;;
    fuzz_report_render) find "$src/tests/fixtures/ctl" -name '*.json' -type f ;;
    fuzz_trace_page) tl=$fixtures/timeline/host-rt-hog
      find "$tl/formats" -name format -type f
      for p in "$tl"/cpu*.pages; do  # a few real sub-buffers, one per seed
        for i in 0 1 7 20; do dd if="$p" bs=4096 skip=$i count=1 status=none of="$build/seeds/page.$(basename "$p").$i"; done
      done
      ls "$build"/seeds/page.* ;;
    fuzz_status_render) find "$src/tests/fixtures/ctl/status" "$src/tests/fixtures/metrics" \
                          -name '*.json' -type f ;;
  esac | while read -r f; do cp "$f" "$dir/$(echo "$f" | md5sum | cut -c1-16)"; done
  echo "$dir"
}

failed=0
for t in "${targets[@]}"; do
  seeds=$(seed "$t")
  corpus=$build/corpus/$t
  mkdir -p "$corpus"
  log=$build/$t.log
  if (cd "$build" && "./fuzz/$t" -max_total_time="$secs" -max_len=65536 -timeout=10 \
        -rss_limit_mb=2048 -print_final_stats=1 "$corpus" "$seeds" >"$log" 2>&1); then
    echo "fuzz: $t ok ($(grep -m1 -o 'stat::number_of_executed_units: *[0-9]*' "$log" | awk '{print $2}') runs)"
  else
    echo "fuzz: $t FAILED, see $log" >&2
    tail -20 "$log" >&2
    failed=1
  fi
done
exit $failed
