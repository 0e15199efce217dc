#!/bin/bash
# Lab 9: mount lower2 over lower1 (upper, work) at $LAB_LAYERS/merged, then through merged/:
# delete gone.txt, replace olddir by an empty directory, write new.txt.
set -e
L="$LAB_LAYERS"
