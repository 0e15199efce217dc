#!/bin/bash
# Lab 5: a bridge $LAB_BRIDGE as gateway, $LAB_NETNS on it, forwarding, masquerade for
# $LAB_SUBNET and tcp port $LAB_PORT published to $LAB_NS_ADDR:80. Variables from lab.env.
set -e
