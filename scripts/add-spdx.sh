#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Adds "<comment> SPDX-License-Identifier: GPL-2.0-or-later" to every file scripts/check-spdx.sh
# would reject (the rule and the comment syntax per file type: scripts/spdx_rules.sh).
# Idempotent: files that already carry the line are not touched. The line goes first, or right
# after a "#!" line (scripts, debian/rules) or a man page's '\" preprocessor line; a different
# SPDX identifier already in the first 5 lines is replaced in place. File modes are kept.
#
#   scripts/add-spdx.sh            fix the whole tree, then run check-spdx.sh
#   scripts/add-spdx.sh FILE...    fix only these files (paths relative to the repository root)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/spdx_rules.sh

fix() {
  local f=$1 style line tmp
  style=$(spdx_style "$f")
  [ -n "$style" ] || { echo "add-spdx: $f: unknown file type, add a rule to scripts/spdx_rules.sh" >&2; return 1; }
  spdx_has_tag "$f" && return 0
  line="$style $SPDX_TAG"
  tmp=$(mktemp)
  # The line through the environment: awk -v would eat the backslash of '.\"'.
  SPDX_LINE=$line SPDX_MAN=$([ "$style" = '.\"' ] && echo 1 || echo 0) awk '
    { buf[NR] = $0 }
    END {
      line = ENVIRON["SPDX_LINE"]; man = ENVIRON["SPDX_MAN"] == "1"
      for (i = 1; i <= NR && i <= 5; i++)   # another identifier: replace it in place
        if (buf[i] ~ /SPDX-License-Identifier:/) {
          for (j = 1; j <= NR; j++) print (j == i ? line : buf[j])
          exit
        }
      keep = NR >= 1 && (substr(buf[1], 1, 2) == "#!" ||
                         (man && substr(buf[1], 1, 3) == "\047\\\""))
      for (i = 1; i <= keep; i++) print buf[i]
      print line
      for (i = keep + 1; i <= NR; i++) print buf[i]
    }' "$f" >"$tmp"
  cat "$tmp" >"$f"   # keeps the file's mode and inode
  rm -f "$tmp"
  echo "add-spdx: $f"
}

rc=0
if [ $# -gt 0 ]; then
  for f in "$@"; do fix "$f" || rc=1; done
  exit $rc
fi
while IFS= read -r f; do fix "$f" || rc=1; done < <(spdx_files)
[ $rc -eq 0 ] || exit $rc
bash scripts/check-spdx.sh
