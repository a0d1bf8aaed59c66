#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Builds stallwatch's .deb (debhelper, packaging/debian) and .rpm (packaging/rpm/stallwatch.spec)
# from this working tree, and runs lintian on the .deb (fails on any lintian error).
#
#   scripts/package.sh [--out DIR] [--build-dir DIR] [--prebuilt DIR] [--from-source] [--no-rpm]
#
# By default one CMake build (prefix /usr, tests off) in --build-dir is installed by both
# packagers; --from-source lets dpkg-buildpackage and rpmbuild compile the tree themselves;
# --prebuilt DIR packages an existing, already built CMake tree as it is (no configure, no
# compile: the QEMU system suite packages the main build/ this way; installed with --prefix /usr).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out="$root/build-package/dist"
build="$root/build-package/cmake"
from_source=0
prebuilt=0
rpm=1
while [ $# -gt 0 ]; do
  case "$1" in
    --out) out=$2; shift 2 ;;
    --build-dir) build=$2; shift 2 ;;
    --prebuilt) build=$(cd "$2" && pwd); prebuilt=1; shift 2 ;;
    --from-source) from_source=1; shift ;;
    --no-rpm) rpm=0; shift ;;
    *) echo "usage: $0 [--out DIR] [--build-dir DIR] [--prebuilt DIR] [--from-source] [--no-rpm]" >&2; exit 2 ;;
  esac
done
tools=(dpkg-buildpackage dh lintian)
[ $rpm -eq 0 ] || tools+=(rpmbuild)
for tool in "${tools[@]}"; do
  command -v "$tool" >/dev/null || { echo "package.sh: $tool missing (scripts/install-deps.sh --test)" >&2; exit 2; }
done
version=$(sed -n 's/^project(stallwatch VERSION \([0-9.]*\).*/\1/p' "$root/CMakeLists.txt")
jobs=${JOBS:-2}

if [ $prebuilt -eq 1 ]; then
  [ -x "$build/src/stallwatchd" ] || { echo "package.sh: $build has no built stallwatchd" >&2; exit 2; }
  echo "== packaging the existing build in $build"
elif [ $from_source -eq 0 ]; then
  echo "== cmake build in $build"
  # Debian's hardening flags (bindnow, fortify, ...), as a debhelper build would use them.
  export DEB_BUILD_MAINT_OPTIONS=hardening=+all
  cmake -S "$root" -B "$build" -DCMAKE_INSTALL_PREFIX=/usr -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DSTALLWATCH_TESTS=OFF -DSTALLWATCH_BENCH=OFF \
    -DCMAKE_CXX_FLAGS="$(dpkg-buildflags --get CXXFLAGS) $(dpkg-buildflags --get CPPFLAGS)" \
    -DCMAKE_EXE_LINKER_FLAGS="$(dpkg-buildflags --get LDFLAGS)" >/dev/null
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

echo "== checks on the .deb's contents"
x="$work/x"
dpkg-deb -x "$deb" "$x"
dpkg-deb -e "$deb" "$work/control"
grep -qx /etc/stallwatch/stallwatch.toml "$work/control/conffiles" || { echo "FAIL: config is not a conffile"; exit 1; }
grep -q "deb-systemd-invoke" "$work/control/postinst" && grep -q "deb-systemd-helper" "$work/control/postrm" ||
  { echo "FAIL: maintainer scripts lack dh_installsystemd's enable/start/stop"; exit 1; }
echo "conffile and systemd maintainer scripts: ok"
# systemd-analyze verify with the packaged binary and man pages (ExecStart= pointed at them).
sed "s|^ExecStart=/usr/sbin/stallwatchd|ExecStart=$x/usr/sbin/stallwatchd|" \
  "$x/lib/systemd/system/stallwatch.service" >"$work/stallwatch.service"
MANPATH="$x/usr/share/man:" systemd-analyze verify "$work/stallwatch.service"
echo "systemd-analyze verify: ok"
exposure=$(systemd-analyze security --offline=true "$work/stallwatch.service" |
  sed -n 's/.*exposure level for stallwatch.service: \([0-9.]*\).*/\1/p')
echo "systemd-analyze security exposure: $exposure"
awk -v e="$exposure" 'BEGIN { exit !(e != "" && e <= 4.0) }' || { echo "FAIL: exposure above 4.0"; exit 1; }
# The catalog compiles and lists one entry per MESSAGE_ID.
mkdir -p "$x/var/lib/systemd/catalog"
journalctl --root="$x" --update-catalog
want=$(grep -c '^-- [0-9a-f]\{32\}$' "$x/usr/lib/systemd/catalog/stallwatch.catalog")
got=$(journalctl --root="$x" --list-catalog | grep -c ' stallwatch: ' || true)
[ "$want" -eq "$got" ] && [ "$got" -gt 0 ] || { echo "FAIL: catalog lists $got of $want entries"; exit 1; }
echo "catalog: $got entries"
for page in "$x"/usr/share/man/man*/*; do
  MANWIDTH=80 man --warnings -l "$page" 2>"$work/man.err" >/dev/null
  [ ! -s "$work/man.err" ] || { echo "FAIL: man warnings in $page:"; cat "$work/man.err"; exit 1; }
done
echo "man pages render without warnings"

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
