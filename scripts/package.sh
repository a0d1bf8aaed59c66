#!/usr/bin/env bash
# Builds stallwatch's .deb (debhelper, packaging/debian) and .rpm (packaging/rpm/stallwatch.spec)
# from this working tree, and runs lintian on the .deb (fails on any lintian error).
#
#   scripts/package.sh [--out DIR] [--build-dir DIR] [--from-source] [--no-rpm]
#
# By default one CMake build (prefix /usr, tests off) in --build-dir is installed by both
# packagers; --from-source lets dpkg-buildpackage and rpmbuild compile the tree themselves.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out="$root/build-package/dist"
build="$root/build-package/cmake"
from_source=0
rpm=1
while [ $# -gt 0 ]; do
  case "$1" in
    --out) out=$2; shift 2 ;;
    --build-dir) build=$2; shift 2 ;;
    --from-source) from_source=1; shift ;;
    --no-rpm) rpm=0; shift ;;
    *) echo "usage: $0 [--out DIR] [--build-dir DIR] [--from-source] [--no-rpm]" >&2; exit 2 ;;
  esac
done
for tool in dpkg-buildpackage dh lintian rpmbuild; do
  command -v "$tool" >/dev/null || { echo "package.sh: $tool missing (scripts/install-deps.sh --test)" >&2; exit 2; }
done
version=$(sed -n 's/^project(stallwatch VERSION \([0-9.]*\).*/\1/p' "$root/CMakeLists.txt")
jobs=${JOBS:-2}

if [ $from_source -eq 0 ]; then
  echo "== cmake build in $build"
  cmake -S "$root" -B "$build" -DCMAKE_INSTALL_PREFIX=/usr -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DSTALLWATCH_TESTS=OFF -DSTALLWATCH_BENCH=OFF >/dev/null
  cmake --build "$build" -j"$jobs" --target stallwatchd stallwatchctl
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/stallwatch-package.XXXXXX")
trap 'rm -rf "$work"' EXIT
src="$work/stallwatch-$version"
mkdir -p "$src" "$out"
# The working tree as git sees it (tracked and untracked, minus ignored build dirs).
(cd "$root" && git ls-files -co --exclude-standard -z | xargs -0 cp --parents -t "$src" 2>/dev/null || true)
cp -r "$root/packaging/debian" "$src/debian"

echo "== .deb"
(
  cd "$src"
  if [ $from_source -eq 0 ]; then export STALLWATCH_PREBUILT="$build"; fi
  DEB_BUILD_OPTIONS="parallel=$jobs" dpkg-buildpackage -b -us -uc >"$work/deb.log" 2>&1 ||
    { tail -40 "$work/deb.log"; exit 1; }
)
debs=("$work"/stallwatch_*.deb)
cp "$work"/*.deb "$out"/
deb="$out/$(basename "${debs[0]}")"
echo "built $deb"
echo "== lintian"
lintian --fail-on error --tag-display-limit 0 "$deb" | tee "$out/lintian.txt"
echo "lintian: no errors"

if [ $rpm -eq 1 ]; then
  echo "== .rpm"
  top="$work/rpm"
  mkdir -p "$top"/{SOURCES,BUILD,RPMS,SRPMS,SPECS}
  tar -C "$work" --exclude="stallwatch-$version/debian" -czf "$top/SOURCES/stallwatch-$version.tar.gz" "stallwatch-$version"
  defs=(--define "_topdir $top" --define "_sourcedir $top/SOURCES")
  if [ $from_source -eq 0 ]; then defs+=(--define "stallwatch_prebuilt $build"); fi
  # Debian has no rpm database of build dependencies: --nodeps.
  rpmbuild -bb --nodeps "${defs[@]}" "$root/packaging/rpm/stallwatch.spec" >"$work/rpm.log" 2>&1 ||
    { tail -40 "$work/rpm.log"; exit 1; }
  find "$top/RPMS" -name '*.rpm' -exec cp -t "$out" {} +
  ls "$out"/*.rpm
fi
echo "package.sh: done, packages in $out"
