# Shared set-up of the benchmarks (sourced, not run): peers from Debian's packages, a state
# root, bridge, subnet, nftables table and cgroup parent of the benchmark's own for tscontainer,
# and podman with its own storage and configuration under the same work directory. Each
# script's EXIT trap calls bench_cleanup, which removes everything made here.
# After sourcing: REPO, WORK, TSC (our CLI on that root), PODMAN (podman on its own storage).

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# our CLI may reach no host but loopback (src/util/allowed-hosts.ts)
export TSCONTAINER_ALLOWED_HOSTS=127.0.0.1,localhost,::1
cd "$REPO"

# bench_need CMD...: installs the Debian packages of the commands that are missing.
bench_need() {
  local need=() p
  for p in "$@"; do
    case "$p" in
      netavark) [ -x /usr/lib/podman/netavark ] || need+=(netavark) ;;   # podman's bridge; not on PATH
      conmon) [ -x /usr/bin/conmon ] || [ -x /usr/libexec/podman/conmon ] || need+=(conmon) ;;
      *) command -v "$p" >/dev/null || need+=("$p") ;;
    esac
  done
  if [ ${#need[@]} -gt 0 ]; then
    echo "installing peers: ${need[*]}" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  fi
  [ -x native/build/tscontainer-helper ] && [ -f dist/tscontainer.cjs ] || npm run --silent build
  bin/tscontainer image build-builtin >/dev/null
}

# bench_work NAME LETTER: the work directory and tscontainer's own names for this benchmark.
bench_work() {
  WORK=$(mktemp -d "/tmp/tsc-bench-$1-XXXXXX")
  local tag
  tag=$(basename "$WORK" | tr -dc 'a-z0-9' | tail -c 5)
  export TSCONTAINER_BRIDGE="tsc$2$tag" TSCONTAINER_NFT_TABLE="tscbench_$tag" TSCONTAINER_VETH_PREFIX="v$2${tag:0:3}"
  export TSCONTAINER_CGROUP_PARENT="tscontainer-bench-$tag"
  local n
  for n in $(seq 200 239); do   # a /24 that no host route covers
    if ! ip route show to match "10.$n.77.1" | grep -qv '^default'; then export TSCONTAINER_BRIDGE_SUBNET="10.$n.77.0/24"; break; fi
  done
  # bin/tscontainer, as a user runs it (it turns on the compile cache)
  TSC="$REPO/bin/tscontainer --root $WORK/tsc"
  BENCH_HAD_PODMAN0=$([ -e /sys/class/net/podman0 ] && echo 1 || true)
  BENCH_HAD_NETRUN=$([ -e /run/containers/networks ] && echo 1 || true)
  BENCH_NFT_BEFORE=$(nft list tables 2>/dev/null || true)
}

# bench_podman: podman on storage and configuration of its own, with our busybox layer imported
# as localhost/tsc-busybox (default rlimits pinned below this machine's hard limits).
bench_podman() {
  mkdir -p "$WORK/podman"
  cat > "$WORK/podman/containers.conf" <<CONF
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$WORK/podman/events.log"
[network]
network_backend = "netavark"
network_config_dir = "$WORK/podman/networks"
CONF
  export CONTAINERS_CONF="$WORK/podman/containers.conf"
  PODMAN="podman --root $WORK/podman/root --runroot $WORK/podman/run --storage-driver overlay"
  $PODMAN import -q images/busybox/out/layer.tar localhost/tsc-busybox:latest >/dev/null
}

# bench_cleanup: every container, bridge, rule, cgroup, mount and file the benchmark made.
bench_cleanup() {
  set +e
  local ids
  ids=$($TSC ps -aq 2>/dev/null)
  [ -n "$ids" ] && $TSC rm -f $ids >/dev/null 2>&1
  ip link del "$TSCONTAINER_BRIDGE" 2>/dev/null
  nft delete table ip "$TSCONTAINER_NFT_TABLE" 2>/dev/null
  local d
  for d in /sys/fs/cgroup/*/"$TSCONTAINER_CGROUP_PARENT"; do [ -d "$d" ] && rmdir "$d"/* "$d" 2>/dev/null; done
  if [ -n "${PODMAN:-}" ]; then
    $PODMAN rm -fa -t 0 >/dev/null 2>&1
    $PODMAN system reset -f >/dev/null 2>&1
    [ -z "$BENCH_HAD_PODMAN0" ] && ip link del podman0 2>/dev/null
    [ -z "$BENCH_HAD_NETRUN" ] && rm -rf /run/containers/networks && rmdir /run/containers 2>/dev/null
    # netavark's iptables(-nft) chains: drop the tables it created; in tables that were there
    # before, only its NETAVARK chains and the rules jumping to them.
    local tb ipt
    for tb in "ip nat" "ip filter" "ip6 nat" "ip6 filter"; do
      if nft list table $tb >/dev/null 2>&1; then
        if ! grep -qx "table $tb" <<<"$BENCH_NFT_BEFORE"; then nft delete table $tb
        elif nft list table $tb | grep -q NETAVARK; then
          ipt=iptables; [ "${tb%% *}" = ip6 ] && ipt=ip6tables
          $ipt-save -t "${tb#* }" | grep -v NETAVARK | $ipt-restore -T "${tb#* }"
        fi
      fi
    done
  fi
  grep -o " $WORK[^ ]*" /proc/mounts | sort -r | xargs -r -n1 umount -l 2>/dev/null
  rm -rf "$WORK"
}

# bench_emit RESULT.json "what" OURS "ours cmd" PEER "peer cmd" "target" [--cpu]: one report row.
bench_emit() { node "$REPO/bench/lib/emit.cjs" "$@"; }
