#!/usr/bin/env bash
# guest-vitest.sh - runs inside the VM (run.sh puts us in the checkout): shows what the tests will
# meet, then runs vitest on test/integration, or on the arguments given. TCG is several times
# slower than the host, so the default test and hook timeouts (60 s) stretch by
# TSC_TEST_TIME_SCALE, as the tests' own bounds do.
set -euo pipefail
echo "guest: kernel $(uname -r), $(nproc) vCPUs, $(awk '/MemTotal/ {print int($2/1024) " MiB"}' /proc/meminfo)"
grep -E ' - cgroup2? ' /proc/self/mountinfo | awk '{print "guest: cgroup mount " $5 " (" $(NF-2) ")"}'
if [ -f /sys/fs/cgroup/cgroup.controllers ]; then
  echo "guest: cgroup.controllers: $(cat /sys/fs/cgroup/cgroup.controllers)"
fi
echo "guest: node $(node --version), nft $(nft --version | awk '{print $2}'), $(ip -V)"
[ $# -gt 0 ] || set -- test/integration
limit=$((60000 * ${TSC_TEST_TIME_SCALE:-1}))
start=$(date +%s)
set +e
node_modules/.bin/vitest run --reporter=verbose --testTimeout=$limit --hookTimeout=$limit "$@"
rc=$?
set -e
echo "guest: vitest exited $rc after $(($(date +%s) - start)) s"
exit $rc
