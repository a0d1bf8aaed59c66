# SPDX-License-Identifier: GPL-2.0-or-later
# The one rule for which files carry stallwatch's SPDX line and in which comment syntax; sourced
# by scripts/check-spdx.sh (CI) and scripts/add-spdx.sh (the fixer), so both always agree.
#
# Which files: every file `git ls-files` lists, except
#   - LICENSE, documentation (*.md), .gitignore files, JSON (no comment syntax: scenario.json),
#     compiled Python (*.pyc) and anything git sees as binary;
#   - packaging/debian/* other than rules: formats owned by dpkg/debhelper (changelog, control,
#     copyright, source/format, *.install, *.docs, *.examples); debian/copyright states their
#     license;
#   - tests/fixtures/**: captured data (proc/sys trees, kmsg, reports) is not ours to annotate,
#     but the capture tools kept there ARE checked: *.c, *.cpp, *.h, *.sh, *.py and Kbuild files.
# Everything else must have "SPDX-License-Identifier: GPL-2.0-or-later" in its first 5 lines.
# A kernel module source (a *.c file that includes <linux/module.h>) must also declare
# MODULE_LICENSE("GPL").
#
# Comment syntax (spdx_style): "//" for C and C++; "#" for shell, Python, CMake, TOML, YAML
# (.clang-format too),
# systemd units and drop-ins (*.service, *.conf, ...), the journald catalog (its format treats
# lines starting with # as comments), the rpm spec, Kbuild/Makefiles, debian/rules and any
# other file starting with "#!"; '.\"' for man pages (*.[1-9]). A file of any other type makes
# both scripts fail until a rule for it is added here.

SPDX_ID="GPL-2.0-or-later"
SPDX_TAG="SPDX-License-Identifier: $SPDX_ID"
# The tag at the end of a line (optionally closed by " */"): a longer identifier does not count.
SPDX_RE="SPDX-License-Identifier: GPL-2\\.0-or-later( \\*/)?[[:space:]]*\$"

# spdx_wanted PATH: success when PATH (relative to the repository root) must carry the SPDX line.
spdx_wanted() {
  case "$1" in
    LICENSE | *.md | .gitignore | */.gitignore | *.json | *.pyc | */__pycache__/*) return 1 ;;
    packaging/debian/rules) return 0 ;;
    packaging/debian/*) return 1 ;;
    tests/fixtures/*)
      case "$1" in
        *.c | *.cpp | *.h | *.sh | *.py | */Kbuild) ;;
        *) return 1 ;;
      esac ;;
  esac
  # Binary files (grep -I treats them as not matching).
  [ ! -s "$1" ] || grep -Iq . "$1"
}

# spdx_files: the tracked files spdx_wanted selects, one per line (run in the repository root).
spdx_files() {
  local f
  git ls-files | while IFS= read -r f; do
    [ -f "$f" ] && spdx_wanted "$f" && printf '%s\n' "$f"
  done
}

# spdx_style PATH: prints the comment leader for PATH, or nothing for an unknown type.
spdx_style() {
  case "$1" in
    *.c | *.cc | *.cpp | *.h | *.hpp) printf '//\n' ;;
    *.[1-9]) printf '.\\"\n' ;;
    *.sh | *.py | *.cmake | CMakeLists.txt | */CMakeLists.txt | *.toml | *.yaml | *.yml | \
      *.service | *.socket | *.timer | *.conf | *.catalog | *.spec | Kbuild | */Kbuild | \
      Makefile | */Makefile | .clang-format | packaging/debian/rules) printf '#\n' ;;
    *) [ "$(head -c2 "$1")" != "#!" ] || printf '#\n' ;;
  esac
}

# spdx_has_tag PATH: success when the tag is in PATH's first 5 lines.
spdx_has_tag() {
  head -n 5 "$1" | grep -Eq "$SPDX_RE"
}

# spdx_is_kernel_module PATH: a C file built as a kernel module.
spdx_is_kernel_module() {
  case "$1" in *.c) grep -q '^#include <linux/module.h>' "$1" ;; *) return 1 ;; esac
}
