#!/bin/bash
# Lab 7: run "$@" with half a CPU (quota), shares 512 / weight 20, on CPU 0 only.
# $LAB_CGROUP_VERSION is 1 or 2; parents: $LAB_CGROUP_CPU and $LAB_CGROUP_CPUSET.
set -e
exec "$@"
