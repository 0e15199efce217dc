#!/bin/bash
# Lab 10: run "$@" with only CAP_NET_BIND_SERVICE (bounding, permitted, effective) and
# no_new_privs. The checker runs: bash run.sh sleep NNNNNN
exec "$@"
