#!/usr/bin/env bash
# devmapper-test.sh - the devicemapper graph driver's tests (test/integration/graph-devmapper.test.ts,
# or the vitest arguments given) in a VM booted by run.sh with Debian's stock kernel, whose
# dm-thin-pool, loop, ext4 and xfs modules are loaded first. This host's kernel has no
# device-mapper; there the same file only checks the refusal.
#
#   sudo scripts/vm/devmapper-test.sh [vitest args...]     # after `npm run build`
#   npm run test:vm:devmapper
#
# TSC_VM_RUN: the harness to use (default scripts/vm/run.sh beside this script).
# Exit status: vitest's, or run.sh's 124/125/126 (timeout, VM failure, bad usage/missing harness).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
REPO=$(cd "$HERE/../.." && pwd -P)
RUN=${TSC_VM_RUN:-$HERE/run.sh}
[ -x "$RUN" ] || { echo "devmapper-test.sh: the VM harness $RUN is missing (scripts/vm/run.sh)" >&2; exit 126; }
[ -x "$REPO/node_modules/.bin/vitest" ] || { echo "devmapper-test.sh: node_modules is missing (npm ci)" >&2; exit 126; }
[ -f "$REPO/dist/tscontainer.cjs" ] || { echo "devmapper-test.sh: no dist/ (npm run build first)" >&2; exit 126; }
SCALE=${TSC_TEST_TIME_SCALE:-4}
[ $# -gt 0 ] || set -- test/integration/graph-devmapper.test.ts
# TSC_EXPECT_DM=1: in the VM a missing device-mapper is a failure, not a skip
exec "$RUN" --share "$REPO" --modules dm_mod,dm_thin_pool,loop,ext4,xfs --timeout "${TSC_VM_TIMEOUT:-3600}" \
  -e TSC_EXPECT_DM=1 -e TSC_TEST_TIME_SCALE="$SCALE" -e CI=1 \
  -- node_modules/.bin/vitest run --reporter=verbose "$@"
