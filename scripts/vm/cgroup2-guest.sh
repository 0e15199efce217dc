#!/bin/bash
# Runs inside the VM booted by cgroup2-test.sh (the host's / as an overlay, cgroup2 only at
# /sys/fs/cgroup). Shows the layout, then runs the cgroups integration tests.
set -u
repo=${1:?repository path}
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/tmp CI=1
# the integration test checks that detection really picked cgroup v2 here
export TSC_EXPECT_CGROUP_VERSION=2
cd "$repo" || exit 125
echo "guest: kernel $(uname -r)"
grep -E ' - cgroup2? ' /proc/self/mountinfo
echo "guest: cgroup.controllers: $(cat /sys/fs/cgroup/cgroup.controllers)"
argsfile=$(sed -n 's/.*tsc_args=\([^ ]*\).*/\1/p' /proc/cmdline)
args=()
if [ -n "$argsfile" ] && [ -s "$argsfile" ]; then mapfile -t args < "$argsfile"; fi
[ ${#args[@]} -gt 0 ] || args=(test/integration/cgroups-real.test.ts)
node_modules/.bin/vitest run --reporter=verbose "${args[@]}"
