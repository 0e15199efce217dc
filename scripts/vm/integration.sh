#!/usr/bin/env bash
# integration.sh - the integration suite (every file in test/integration, or the vitest arguments
# given) in a VM booted by run.sh: Debian's stock kernel, cgroup v2 alone by default, networking
# included (the guest has no NIC; the tests make their own bridges, veths and nftables tables).
#
#   sudo scripts/vm/integration.sh [--cgroup v2|hybrid] [--kernel debian|PATH] [vitest args...]
#   npm run test:vm                    # the same, after `npm run build`, on cgroup v2
#
# The guest gets a snapshot of the checkout taken at start: editing it while a long run goes on
# does not mix old and new files in the run.
#
# Exit status: vitest's (0 all passed), or run.sh's 124/125/126 (timeout, VM or harness failure,
# bad usage), each with one line on stderr saying which.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
REPO=$(cd "$HERE/../.." && pwd -P)
CGROUP=v2
KERNEL=debian
while [ $# -gt 0 ]; do
  case "$1" in
    --cgroup) CGROUP=${2:?}; shift 2 ;;
    --kernel) KERNEL=${2:?}; shift 2 ;;
    *) break ;;
  esac
done
# What the suite needs from the kernel: overlay mounts, veth pairs on bridges, nftables NAT,
# masquerade and fib for published ports. Everything else autoloads through the guest's modprobe.
MODULES=overlay,veth,bridge,nf_tables,nf_nat,nf_conntrack,nft_chain_nat,nft_nat,nft_masq,nft_ct,nft_fib_ipv4,nft_fib_inet,nft_compat
[ -x "$REPO/node_modules/.bin/vitest" ] || { echo "integration.sh: node_modules is missing (npm ci)" >&2; exit 126; }
[ -f "$REPO/dist/tscontainer.cjs" ] || { echo "integration.sh: no dist/ (npm run build first)" >&2; exit 126; }
# TCG runs node several times slower than the host: the tests stretch their upper time bounds and
# waits by this factor (test/integration/support/cli.ts, TIME_SCALE).
SCALE=${TSC_TEST_TIME_SCALE:-4}
EXPECT=2
[ "$CGROUP" = hybrid ] && EXPECT=1
exec "$HERE/run.sh" --kernel "$KERNEL" --cgroup "$CGROUP" --modules "$MODULES" --share "$REPO" --snapshot \
  -e CI=1 -e NO_COLOR=1 -e TSC_EXPECT_CGROUP_VERSION=$EXPECT -e TSC_TEST_TIME_SCALE=$SCALE \
  -- "$HERE/guest-vitest.sh" "$@"
