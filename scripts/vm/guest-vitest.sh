#!/usr/bin/env bash
# guest-vitest.sh - runs inside the VM (run.sh puts us in the checkout): shows what the tests will
# meet, then runs vitest on test/integration, or on the arguments given. TCG is several times
# slower than the host, so the default test and hook timeouts are raised (tests that set their
# own keep theirs).
set -euo pipefail
echo "guest: kernel $(uname -r), $(nproc) vCPUs, $(awk '/MemTotal/ {print int($2/1024) " MiB"}' /proc/meminfo)"
grep -E ' - cgroup2? ' /proc/self/mountinfo | awk '{print "guest: cgroup mount " $5 " (" $(NF-2) ")"}'
if [ -f /sys/fs/cgroup/cgroup.controllers ]; then
  echo "guest: cgroup.controllers: $(cat /sys/fs/cgroup/cgroup.controllers)"
fi
echo "guest: node $(node --version), nft $(nft --version | awk '{print $2}'), $(ip -V)"
[ $# -gt 0 ] || set -- test/integration
start=$(date +%s)
set +e
node_modules/.bin/vitest run --reporter=verbose --testTimeout=180000 --hookTimeout=180000 "$@"
rc=$?
set -e
echo "guest: vitest exited $rc after $(($(date +%s) - start)) s"
exit $rc
