#!/usr/bin/env bash
# cgroup2-test.sh - the cgroups integration tests (or the vitest arguments given) on a cgroup
# v2-only Debian kernel. Kept for habit; it is integration.sh with one file:
#
#   sudo scripts/vm/cgroup2-test.sh [vitest args...]
#
# See docs/vm.md. Exit status: vitest's, or run.sh's 124/125/126.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
[ $# -gt 0 ] || set -- test/integration/cgroups-real.test.ts
exec "$HERE/integration.sh" --cgroup v2 "$@"
