#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Builds the system suite's base guest image from Debian packages only, cached by its inputs:
#   OUT/vmlinuz          Debian's kernel (the package linux-image-amd64 depends on)
#   OUT/base.cpio.gz     a minbase bookworm with systemd, trimmed, plus the kernel modules the
#                        suite needs and the test modules stallwatch_spin and stallwatch_stall
#                        (lib/modules/<ver>/extra)
#   OUT/rootfs/          the unpacked tree (the runner checks the daemon's libraries against it)
#   OUT/kernel-version   e.g. 6.1.0-56-amd64
#   OUT/stamp            hash of the inputs; the image is rebuilt only when it changes
# The project itself and each scenario are layered on top per run by run_scenario.py.
# Usage: build_image.sh OUT_DIR        (needs root: debootstrap, and network to Debian's archive)
set -euo pipefail

out=${1:?usage: build_image.sh OUT_DIR}
here=$(cd "$(dirname "$0")" && pwd)
suite=bookworm
mirror=${STALLWATCH_DEBIAN_MIRROR:-http://deb.debian.org/debian}
# Guest packages. The daemon's runtime libraries are listed so they come from the archive too.
packages=systemd,systemd-sysv,dbus,udev,kmod,procps,util-linux,stress-ng,e2fsprogs,python3-minimal,libfmt9,libspdlog1.10,libtomlplusplus3,libtracefs1,libtraceevent1
# Kernel modules kept in the guest (plus their dependencies): watchdogs, the state disk, ext4.
keep_modules=(i6300esb softdog virtio_pci virtio_blk ext4 crc32c_generic crc32c-intel)

log() { echo "build_image: $*" >&2; }
die() { echo "build_image: error: $*" >&2; exit 1; }
skip() {   # ctest SKIP_RETURN_CODE; under CI=true a skip is a failure
  if [ "${CI:-}" = true ]; then echo "FAIL: skipped under CI=true, which must run every test: $*"; exit 1; fi
  echo "skipped: $*"; exit 77
}

[ -z "${STALLWATCH_SYSTEM_SKIP:-}" ] || skip "STALLWATCH_SYSTEM_SKIP=$STALLWATCH_SYSTEM_SKIP"
[ "$(id -u)" -eq 0 ] || skip "building the guest image needs root (debootstrap)"
for tool in debootstrap apt-get apt-cache dpkg cpio gzip make depmod; do
  command -v "$tool" >/dev/null || skip "missing tool: $tool (run scripts/install-deps.sh --test)"
done

kpkg=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
if [ -z "$kpkg" ]; then
  log "apt lists look empty; running apt-get update"
  apt-get update -qq
  kpkg=$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
fi
[ -n "$kpkg" ] || die "cannot resolve the package linux-image-amd64 depends on"
kver=${kpkg#linux-image-}
kpkg_version=$(apt-cache policy "$kpkg" | awk '/Candidate:/ {print $2}')

key=$( { echo "$suite $mirror $packages ${keep_modules[*]} $kpkg $kpkg_version"
         cat "$0" "$here/spin/stallwatch_spin.c" "$here/spin/stallwatch_stall.c" "$here/spin/Kbuild"; } | sha256sum | cut -c1-16)
if [ -f "$out/stamp" ] && [ "$(cat "$out/stamp")" = "$key" ] && [ -f "$out/base.cpio.gz" ]; then
  log "up to date ($kpkg, key $key)"
  exit 0
fi
log "building image for $kpkg $kpkg_version (key $key) in $out"
start=$SECONDS
rm -rf "$out"
mkdir -p "$out"
work="$out/work"
mkdir -p "$work"

# 1. The kernel package, unpacked.
(cd "$work" && apt-get download -q "$kpkg" >/dev/null)
dpkg -x "$work"/"$kpkg"_*.deb "$work/kernel"
cp "$work/kernel/boot/vmlinuz-$kver" "$out/vmlinuz"
echo "$kver" > "$out/kernel-version"

# 2. Matching headers, and the test module built against them.
hdr=/usr/src/linux-headers-$kver
if [ ! -d "$hdr" ]; then
  log "installing linux-headers-$kver"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    "linux-headers-$kver" >/dev/null
fi
mkdir -p "$work/spin"
cp "$here/spin/stallwatch_spin.c" "$here/spin/stallwatch_stall.c" "$here/spin/Kbuild" "$work/spin/"
make -s -C "$hdr" M="$work/spin" modules >"$work/spin-build.log" 2>&1 \
  || { cat "$work/spin-build.log" >&2; die "building the test modules (stallwatch_spin.ko, stallwatch_stall.ko) failed"; }

# 3. The root filesystem.
root="$out/rootfs"
debootstrap --variant=minbase --include="$packages" "$suite" "$root" "$mirror" \
  >"$work/debootstrap.log" 2>&1 || { tail -30 "$work/debootstrap.log" >&2; die "debootstrap failed"; }

# 4. Kernel modules: the closure of keep_modules over modules.dep, then depmod in the guest tree.
kmods="$work/kernel/lib/modules/$kver"
depmod -b "$work/kernel" "$kver"
python3 - "$kmods" "$root/lib/modules/$kver" "${keep_modules[@]}" <<'PY'
import os, shutil, sys
src, dst, wanted = sys.argv[1], sys.argv[2], sys.argv[3:]
deps = {}
for line in open(os.path.join(src, "modules.dep")):
    mod, _, rest = line.partition(":")
    deps[mod] = rest.split()
by_name = {os.path.basename(m).split(".ko")[0].replace("-", "_"): m for m in deps}
todo = [by_name[w.replace("-", "_")] for w in wanted]
seen = set()
while todo:
    m = todo.pop()
    if m in seen:
        continue
    seen.add(m)
    todo.extend(deps[m])
for m in sorted(seen):
    os.makedirs(os.path.dirname(os.path.join(dst, m)), exist_ok=True)
    shutil.copy2(os.path.join(src, m), os.path.join(dst, m))
for f in ("modules.order", "modules.builtin", "modules.builtin.modinfo"):
    if os.path.exists(os.path.join(src, f)):
        shutil.copy2(os.path.join(src, f), os.path.join(dst, f))
print("build_image: kept %d modules" % len(seen), file=sys.stderr)
PY
mkdir -p "$root/lib/modules/$kver/extra"
cp "$work/spin/stallwatch_spin.ko" "$work/spin/stallwatch_stall.ko" "$root/lib/modules/$kver/extra/"
depmod -b "$root" "$kver"

# 5. Trim and configure for a console-only, initramfs-rooted test guest.
rm -rf "$root"/usr/share/{doc,man,info,locale,lintian,bash-completion} "$root"/var/cache/apt/* \
  "$root"/var/lib/apt/lists/* "$root"/usr/share/zoneinfo/right "$root"/usr/share/zoneinfo/posix
echo stallwatch-guest > "$root/etc/hostname"
echo 5741a11a7c4e44e1b0c5a1d2e3f4a5b6 > "$root/etc/machine-id"   # stable across a scenario's boots
sed -i 's/^root:[^:]*:/root::/' "$root/etc/shadow"
ln -sf /lib/systemd/systemd "$root/init"
# The serial getty and other interactive or network bits only slow the boot down.
for unit in getty@tty1.service serial-getty@ttyS0.service systemd-timesyncd.service \
    apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer e2scrub_reap.service \
    fstrim.timer; do
  ln -sf /dev/null "$root/etc/systemd/system/$unit"
done
mkdir -p "$root/etc/systemd/journald.conf.d"
cat > "$root/etc/systemd/journald.conf.d/stallwatch-test.conf" <<'EOF'
[Journal]
Storage=auto
SyncIntervalSec=1s
RateLimitBurst=0
ForwardToConsole=no
EOF

# 6. Pack.
(cd "$root" && find . -print0 | cpio --null -o -H newc --quiet | gzip -1) > "$out/base.cpio.gz"
rm -rf "$work"
echo "$key" > "$out/stamp"
log "done in $((SECONDS - start)) s: $(du -sh "$out/base.cpio.gz" | cut -f1) initramfs, kernel $kver"
