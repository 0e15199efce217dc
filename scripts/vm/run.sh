#!/usr/bin/env bash
# run.sh - run one command as root in a throw-away QEMU (TCG) VM that boots a given kernel, with
# the host's / as the guest's root (read-only over 9p, a tmpfs overlay on top, so node, node_modules,
# nft, ip, python3 ... are the host's own) and the checkout shared at its own path, wherever it is.
# The one VM harness of this repository: the cgroup v2 suite (npm run test:vm), a device-mapper
# suite and the aufs suite (boot a kernel with aufs built in) all go through it.
#
#   sudo scripts/vm/run.sh [options] -- COMMAND [ARG...]
#
# Options:
#   --kernel debian|PATH   debian (default): Debian's stock linux-image-amd64, downloaded once into
#                          $TSC_VM_CACHE and booted uncompressed (PVH); PATH: a vmlinux (or bzImage)
#                          of your own, e.g. the aufs kernel from ../shared/vm/aufs
#   --module-tree DIR      with --kernel PATH: its lib/modules/<version> directory (modules.dep
#                          is made with busybox depmod when missing). Without one, the kernel must
#                          have what the tests need built in
#   --cgroup v2|hybrid     v2 (default): cgroup_no_v1=all, cgroup2 alone at /sys/fs/cgroup;
#                          hybrid: v1 hierarchies at /sys/fs/cgroup/<controller> and cgroup2 at
#                          /sys/fs/cgroup/unified, as on this machine's host
#   --modules a,b,...      modules to load before the command (from the booted kernel's own tree;
#                          a module that is built in is fine, one that cannot be loaded is an error)
#   --share DIR            the directory shared with the guest at the same path and used as the
#                          working directory (default: this checkout)
#   --rw                   write through to the share (default: the guest's writes to it go to a
#                          tmpfs overlay and are dropped with the VM)
#   --snapshot             share a copy of DIR made at start (without .git; node_modules is shared
#                          as it is), so edits to the checkout during a long run do not reach it
#   -e, --env VAR=VAL      export VAR in the guest (repeatable); the guest also gets the caller's
#                          PATH, HOME=/root, LANG=C.UTF-8, TSC_VM=1, TSC_VM_CGROUP=<v2|hybrid>
#   --mem MB               guest RAM (default 2048)     --cpus N   vCPUs (default 2)
#   --timeout SEC          kill the VM after SEC seconds (default 3600) -> exit 124
#   --verbose              the guest kernel's log on stdout too (default: into a file, whose tail
#                          is printed when the VM dies without a status)
#
# The command's stdout and stderr stream to this script's stdout; its stdin is /dev/null. The guest
# has no network device (no traffic leaves the machine); lo is up, and veths, bridges and nftables
# inside it are the tests' own.
#
# Exit status: the command's own; 124 timeout; 125 the VM or the harness failed (boot, a module,
# a mount: one line `run.sh: ...` on stderr says what); 126 bad usage or a host prerequisite missing.
# Cache: $TSC_VM_CACHE (default /var/tmp/tscontainer-vm): the Debian kernel (~70 MB download,
# ~400 MB unpacked). Per run: one temporary directory, removed on exit, with the qemu process.
set -euo pipefail

SELF=$(readlink -f "${BASH_SOURCE[0]}")
REPO=$(cd "$(dirname "$SELF")/../.." && pwd -P)
CACHE=${TSC_VM_CACHE:-/var/tmp/tscontainer-vm}
KERNEL=debian
MODTREE=
CGROUP=v2
MODULES=
SHARE=$REPO
SHARE_RW=0
SNAPSHOT=0
MEM=2048
CPUS=2
TIMEOUT=3600
VERBOSE=0
ENVS=()

die() { echo "run.sh: $*" >&2; exit 126; }
fail() { echo "run.sh: $*" >&2; exit 125; }
say() { echo "run.sh: $*" >&2; }

while [ $# -gt 0 ]; do
  case "$1" in
    --kernel) KERNEL=${2:?--kernel needs a value}; shift 2 ;;
    --module-tree) MODTREE=${2:?--module-tree needs a directory}; shift 2 ;;
    --cgroup) CGROUP=${2:?--cgroup needs v2 or hybrid}; shift 2 ;;
    --modules) MODULES=${2?--modules needs a list}; shift 2 ;;
    --share) SHARE=${2:?--share needs a directory}; shift 2 ;;
    --rw) SHARE_RW=1; shift ;;
    --snapshot) SNAPSHOT=1; shift ;;
    -e|--env) ENVS+=("${2:?--env needs VAR=VAL}"); shift 2 ;;
    --mem) MEM=${2:?}; shift 2 ;;
    --cpus) CPUS=${2:?}; shift 2 ;;
    --timeout) TIMEOUT=${2:?}; shift 2 ;;
    --verbose) VERBOSE=1; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "$SELF" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    --) shift; break ;;
    *) die "unknown option $1 (the command goes after --; see --help)" ;;
  esac
done
[ $# -gt 0 ] || die "no command given (run.sh [options] -- COMMAND [ARG...])"
case "$CGROUP" in v2|hybrid) ;; *) die "--cgroup must be v2 or hybrid, not $CGROUP" ;; esac
for kv in "${ENVS[@]}"; do [[ $kv =~ ^[A-Za-z_][A-Za-z0-9_]*= ]] || die "--env wants VAR=VAL, not $kv"; done
SHARE=$(cd "$SHARE" 2>/dev/null && pwd -P) || die "share directory not found"
[ "$SHARE_RW" = 1 ] && [ "$SNAPSHOT" = 1 ] && die "--rw and --snapshot exclude each other"
[ "$(id -u)" = 0 ] || die "needs root (9p passthrough of the host's /, the guest runs as root)"

# --- host prerequisites -------------------------------------------------------------------------
command -v qemu-system-x86_64 >/dev/null || die "qemu-system-x86_64 is missing (apt-get install qemu-system-x86)"
BUSYBOX=$(command -v busybox || true)
[ -n "$BUSYBOX" ] || die "busybox is missing (apt-get install busybox-static)"
# A static busybox runs without libraries in the initramfs. (No `busybox | head` probe here: under
# pipefail that exits 141 whenever head closes the pipe first.)
if ldd "$BUSYBOX" >/dev/null 2>&1; then die "$BUSYBOX is dynamically linked (apt-get install busybox-static)"; fi
"$BUSYBOX" true || die "$BUSYBOX does not run"

# --- the kernel ---------------------------------------------------------------------------------
# Debian's stock kernel: linux-image-amd64 names the versioned image package; both are fetched
# with apt-get download and unpacked (no dpkg -i); the uncompressed ELF is cut out of vmlinuz so
# qemu boots it through its PVH entry point (TCG would spend ~6 s decompressing otherwise).
prepare_debian() {
  local dir=$CACHE/debian
  [ -f "$dir/ok" ] && return 0
  for t in apt-get dpkg-deb; do command -v $t >/dev/null || die "$t is missing (needed for --kernel debian)"; done
  say "downloading Debian's linux-image-amd64 into $dir (once)"
  rm -rf "$dir"
  mkdir -p "$dir/dl"
  (cd "$dir/dl" && apt-get download linux-image-amd64 >/dev/null 2>&1) ||
    die "apt-get download linux-image-amd64 failed (no apt sources or no network)"
  local dep
  dep=$(dpkg-deb -f "$dir"/dl/linux-image-amd64_*.deb Depends | tr ',' '\n' | grep -o 'linux-image-[0-9][^ ]*-amd64' | head -n 1 || true)
  [ -n "$dep" ] || die "cannot tell which kernel image linux-image-amd64 depends on"
  (cd "$dir/dl" && apt-get download "$dep" >/dev/null 2>&1) || die "apt-get download $dep failed"
  dpkg-deb -x "$dir"/dl/"$dep"_*.deb "$dir/root"
  local kver
  kver=$(ls "$dir/root/lib/modules")
  # Debian makes modules.dep in the package's postinst; busybox's depmod does the same here.
  "$BUSYBOX" depmod -b "$dir/root" "$kver" || die "depmod of $kver failed"
  extract_vmlinux "$dir/root/boot/vmlinuz-$kver" "$dir/vmlinux"
  rm -rf "$dir/dl"
  touch "$dir/ok"
}

# Finds the compressed payload in a bzImage by its magic and keeps the first one that unpacks to
# an ELF file.
extract_vmlinux() {
  local img=$1 out=$2 magic pat cmd off
  for magic in '\xfd\x37\x7a\x58\x5a\x00:xz -dc' '\x28\xb5\x2f\xfd:zstd -dc' '\x1f\x8b\x08:gzip -dc'; do
    pat=${magic%%:*}
    cmd=${magic#*:}
    command -v "${cmd%% *}" >/dev/null || continue
    for off in $(LC_ALL=C grep -obUaP "$pat" "$img" | cut -d: -f1 || true); do
      tail -c +$((off + 1)) "$img" | $cmd > "$out.tmp" 2>/dev/null || true
      if [ "$(head -c 4 "$out.tmp" | od -An -c | tr -d ' ')" = '177ELF' ]; then
        mv "$out.tmp" "$out"
        return 0
      fi
    done
  done
  rm -f "$out.tmp"
  die "could not extract an ELF vmlinux from $img (xz, zstd or gzip missing?)"
}

mkdir -p "$CACHE"
if [ "$KERNEL" = debian ]; then
  # one download at a time, whoever else runs the harness now
  exec 9>"$CACHE/.lock"
  flock 9
  prepare_debian
  flock -u 9
  KIMAGE=$CACHE/debian/vmlinux
  MODTREE=$(echo "$CACHE"/debian/root/lib/modules/*)
else
  KIMAGE=$(readlink -f "$KERNEL") || die "kernel $KERNEL not found"
  [ -f "$KIMAGE" ] || die "kernel $KERNEL not found"
fi
KVER=
if [ -n "$MODTREE" ]; then
  MODTREE=$(cd "$MODTREE" 2>/dev/null && pwd -P) || die "module tree $MODTREE not found"
  KVER=$(basename "$MODTREE")
  [ -f "$MODTREE/modules.dep" ] || "$BUSYBOX" depmod -b "$(dirname "$(dirname "$(dirname "$MODTREE")")")" "$KVER" ||
    die "no modules.dep in $MODTREE and depmod failed"
fi

# --- the run directory: initramfs, control share, console log -----------------------------------
RUN=$(mktemp -d "${TMPDIR:-/tmp}/tscontainer-vm.XXXXXX")
QPID=
cleanup() {
  if [ -n "$QPID" ]; then kill "$QPID" 2>/dev/null || true; wait "$QPID" 2>/dev/null || true; fi
  rm -rf "$RUN"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
mkdir -p "$RUN/ctl" "$RUN/initrd"

# The initramfs: static busybox, the modules needed to reach the host's / (virtio, 9p, overlay,
# when they are modules of this kernel) with their dependencies, and /init (below).
I=$RUN/initrd
mkdir -p "$I"/{bin,sbin,usr/bin,usr/sbin,proc,sys,dev,ctl,host,rw,newroot,share.ro,nm.ro,lib/modules}
cp "$BUSYBOX" "$I/bin/busybox"
if [ -n "$MODTREE" ]; then
  mkdir -p "$I/lib/modules/$KVER"
  cp "$MODTREE"/modules.builtin* "$I/lib/modules/$KVER/" 2>/dev/null || true
  declare -A SEEN=()
  add_boot_module() { # NAME: copy its file and its dependencies' into the initramfs tree
    local n=${1//_/[-_]} line f
    line=$(grep -E "/${n}\.ko(\.[a-z]+)?:" "$MODTREE/modules.dep" | head -n 1 || true)
    [ -n "$line" ] || return 0 # built in
    for f in ${line%%:*} ${line#*:}; do
      [ -n "${SEEN[$f]:-}" ] && continue
      SEEN[$f]=1
      mkdir -p "$I/lib/modules/$KVER/$(dirname "$f")"
      cp "$MODTREE/$f" "$I/lib/modules/$KVER/$f"
      grep -E "^${f//./\\.}:" "$MODTREE/modules.dep" >> "$I/lib/modules/$KVER/modules.dep"
    done
  }
  for m in virtio_pci 9pnet_virtio 9p overlay; do add_boot_module "$m"; done
  touch "$I/lib/modules/$KVER/modules.dep"
fi
cat > "$I/init" <<'INIT'
#!/bin/busybox sh
# PID 1 of the guest. It stays in the initramfs (so the kernel's module autoloader finds busybox
# modprobe and the module tree here), builds the guest's root at /newroot and runs the command
# there in its own mount namespace, then writes the status to the control share and powers off.
/bin/busybox --install -s
export PATH=/sbin:/bin:/usr/sbin:/usr/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
OUT=/dev/ttyS0
stty -F $OUT -onlcr 2>/dev/null
HAVE_CTL=0
fail() { # one line: the host prints it from the control share, or we do when there is none
  if [ $HAVE_CTL = 1 ]; then echo "$*" > /ctl/harness-error; else echo "run.sh: guest: $*" > $OUT; fi
  sync
  poweroff -f
}
KVER=$(uname -r)
# (a kernel given without a module tree has them built in, or it cannot boot this way)
if [ -f /lib/modules/$KVER/modules.dep ]; then
  for m in virtio_pci 9pnet_virtio 9p overlay; do
    modprobe $m 2>/dev/null || [ -d /sys/module/$m ] || grep -q "/$m.ko" /lib/modules/$KVER/modules.builtin 2>/dev/null ||
      echo "run.sh: guest: note: cannot load $m (built in?)" > $OUT
  done
fi
O9="trans=virtio,version=9p2000.L,msize=512000"
mount -t 9p -o $O9,cache=none ctl /ctl || fail "cannot mount the control share (9p/virtio missing from this kernel?)"
HAVE_CTL=1
. /ctl/config
echo "guest-up $(cut -d' ' -f1 /proc/uptime)" >> /ctl/timing

# the host's /, read-only, with a tmpfs overlay on top: the guest's root
mount -t 9p -o $O9,cache=loose,ro hostroot /host || fail "cannot mount the host's / over 9p"
mount -t tmpfs -o size=${VM_TMPFS_SIZE:-75%} rw /rw || fail "cannot mount the tmpfs for the overlay"
mkdir -p /rw/root.u /rw/root.w /rw/share.u /rw/share.w /rw/nm.u /rw/nm.w
mount -t overlay -o lowerdir=/host,upperdir=/rw/root.u,workdir=/rw/root.w root /newroot ||
  fail "cannot mount the overlay root (overlay missing from this kernel?)"

# the booted kernel's own module tree, for the modules the tests need and for autoloading
if [ -n "$VM_MODTREE" ]; then
  mkdir -p /lib/modules/$KVER
  mount --bind "/host$VM_MODTREE" /lib/modules/$KVER || fail "cannot bind the module tree $VM_MODTREE"
fi
for m in $(echo "$VM_MODULES" | tr ',' ' '); do
  n=$(echo $m | tr - _)
  if [ -n "$VM_MODTREE" ]; then
    err=$(modprobe $m 2>&1) && continue
    grep -qE "/($m|$n)\.ko" /lib/modules/$KVER/modules.builtin 2>/dev/null && continue
    fail "cannot load module $m from $VM_MODTREE: $err"
  elif [ ! -d /sys/module/$n ]; then
    echo "run.sh: guest: note: no module tree for this kernel, $m assumed built in" > $OUT
  fi
done

R=/newroot
mount -t proc proc $R/proc
mount -t sysfs sys $R/sys
mount -t devtmpfs dev $R/dev
mkdir -p $R/dev/pts $R/dev/shm
mount -t devpts -o newinstance,ptmxmode=0666 devpts $R/dev/pts
mount -t tmpfs shm $R/dev/shm
case "$VM_CGROUP" in
  v2) mount -t cgroup2 cgroup2 $R/sys/fs/cgroup || fail "cannot mount cgroup2" ;;
  hybrid)
    mount -t tmpfs -o mode=755 cgroup $R/sys/fs/cgroup
    for c in cpu,cpuacct cpuset memory devices freezer blkio pids; do
      d=$R/sys/fs/cgroup/$c
      mkdir -p $d
      mount -t cgroup -o $c cgroup $d || fail "cannot mount the v1 hierarchy $c"
    done
    ln -s cpu,cpuacct $R/sys/fs/cgroup/cpu
    ln -s cpu,cpuacct $R/sys/fs/cgroup/cpuacct
    mkdir -p $R/sys/fs/cgroup/unified
    mount -t cgroup2 cgroup2 $R/sys/fs/cgroup/unified || fail "cannot mount cgroup2 at unified"
    ;;
esac
# private scratch space: the host's /tmp, /run and /var/tmp stay out of the guest
for d in /tmp /run /var/tmp; do mount -t tmpfs -o mode=1777 tmp $R$d || fail "cannot mount a tmpfs at $d"; done
mkdir -p $R/run/lock $R/run/vmctl
mount --bind /ctl $R/run/vmctl
if [ -n "$VM_MODTREE" ]; then
  mkdir -p $R/lib/modules/$KVER
  mount --bind /lib/modules/$KVER $R/lib/modules/$KVER
fi
# the share last, at its own path: a checkout under /tmp must not disappear under the tmpfs
mkdir -p "$R$VM_SHARE" 2>/dev/null
if [ "$VM_SHARE_RW" = 1 ]; then
  mount -t 9p -o $O9,cache=mmap share "$R$VM_SHARE" || fail "cannot mount the share at $VM_SHARE"
else
  mount -t 9p -o $O9,cache=loose,ro share /share.ro || fail "cannot mount the share"
  mount -t overlay -o lowerdir=/share.ro,upperdir=/rw/share.u,workdir=/rw/share.w share "$R$VM_SHARE" ||
    fail "cannot mount the share's overlay at $VM_SHARE"
fi
[ -d "$R$VM_SHARE" ] || fail "the share is not visible at $VM_SHARE"
# a snapshot's node_modules: the checkout's own, read-only under a tmpfs overlay
if [ "$VM_NM" = 1 ]; then
  mount -t 9p -o $O9,cache=loose,ro nm /nm.ro || fail "cannot mount node_modules"
  mkdir -p "$R$VM_SHARE/node_modules"
  mount -t overlay -o lowerdir=/nm.ro,upperdir=/rw/nm.u,workdir=/rw/nm.w nm "$R$VM_SHARE/node_modules" ||
    fail "cannot mount the overlay of node_modules"
fi
ip link set lo up
hostname tscontainer-vm

echo "command-start $(cut -d' ' -f1 /proc/uptime)" >> /ctl/timing
# Not a plain chroot: the kernel refuses unshare(CLONE_NEWUSER) to a chrooted task. As
# switch_root does, move the new root onto / (in a private mount namespace, so /ctl stays here).
# The output goes through a pipe, not straight to the serial port: the command's stdout is not a
# terminal (no pagers, no interactive reporters), as in CI. pipefail keeps the command's status.
set -o pipefail
unshare -m sh -c "cd $R && mount --move . / && exec chroot . /bin/bash -c '. /run/vmctl/env && cd \"\$VM_SHARE\" && exec /run/vmctl/cmd'" </dev/null 2>&1 | cat >$OUT
rc=$?
echo "command-exit $(cut -d' ' -f1 /proc/uptime)" >> /ctl/timing
echo $rc > /ctl/status
sync
umount /ctl 2>/dev/null
poweroff -f
INIT
chmod 755 "$I/init"
(cd "$I" && find . | "$BUSYBOX" cpio -o -H newc 2>/dev/null) > "$RUN/initrd.cpio" || fail "cannot build the initramfs"

# --- the share: the directory itself, or a copy of it taken now -----------------------------------
SHARE_SRC=$SHARE
NM=
if [ "$SNAPSHOT" = 1 ]; then
  SHARE_SRC=$RUN/snap
  mkdir "$SHARE_SRC"
  tar -C "$SHARE" --exclude=./node_modules --exclude=./.git -cf - . | tar -C "$SHARE_SRC" -xf - ||
    fail "cannot copy $SHARE for the snapshot"
  if [ -e "$SHARE/node_modules" ]; then
    NM=$(readlink -f "$SHARE/node_modules")
    mkdir -p "$SHARE_SRC/node_modules"
  fi
fi

# --- what the guest runs: config for /init, environment and the command for the guest's bash ----
q() { printf '%q' "$1"; }
{
  echo "VM_SHARE=$(q "$SHARE")"
  echo "VM_SHARE_RW=$SHARE_RW"
  echo "VM_CGROUP=$CGROUP"
  echo "VM_MODULES=$(q "$MODULES")"
  echo "VM_MODTREE=$(q "$MODTREE")"
  echo "VM_NM=$([ -n "$NM" ] && echo 1 || echo 0)"
} > "$RUN/ctl/config"
{
  echo "export VM_SHARE=$(q "$SHARE")"
  echo "export PATH=$(q "$PATH")"
  echo "export HOME=/root TERM=dumb LANG=C.UTF-8 TSC_VM=1 TSC_VM_CGROUP=$CGROUP DM_DISABLE_UDEV=1"
  for kv in "${ENVS[@]}"; do echo "export ${kv%%=*}=$(q "${kv#*=}")"; done
} > "$RUN/ctl/env"
{ echo "#!/bin/bash"; printf 'exec'; for a in "$@"; do printf ' %s' "$(q "$a")"; done; echo; } > "$RUN/ctl/cmd"
chmod 755 "$RUN/ctl/cmd"

# --- boot ------------------------------------------------------------------------------------------
APPEND="console=ttyS1 loglevel=4 panic=-1 mitigations=off tsc=reliable no_timer_check cryptomgr.notests rdinit=/init"
[ "$CGROUP" = v2 ] && APPEND="$APPEND cgroup_no_v1=all systemd.unified_cgroup_hierarchy=1"
# ttyS0 carries the command's output to our stdout, ttyS1 the kernel's log into a file; with
# --verbose the kernel logs on ttyS0 too.
SERIALS=(-serial stdio -serial "file:$RUN/console.log")
[ "$VERBOSE" = 1 ] && APPEND="${APPEND/console=ttyS1/console=ttyS0}"
QEMU=(qemu-system-x86_64 -machine q35 -accel tcg,thread=multi -cpu max -smp "$CPUS" -m "$MEM"
  -nodefaults -no-user-config -display none -nic none -no-reboot -monitor none
  "${SERIALS[@]}"
  -kernel "$KIMAGE" -initrd "$RUN/initrd.cpio" -append "$APPEND ${TSC_VM_APPEND:-}"
  -fsdev local,id=ctl,path="$RUN/ctl",security_model=none -device virtio-9p-pci,fsdev=ctl,mount_tag=ctl
  -fsdev local,id=hostroot,path=/,security_model=none,readonly=on,multidevs=remap -device virtio-9p-pci,fsdev=hostroot,mount_tag=hostroot
)
if [ "$SHARE_RW" = 1 ]; then
  QEMU+=(-fsdev local,id=share,path="$SHARE_SRC",security_model=none,multidevs=remap -device virtio-9p-pci,fsdev=share,mount_tag=share)
else
  QEMU+=(-fsdev local,id=share,path="$SHARE_SRC",security_model=none,readonly=on,multidevs=remap -device virtio-9p-pci,fsdev=share,mount_tag=share)
fi
[ -n "$NM" ] && QEMU+=(-fsdev local,id=nm,path="$NM",security_model=none,readonly=on,multidevs=remap -device virtio-9p-pci,fsdev=nm,mount_tag=nm)

say "booting $(basename "$KIMAGE")${KVER:+ ($KVER)} under TCG, cgroup $CGROUP, share $SHARE$([ "$SNAPSHOT" = 1 ] && echo ' (a snapshot)')"
T0=$(date +%s)
timeout -k 10 "$TIMEOUT" "${QEMU[@]}" </dev/null &
QPID=$!
set +e
wait "$QPID"
qrc=$?
set -e
QPID=
T1=$(date +%s)
if [ -s "$RUN/ctl/harness-error" ]; then fail "guest: $(cat "$RUN/ctl/harness-error")"; fi
if [ -s "$RUN/ctl/status" ]; then
  rc=$(cat "$RUN/ctl/status")
  say "guest command exited $rc after $((T1 - T0)) s"
  exit "$rc"
fi
if [ "$qrc" = 124 ] || [ "$qrc" = 137 ]; then echo "run.sh: timeout: the VM was killed after ${TIMEOUT}s" >&2; exit 124; fi
if [ -f "$RUN/console.log" ]; then
  echo "run.sh: last lines of the guest kernel's log:" >&2
  tail -n 30 "$RUN/console.log" | tr -d '\r' >&2
fi
fail "the VM exited (qemu status $qrc) without reporting the command's status"
