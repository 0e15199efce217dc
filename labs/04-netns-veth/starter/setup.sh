#!/bin/bash
# Lab 4: make $LAB_NETNS, a veth pair $LAB_HOST_IF <-> eth0 (inside), addresses, lo up, a
# default route inside via $LAB_HOST_ADDR. The variables come from lab.env.
set -e
