#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Quick start: installs dependencies, builds, and runs stallwatchd in the foreground with the
# shipped default config (events on stderr; Ctrl-C stops it). Needs root (SCHED_FIFO heartbeats).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)" --target stallwatchd
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
exec $SUDO ./build/src/stallwatchd --config config/stallwatch.toml "$@"
