#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# One version, checked everywhere it is written (ctest: version_consistency, label unit).
# The source of truth is CMakeLists.txt's `project(stallwatch VERSION x.y.z)`; the binaries get it
# at build time (STALLWATCH_VERSION). These must agree with it, or this fails naming each one:
#   packaging/debian/changelog   top entry "stallwatch (x.y.z)"
#   packaging/rpm/stallwatch.spec   "Version: x.y.z" and the top %changelog entry "- x.y.z-N"
#   CHANGELOG.md                 the latest released section "## [x.y.z] - DATE"
#   man/*.[1-9]                  the .TH footer "stallwatch x.y.z"
#   stallwatchd --version, stallwatchctl --version   "<name> x.y.z"
# A release bumps all of them in one commit (CHANGELOG.md says how).
#
#   scripts/check-version.sh STALLWATCHD STALLWATCHCTL
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
daemon=${1:?usage: check-version.sh STALLWATCHD STALLWATCHCTL}
ctl=${2:?usage: check-version.sh STALLWATCHD STALLWATCHCTL}

want=$(sed -n 's/^project(stallwatch VERSION \([0-9][0-9.]*\)[ )].*/\1/p' "$root/CMakeLists.txt")
[ -n "$want" ] || { echo "FAIL: no 'project(stallwatch VERSION x.y.z ...)' in CMakeLists.txt"; exit 1; }
echo "CMakeLists.txt: $want"
bad=0
same() {   # same WHERE GOT
  if [ "$2" = "$want" ]; then
    echo "ok: $1: $2"
  else
    echo "FAIL: $1 says '${2}', CMakeLists.txt says '$want'"
    bad=$((bad + 1))
  fi
}

same "packaging/debian/changelog (top entry)" \
  "$(sed -n '1s/^stallwatch (\([^)]*\)).*/\1/p' "$root/packaging/debian/changelog")"
spec=$root/packaging/rpm/stallwatch.spec
same "packaging/rpm/stallwatch.spec Version" "$(sed -n 's/^Version:[[:space:]]*\([^[:space:]]*\).*/\1/p' "$spec")"
same "packaging/rpm/stallwatch.spec %changelog (top entry)" \
  "$(sed -n '/^%changelog/,$ { s/^\*.* - \([^-[:space:]]*\)-[^-[:space:]]*[[:space:]]*$/\1/p }' "$spec" | head -1)"
same "CHANGELOG.md (latest release)" \
  "$(sed -n 's/^## \[\([0-9][0-9.]*\)\] - [0-9-]*.*/\1/p' "$root/CHANGELOG.md" | head -1)"
for page in "$root"/man/*.[1-9]; do
  same "man/$(basename "$page") .TH" "$(sed -n 's/^\.TH .*"stallwatch \([^"]*\)".*/\1/p' "$page" | head -1)"
done
for pair in "stallwatchd=$daemon" "stallwatchctl=$ctl"; do
  name=${pair%%=*} bin=${pair#*=}
  out=$("$bin" --version 2>&1) || { echo "FAIL: $bin --version exited $?: $out"; bad=$((bad + 1)); continue; }
  same "$name --version" "$(printf '%s\n' "$out" | sed -n "1s/^$name \([^[:space:]]*\)\$/\1/p")"
done

if [ $bad -gt 0 ]; then
  echo "version_consistency: FAIL: $bad place(s) disagree with CMakeLists.txt ($want)"
  exit 1
fi
echo "version_consistency: every place says $want"
