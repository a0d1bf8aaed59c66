#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The system suite's package step (ctest system.package): builds the project's .deb from the
# already built CMake tree with scripts/package.sh --prebuilt (no second compile; lintian and the
# package's content checks run as in a release build) into OUT_DIR, where run_scenario.py takes
# it into every guest. Usage: package_deb.sh BUILD_DIR OUT_DIR
set -euo pipefail
build=${1:?usage: package_deb.sh BUILD_DIR OUT_DIR}
out=${2:?usage: package_deb.sh BUILD_DIR OUT_DIR}
root=$(cd "$(dirname "$0")/../.." && pwd)
skip() {   # ctest SKIP_RETURN_CODE; under CI=true a skip is a failure
  if [ "${CI:-}" = true ]; then echo "FAIL: skipped under CI=true, which must run every test: $*"; exit 1; fi
  echo "skipped: $*"; exit 77
}

[ -z "${STALLWATCH_SYSTEM_SKIP:-}" ] || skip "STALLWATCH_SYSTEM_SKIP=$STALLWATCH_SYSTEM_SKIP"
for tool in dpkg-buildpackage dh lintian; do
  command -v "$tool" >/dev/null || skip "missing tool: $tool (run scripts/install-deps.sh --test)"
done
rm -rf "$out"
start=$SECONDS
bash "$root/scripts/package.sh" --prebuilt "$build" --no-rpm --out "$out"
echo "system.package: $(ls "$out"/stallwatch_*.deb) in $((SECONDS - start)) s"
