#!/usr/bin/env bash
# Builds the built-in busybox image from Debian's busybox-static:
#   out/layer.tar    one reproducible layer (same input binary -> same bytes -> same diffID)
#   out/config.json  the image defaults (Cmd, Env, created, architecture); the importer adds rootfs
# Idempotent: does nothing when out/ was built from the same busybox binary and this script.
# Usage: build.sh [--force]     Environment: BUSYBOX=/path/to/static/busybox
set -euo pipefail
umask 022
export LC_ALL=C

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
out="$here/out"
busybox=${BUSYBOX:-/bin/busybox}
force=0
[ "${1:-}" = "--force" ] && force=1

die() { echo "build.sh: $*" >&2; exit 1; }

[ -x "$busybox" ] || die "$busybox not found (apt-get install busybox-static)"
# A dynamically linked busybox (Debian's "busybox" package) would not run without a libc.
if ldd "$busybox" >/dev/null 2>&1 && ! ldd "$busybox" 2>&1 | grep -q 'not a dynamic executable'; then
  die "$busybox is dynamically linked; install busybox-static (or set BUSYBOX to a static busybox)"
fi
command -v tar >/dev/null && tar --version 2>/dev/null | grep -q 'GNU tar' || die "GNU tar is required"

# Serialize concurrent builds (several CLI processes may find out/ missing at once).
mkdir -p "$here"
exec 9>"$here/.build.lock"
flock 9

stamp="$(sha256sum "$busybox" | cut -d' ' -f1) $(sha256sum "${BASH_SOURCE[0]}" | cut -d' ' -f1)"
if [ "$force" = 0 ] && [ -f "$out/layer.tar" ] && [ -f "$out/config.json" ] && [ "$(cat "$out/.stamp" 2>/dev/null)" = "$stamp" ]; then
  echo "$out"
  exit 0
fi

work=$(mktemp -d "$here/.build.XXXXXX")
trap 'rm -rf "$work"' EXIT
root="$work/rootfs"
mkdir -p "$root"
cd "$root"

mkdir -p bin sbin usr/bin usr/sbin usr/local/bin usr/local/sbin etc home root tmp var/log var/run var/tmp proc sys dev
chmod 0755 bin sbin usr usr/bin usr/sbin usr/local usr/local/bin usr/local/sbin etc home var var/log var/run proc sys dev
chmod 0700 root
chmod 1777 tmp var/tmp
install -m 0755 "$busybox" bin/busybox

# One symlink per applet, relative so it also resolves when the rootfs is looked at from outside.
"$busybox" --list-full | sort -u | while read -r applet; do
  [ -n "$applet" ] || continue
  [ "$applet" = "bin/busybox" ] && continue
  [ -e "$applet" ] || [ -L "$applet" ] && continue
  dir=$(dirname "$applet")
  mkdir -p "$dir"
  up=""
  d="$dir"
  while [ "$d" != "." ]; do up="../$up"; d=$(dirname "$d"); done
  if [ "$dir" = bin ]; then ln -s busybox "$applet"; else ln -s "${up}bin/busybox" "$applet"; fi
done

cat > etc/passwd <<'PASSWD'
root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/bin/false
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
user:x:1000:1000:user:/home/user:/bin/sh
PASSWD
cat > etc/group <<'GROUP'
root:x:0:
daemon:x:1:
nogroup:x:65534:
user:x:1000:
GROUP
cat > etc/shadow <<'SHADOW'
root:*:0:0:99999:7:::
daemon:*:0:0:99999:7:::
nobody:*:0:0:99999:7:::
user:*:0:0:99999:7:::
SHADOW
chmod 0640 etc/shadow
printf '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n' > etc/hosts
: > etc/hostname
: > etc/resolv.conf
chmod 0644 etc/passwd etc/group etc/hosts etc/hostname etc/resolv.conf

mkdir -p "$work/out"
tar --create --file "$work/out/layer.tar" --format=gnu --sort=name \
    --owner=0 --group=0 --numeric-owner --mtime=@0 --no-acls --no-xattrs --no-selinux \
    bin dev etc home proc root sbin sys tmp usr var

arch=$(dpkg --print-architecture 2>/dev/null || uname -m)
case "$arch" in x86_64) arch=amd64 ;; aarch64) arch=arm64 ;; esac
# "created" is the busybox binary's mtime, so the image id is reproducible too.
created=$(date -u -d "@$(stat -c %Y "$busybox")" +%Y-%m-%dT%H:%M:%SZ)
version=$("$busybox" 2>&1 | head -n 1 | sed 's/"/\\"/g' || true)
cat > "$work/out/config.json" <<JSON
{"created":"$created","architecture":"$arch","os":"linux","config":{"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],"Cmd":["sh"]},"history":[{"created":"$created","created_by":"images/busybox/build.sh: $version"}]}
JSON
printf '%s' "$stamp" > "$work/out/.stamp"

# Replace file by file with rename(2), so a reader never finds out/ missing or a file half written.
mkdir -p "$out"
mv -f "$work/out/layer.tar" "$out/layer.tar"
mv -f "$work/out/config.json" "$out/config.json"
mv -f "$work/out/.stamp" "$out/.stamp"
echo "$out"
