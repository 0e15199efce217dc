#!/bin/bash
# Lab 12 (in the VM harness): a thin pool tl$LAB_TAG-pool on loop devices, a thin volume
# tl$LAB_TAG-vol (id 0), a snapshot tl$LAB_TAG-snap of it.
set -e
