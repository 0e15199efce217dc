#!/bin/bash
# Lab 6: run "$@" in a memory cgroup below $LAB_CGROUP_MEMORY limited to 32 MiB, no swap.
# $LAB_CGROUP_VERSION is 1 or 2. The checker runs: bash run.sh sleep NNNNNN, then bash run.sh tail /dev/zero
set -e
exec "$@"
