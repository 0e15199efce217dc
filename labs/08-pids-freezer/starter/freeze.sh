#!/bin/bash
# Lab 8: freeze the cgroup that process $1 is in (find it in /proc/$1/cgroup).
set -e
pid="$1"
