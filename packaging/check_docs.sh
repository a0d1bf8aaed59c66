#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Fast checks of the shipped text artefacts, from the source tree (ctest: package_docs):
# every MESSAGE_ID in the headers has a catalog entry and the catalog compiles; the man pages
# render without warnings; the unit's sandbox exposure is at most 3.0 and it opens tracefs for the
# flight recorder through instances/ only.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
catalog="$root/systemd/stallwatch.catalog"
ids=$(grep -rhoE '"[0-9a-f]{32}"' "$root/include" | tr -d '"' | sort -u)
[ -n "$ids" ] || { echo "FAIL: no MESSAGE_IDs found in include/"; exit 1; }
for id in $ids; do
  grep -qx -- "-- $id" "$catalog" || { echo "FAIL: MESSAGE_ID $id has no catalog entry"; exit 1; }
done
echo "catalog: an entry for each of the $(echo "$ids" | wc -l) MESSAGE_IDs"
mkdir -p "$work/usr/lib/systemd/catalog" "$work/var/lib/systemd/catalog"
cp "$catalog" "$work/usr/lib/systemd/catalog/"
journalctl --root="$work" --update-catalog
n=$(journalctl --root="$work" --list-catalog | grep -c ' stallwatch: ' || true)
[ "$n" -eq "$(grep -c '^-- [0-9a-f]\{32\}$' "$catalog")" ] || { echo "FAIL: catalog compiled $n entries"; exit 1; }
echo "catalog compiles: $n entries"
for page in "$root"/man/*.[0-9]; do
  MANWIDTH=80 man --warnings -l "$page" 2>"$work/err" >/dev/null
  [ ! -s "$work/err" ] || { echo "FAIL: $page:"; cat "$work/err"; exit 1; }
done
echo "man pages render without warnings"
exposure=$(systemd-analyze security --offline=true "$root/systemd/stallwatch.service" |
  sed -n 's/.*exposure level for stallwatch.service: \([0-9.]*\).*/\1/p')
awk -v e="$exposure" 'BEGIN { exit !(e != "" && e <= 3.0) }' || { echo "FAIL: exposure '$exposure' > 3.0"; exit 1; }
echo "unit exposure: $exposure"
# ProtectKernelTunables= lists /sys/kernel/tracing itself read-only and wins over a
# ReadWritePaths= of the same path: the recorder's writable path must be instances/ (optional: "-").
unit="$root/systemd/stallwatch.service"
grep -qx 'ProtectKernelTunables=yes' "$unit" || { echo "FAIL: unit lost ProtectKernelTunables=yes"; exit 1; }
grep -qx 'ReadWritePaths=-/sys/kernel/tracing/instances' "$unit" ||
  { echo "FAIL: unit lacks ReadWritePaths=-/sys/kernel/tracing/instances (flight recorder)"; exit 1; }
if grep -E '^ReadWritePaths=.*(^|[ =-])/sys/kernel(/tracing|/debug)?/?( |$)' "$unit"; then
  echo "FAIL: a ReadWritePaths= of tracefs itself (read-only under ProtectKernelTunables=yes)"; exit 1
fi
echo "unit: tracefs writable through instances/ only"
