#!/usr/bin/env bash
# Builds the built-in debian:bookworm image with mmdebstrap from this machine's own apt sources
# (the deb822 / sources.list files under /etc/apt that name a Debian archive), so builds and
# tests can use bash, coreutils and python3 with no registry:
#   out/layer.tar    the minbase root file system plus python3, one layer
#   out/config.json  the image defaults (Cmd ["bash"], Env PATH, created, architecture)
# The tar is reproducible for the same package versions (SOURCE_DATE_EPOCH clamps every time).
# Idempotent: does nothing when out/ was built by this script from the same apt sources.
# Needs root and network access to those apt sources (it downloads the packages: tens of MB;
# the layer is about 170 MB, 1m50s here).
# Usage: build.sh [--force]      Environment: SUITE (default bookworm), INCLUDE (extra packages)
set -euo pipefail
umask 022
export LC_ALL=C

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
out="$here/out"
suite=${SUITE:-bookworm}
include=${INCLUDE:-python3}
force=0
[ "${1:-}" = "--force" ] && force=1

die() { echo "build.sh: $*" >&2; exit 1; }
command -v mmdebstrap >/dev/null || die "mmdebstrap not found (apt-get install mmdebstrap)"
[ "$(id -u)" = 0 ] || die "must run as root (mmdebstrap's root mode)"

# This machine's Debian sources: every enabled .sources/.list file that points at a Debian archive.
sources=()
for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list; do
  [ -f "$f" ] || continue
  grep -Eq '^[^#]*(deb\.debian\.org|/debian|debian-security)' "$f" || continue
  sources+=("$f")
done
[ ${#sources[@]} -gt 0 ] || die "no Debian apt sources found under /etc/apt"

mkdir -p "$here"
exec 9>"$here/.build.lock"
flock 9

stamp="$(cat "${BASH_SOURCE[0]}" "${sources[@]}" | sha256sum | cut -d' ' -f1) $suite $include"
if [ "$force" = 0 ] && [ -f "$out/layer.tar" ] && [ -f "$out/config.json" ] && [ "$(cat "$out/.stamp" 2>/dev/null)" = "$stamp" ]; then
  echo "$out"
  exit 0
fi

work=$(mktemp -d "$here/.build.XXXXXX")
trap 'rm -rf "$work"' EXIT
# A fixed epoch (the suite's release date) keeps the bytes stable across rebuilds.
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-1686355200}
mkdir -p "$work/out"
mmdebstrap --quiet --mode=root --variant=minbase --format=tar \
  --include="$include" \
  --dpkgopt='path-exclude=/usr/share/man/*' \
  --dpkgopt='path-exclude=/usr/share/locale/*' \
  --dpkgopt='path-exclude=/usr/share/doc/*' \
  --dpkgopt='path-include=/usr/share/doc/*/copyright' \
  --customize-hook='rm -f "$1"/etc/hostname "$1"/etc/resolv.conf && : > "$1"/etc/hostname && : > "$1"/etc/resolv.conf' \
  --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*.bin "$1"/var/log/*.log' \
  "$suite" "$work/out/layer.tar" "${sources[@]}"

arch=$(dpkg --print-architecture)
created=$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y-%m-%dT%H:%M:%SZ)
cat > "$work/out/config.json" <<JSON
{"created":"$created","architecture":"$arch","os":"linux","config":{"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],"Cmd":["bash"]},"history":[{"created":"$created","created_by":"images/debian/build.sh: mmdebstrap --variant=minbase --include=$include $suite"}]}
JSON
printf '%s' "$stamp" > "$work/out/.stamp"

mkdir -p "$out"
mv -f "$work/out/layer.tar" "$out/layer.tar"
mv -f "$work/out/config.json" "$out/config.json"
mv -f "$work/out/.stamp" "$out/.stamp"
echo "$out"
