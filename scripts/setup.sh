#!/usr/bin/env bash
# One idempotent set-up for tscontainer on Debian 12 / Ubuntu 22.04+ (run as root).
# Installs every system package the project needs, the npm dependencies, builds the
# TypeScript and the native helper, builds the built-in busybox image, and puts
# `tscontainer` on PATH. Running it again does only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$(pwd)

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }

if [ "$(id -u)" != 0 ]; then
  echo "setup.sh: run as root (a container runtime needs namespaces, mounts and cgroups)" >&2
  exit 1
fi

# System packages: build tools and the helper's C libraries, the tools the runtime calls,
# and busybox-static for the built-in image.
PKGS=(build-essential pkg-config python3 libjson-c-dev libseccomp-dev
      busybox-static iproute2 nftables e2fsprogs util-linux tar gzip ca-certificates)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  say "apt-get install ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# Node.js 20 or newer. Debian 12 ships 18 and Ubuntu 22.04 ships 12: when the node on PATH is
# too old, take Debian's npm and install the Node 20 binary that the npm registry ships.
node_major() { node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }
if [ "$(node_major)" -lt 20 ]; then
  say "installing Node.js 20 (found: $(node --version 2>/dev/null || echo none))"
  command -v npm >/dev/null || apt-get install -y -qq --no-install-recommends nodejs npm
  npm install -g --no-fund --no-audit node@20
  hash -r
  [ "$(node_major)" -ge 20 ] || { echo "setup.sh: could not install Node.js 20" >&2; exit 1; }
fi

# npm dependencies (better-sqlite3 compiles against node's headers when no prebuilt fits).
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  say "npm ci"
  npm ci --no-fund --no-audit
fi

say "building TypeScript and the native helper"
npm run --silent build

say "building the built-in busybox image"
bin/tscontainer image build-builtin >/dev/null

# Put the CLI on PATH.
ln -sf "$REPO/bin/tscontainer" /usr/local/bin/tscontainer

say "ready: try  tscontainer run --rm busybox echo hello"
