#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# ctest "layering_selftest": scripts/check-layers.sh passes on a copy of this tree and fails,
# naming the file, on each kind of violation planted in a fresh copy. No hand list exists for
# it to miss: a new header's layer is its folder.
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fresh() {  # a copy of the layered parts of the tree
  rm -rf "$tmp/t"; mkdir -p "$tmp/t"
  cp -r "$here/src" "$here/include" "$here/scripts" "$tmp/t/"
}
expect_fail() {  # what, expected message fragment
  local out
  if out=$(bash "$tmp/t/scripts/check-layers.sh" "$tmp/t" 2>&1); then
    echo "FAIL: the check passed with $1"; exit 1
  fi
  if ! grep -qF -- "$2" <<<"$out"; then
    echo "FAIL: $1: expected a line with '$2', got:"; echo "$out"; exit 1
  fi
  echo "ok: $1 -> $(grep -F -- "$2" <<<"$out" | head -1)"
}

fresh
bash "$tmp/t/scripts/check-layers.sh" "$tmp/t" >/dev/null || { echo "FAIL: the clean tree fails"; exit 1; }
echo "ok: the clean tree passes"

fresh  # a core source includes a daemon header
sed -i '0,/^#include "stallwatch/s||#include "stallwatch/daemon/daemon.h"\n&|' "$tmp/t/src/core/checker.cpp"
expect_fail "src/core/checker.cpp including a daemon header" \
  "src/core/checker.cpp (core) includes stallwatch/daemon/daemon.h (daemon)"

fresh  # a core header includes a daemon header
printf '#pragma once\n#include "stallwatch/daemon/notify.h"\nnamespace stallwatch {}\n' \
  > "$tmp/t/include/stallwatch/core/new_core.h"
expect_fail "a new core header including a daemon header" \
  "include/stallwatch/core/new_core.h (core) includes stallwatch/daemon/notify.h (daemon)"

fresh  # a new daemon header that declares into the core namespace
printf '#pragma once\nnamespace stallwatch {\nstruct Thing {};\n}  // namespace stallwatch\n' \
  > "$tmp/t/include/stallwatch/daemon/new_daemon.h"
expect_fail "a daemon header declaring into stallwatch" \
  "include/stallwatch/daemon/new_daemon.h (daemon) opens namespace stallwatch (layer core)"

fresh  # ctl includes a daemon header
sed -i '0,/^#include "stallwatch/s||#include "stallwatch/daemon/status_doc.h"\n&|' "$tmp/t/src/ctl/status_view.cpp"
expect_fail "ctl including a daemon header" \
  "src/ctl/status_view.cpp (ctl) includes stallwatch/daemon/status_doc.h (daemon)"

fresh  # a header outside every layer folder
printf '#pragma once\nnamespace stallwatch {}\n' > "$tmp/t/include/stallwatch/loose.h"
expect_fail "a header directly in include/stallwatch/" "include/stallwatch/loose.h is in no layer folder"

fresh  # an include of a path outside the layer folders
sed -i '0,/^#include "stallwatch/s||#include "stallwatch/loose.h"\n&|' "$tmp/t/src/evidence/engine.cpp"
expect_fail "an include of stallwatch/loose.h" "includes stallwatch/loose.h, which is in no layer folder"
echo "layering_selftest: ok"
