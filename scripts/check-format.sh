#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Every C++ file (*.cpp, *.cc, *.h, *.hpp tracked by git) is formatted as .clang-format says.
# The C files are kernel modules and a C shim: they keep the kernel's style. Run by
# scripts/test.sh; fix with: scripts/check-format.sh --fix
set -euo pipefail
cd "$(dirname "$0")/.."
cf=$(command -v clang-format-14 || command -v clang-format || true)
if [ -z "$cf" ]; then echo "check-format: clang-format not installed (scripts/install-deps.sh --test)"; exit 1; fi
mapfile -t files < <(git ls-files '*.cpp' '*.cc' '*.h' '*.hpp')
if [ "${1:-}" = "--fix" ]; then "$cf" -i "${files[@]}"; echo "check-format: formatted ${#files[@]} files"; exit 0; fi
"$cf" --dry-run --Werror "${files[@]}"
echo "check-format: ${#files[@]} C++ files formatted as .clang-format says ($("$cf" --version | grep -o 'version [0-9.]*'))"
