#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Installs every Debian package stallwatch needs to build, test and run its test suites.
# Idempotent: skips apt when everything is already there.
set -euo pipefail
build_pkgs=(build-essential cmake pkg-config git
  libspdlog-dev libfmt-dev libtomlplusplus-dev libcli11-dev nlohmann-json3-dev
  libtracefs-dev libtraceevent-dev
  libgtest-dev libgmock-dev libbenchmark-dev)
test_pkgs=(rt-tests rtla stress-ng systemd procps util-linux python3 clang-14 libclang-rt-14-dev
  clang-format-14 qemu-system-x86 debootstrap cpio gzip kmod e2fsprogs
  lintian rpm debhelper prometheus prometheus-node-exporter gdb)
want=("${build_pkgs[@]}")
if [ "${1:-}" = "--test" ]; then want+=("${test_pkgs[@]}"); fi
missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then echo "install-deps: all ${#want[@]} packages present"; exit 0; fi
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-deps: done"
