#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# CI check (run first by scripts/test.sh): every file the project wrote carries
# "SPDX-License-Identifier: GPL-2.0-or-later" in its first 5 lines, and every kernel test module
# declares MODULE_LICENSE("GPL"). Which files, and in which comment syntax, is defined once in
# scripts/spdx_rules.sh (read it for the exact rule); scripts/add-spdx.sh adds missing lines.
# Exit 0 when all files comply; 1 naming each file that does not.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/spdx_rules.sh

bad=0
n=0
while IFS= read -r f; do
  n=$((n + 1))
  if [ -z "$(spdx_style "$f")" ]; then
    echo "$f: no comment syntax known for this file type (add a rule to scripts/spdx_rules.sh)"
    bad=$((bad + 1))
  elif ! spdx_has_tag "$f"; then
    echo "$f: no '$SPDX_TAG' in its first 5 lines"
    bad=$((bad + 1))
  fi
  if spdx_is_kernel_module "$f" && ! grep -q 'MODULE_LICENSE("GPL");' "$f"; then
    echo "$f: kernel module without MODULE_LICENSE(\"GPL\")"
    bad=$((bad + 1))
  fi
done < <(spdx_files)

[ "$n" -gt 0 ] || { echo "check-spdx: no files selected (not a git checkout?)"; exit 1; }
if [ "$bad" -gt 0 ]; then
  echo "check-spdx: FAIL: $bad problem(s) in $n files (scripts/add-spdx.sh adds missing lines)"
  exit 1
fi
echo "check-spdx: all $n files carry '$SPDX_TAG'"
