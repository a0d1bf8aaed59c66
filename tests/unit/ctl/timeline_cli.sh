#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# ctest ctl_timeline_cli: `stallwatchctl reports ID --timeline` end to end on the fixture reports
# of tests/fixtures/ctl/timeline/ (the folder is the state directory's reports/): the output at
# --width 80 and 120, and at the width $COLUMNS gives, is the stored drawing byte for byte, with
# no colour since stdout is not a terminal; --timeline without an ID is refused.
# Usage: timeline_cli.sh <stallwatchctl> <fixture folder>
set -euo pipefail
ctl=$1
fixtures=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/state"
ln -s "$fixtures" "$tmp/state/reports"
: >"$tmp/empty.toml" # the built-in defaults, whatever /etc/stallwatch holds
run() { "$ctl" -c "$tmp/empty.toml" --state-dir "$tmp/state" "$@"; }
failed=0
n=0
for json in "$fixtures"/*.json; do
  name=$(basename "$json" .json)
  for w in 80 120; do
    n=$((n + 1))
    if ! run reports "$name" --timeline --width "$w" >"$tmp/out"; then
      echo "FAIL: $name --width $w exited $?"
      failed=1
    elif ! diff -u "$fixtures/$name.$w.txt" "$tmp/out"; then
      echo "FAIL: $name --width $w differs from $name.$w.txt"
      failed=1
    fi
  done
done
if ! COLUMNS=120 run reports preempt-off-insmod --timeline | cmp -s - "$fixtures/preempt-off-insmod.120.txt"; then
  echo "FAIL: COLUMNS=120 does not give the 120-column drawing"
  failed=1
fi
if run reports --timeline >/dev/null 2>&1; then
  echo "FAIL: --timeline without an ID was accepted"
  failed=1
fi
[ "$failed" = 0 ] && echo "ctl_timeline_cli: $n drawings as stored"
exit "$failed"
