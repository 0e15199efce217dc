#!/usr/bin/env bash
# Runs the cgroups integration tests against real cgroup v2: boots Debian's stock kernel under
# QEMU (TCG, no KVM needed) with `cgroup_no_v1=all systemd.unified_cgroup_hierarchy=1`, the
# host's / shared read-only over 9p with a tmpfs overlay on top (so node, node_modules and the
# repository are the host's own), and runs test/integration/cgroups-real.test.ts inside.
#
#   sudo scripts/vm/cgroup2-test.sh [vitest args...]
#
# Exit status: 0 tests passed, 1 tests failed or the VM did not finish, 77 skipped (the
# message names what is missing). Downloads (~70 MB, once) go to $TSC_VM_CACHE
# (default /var/tmp/tscontainer-vm).
set -euo pipefail
REPO=$(cd "$(dirname "$0")/../.." && pwd)
CACHE=${TSC_VM_CACHE:-/var/tmp/tscontainer-vm}
TIMEOUT=${TSC_VM_TIMEOUT:-900}

skip() { echo "cgroup2-test: SKIPPED: $*" >&2; exit 77; }
say() { echo "cgroup2-test: $*" >&2; }

[ "$(id -u)" = 0 ] || skip "needs root (apt-get download, building the initramfs)"
command -v qemu-system-x86_64 >/dev/null || skip "qemu-system-x86_64 is missing (apt-get install qemu-system-x86)"
command -v busybox >/dev/null || skip "busybox is missing (apt-get install busybox-static)"
busybox 2>&1 | head -1 >/dev/null
if ldd "$(command -v busybox)" >/dev/null 2>&1; then skip "busybox is dynamically linked (apt-get install busybox-static)"; fi
for t in dpkg-deb apt-get xz; do command -v $t >/dev/null || skip "$t is missing"; done
command -v node >/dev/null || skip "node is missing"
[ -x "$REPO/node_modules/.bin/vitest" ] || skip "node_modules is missing (npm install)"

mkdir -p "$CACHE"
cd "$CACHE"

# --- the kernel: Debian's linux-image-amd64 and the image package it depends on --------------
if [ ! -f kernel.ok ]; then
  say "downloading linux-image-amd64"
  rm -rf root ./*.deb vmlinux
  apt-get download linux-image-amd64 >/dev/null 2>&1 || skip "apt-get download linux-image-amd64 failed (no apt sources or no network)"
  dep=$(dpkg-deb -f linux-image-amd64_*.deb Depends | tr ',' '\n' | grep -o 'linux-image-[0-9][^ ]*-amd64' | head -1)
  [ -n "$dep" ] || skip "cannot tell which kernel image linux-image-amd64 depends on"
  apt-get download "$dep" >/dev/null 2>&1 || skip "apt-get download $dep failed"
  dpkg-deb -x "${dep}"_*.deb root
  touch kernel.ok
fi
KVER=$(ls root/lib/modules | head -1)
MODDIR=root/lib/modules/$KVER

# Boot the uncompressed ELF kernel through its PVH entry point: no decompression under TCG.
if [ ! -f vmlinux ]; then
  say "extracting vmlinux (PVH)"
  img=root/boot/vmlinuz-$KVER
  for magic in '\xfd\x37\x7a\x58\x5a\x00:xz -dc' '\x28\xb5\x2f\xfd:zstd -dc' '\x1f\x8b\x08:gzip -dc'; do
    pat=${magic%%:*}
    cmd=${magic#*:}
    for off in $(LC_ALL=C grep -obUaP "$pat" "$img" | cut -d: -f1); do
      tail -c +$((off + 1)) "$img" | $cmd > vmlinux.tmp 2>/dev/null || true
      if [ "$(head -c 4 vmlinux.tmp | od -An -c | tr -d ' ')" = '177ELF' ]; then mv vmlinux.tmp vmlinux; break 2; fi
    done
  done
  rm -f vmlinux.tmp
  [ -f vmlinux ] || skip "could not extract an ELF vmlinux from $img"
fi

# --- a small initramfs: static busybox, the 9p/virtio/overlay modules, /init ------------------
moddeps() { tr '\0' '\n' < "$1" | sed -n 's/^depends=//p' | tr ',' ' '; }
declare -A MODPATH=()
while read -r f; do n=$(basename "$f"); n=${n%%.ko*}; MODPATH[${n//-/_}]=$f; done < <(find "$MODDIR/kernel" -name '*.ko*')
ORDER=()
declare -A SEEN=()
visit() {
  local n=${1//-/_}
  [ -n "${SEEN[$n]:-}" ] && return
  SEEN[$n]=1
  local p=${MODPATH[$n]:-}
  [ -n "$p" ] || return 0 # built in
  local d
  for d in $(moddeps "$p"); do visit "$d"; done
  ORDER+=("$n")
}
for m in virtio_pci 9pnet_virtio 9p overlay; do visit $m; done

INITRD=$CACHE/initrd-cgroup2.cpio
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$WORK"/{bin,proc,sys,dev,lower,upper,merged,modules}
cp "$(command -v busybox)" "$WORK/bin/busybox"
for n in "${ORDER[@]}"; do cp "${MODPATH[$n]}" "$WORK/modules/$n.ko"; done
printf '%s\n' "${ORDER[@]}" > "$WORK/modules/order"
cat > "$WORK/init" <<'EOF'
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
for m in $(cat /modules/order); do insmod /modules/$m.ko || echo "init: insmod $m failed"; done
mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=262144,cache=loose hostroot /lower || { echo "GUEST-EXIT: 125 (9p mount)"; poweroff -f; }
mount -t tmpfs -o size=1g upper /upper
mkdir -p /upper/u /upper/w
mount -t overlay overlay -o lowerdir=/lower,upperdir=/upper/u,workdir=/upper/w /merged || { echo "GUEST-EXIT: 125 (overlay)"; poweroff -f; }
mount -t proc proc /merged/proc
mount -t sysfs sys /merged/sys
mount -t devtmpfs dev /merged/dev
mkdir -p /merged/dev/shm /merged/dev/pts
mount -t tmpfs shm /merged/dev/shm
mount -t devpts devpts /merged/dev/pts
mount -t cgroup2 cgroup2 /merged/sys/fs/cgroup
mount -t tmpfs tmp /merged/tmp
mount -t tmpfs run /merged/run
repo=$(sed -n 's/.*tsc_repo=\([^ ]*\).*/\1/p' /proc/cmdline)
chroot /merged /bin/bash "$repo/scripts/vm/cgroup2-guest.sh" "$repo"
rc=$?
echo
echo "GUEST-EXIT: $rc"
poweroff -f
EOF
chmod +x "$WORK/init"
(cd "$WORK" && find . | busybox cpio -o -H newc > "$INITRD" 2>/dev/null)

# Extra vitest arguments travel in a file the guest reads through the 9p share.
# not /tmp: the guest mounts a tmpfs there, which would hide the file
ARGS_FILE=$(mktemp /var/tmp/cgroup2-vitest-args.XXXXXX)
trap 'rm -rf "$WORK" "$ARGS_FILE"' EXIT
printf '%s\n' "$@" > "$ARGS_FILE"

LOG=$CACHE/console.log
say "booting $KVER under TCG (log: $LOG)"
set +e
timeout "$TIMEOUT" qemu-system-x86_64 \
  -accel tcg,thread=multi -cpu max -smp 2 -m 2048 \
  -kernel "$CACHE/vmlinux" -initrd "$INITRD" \
  -append "console=ttyS0 rdinit=/init cgroup_no_v1=all systemd.unified_cgroup_hierarchy=1 panic=-1 quiet loglevel=3 mitigations=off tsc_repo=$REPO tsc_args=$ARGS_FILE" \
  -virtfs local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap \
  -nic none -display none -serial stdio -monitor none -no-reboot </dev/null | tee "$LOG"
set -e
status=$(grep -ao 'GUEST-EXIT: [0-9]*' "$LOG" | tail -1 | grep -o '[0-9]*$' || true)
case "$status" in
  0) say "cgroup v2 tests passed in the VM"; exit 0 ;;
  '') say "the VM did not report a result (timeout ${TIMEOUT}s or crash), see $LOG"; exit 1 ;;
  *) say "cgroup v2 tests failed in the VM (status $status), see $LOG"; exit 1 ;;
esac
