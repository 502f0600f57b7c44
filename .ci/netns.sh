#!/usr/bin/env bash
# Simulated hosts for the multi-host tests and bench (tests/remote_nats.rs,
# examples/bench_remote.rs): one Linux network namespace per host, all on one bridge, so
# worker processes inside reach a NATS server in the root namespace at 10.77.0.1 over a
# real (virtual) link that can be cut. Needs root and iproute2.
#
#   netns.sh up N     bridge skbr0 (10.77.0.1/24) and hosts skh1..skhN (10.77.0.(10+i)/24)
#   netns.sh down     kills whatever runs in the hosts, removes hosts and bridge
#   netns.sh cut I    takes host I's link down (as if its cable were pulled)
#   netns.sh heal I   brings it back up
#
# Every command is idempotent: `up` completes a partial setup, `down` a partial teardown.
set -euo pipefail

BRIDGE=skbr0
BRIDGE_ADDR=10.77.0.1/24
GATEWAY=10.77.0.1

die() {
  echo "netns.sh: $*" >&2
  exit 2
}

need_root() {
  [[ $(id -u) -eq 0 ]] || die "must run as root (network namespaces and links)"
  command -v ip >/dev/null || die "iproute2 (the ip command) is not installed"
}

host_index() {
  [[ ${1:-} =~ ^[0-9]+$ ]] && ((${1} >= 1 && ${1} <= 200)) || die "host index must be 1..200, got '${1:-}'"
}

has_link() { ip link show "$1" >/dev/null 2>&1; }
has_netns() { [[ -e /var/run/netns/$1 ]]; }

up() {
  local n=$1 i ns veth
  host_index "$n"
  if ! has_link "$BRIDGE"; then
    ip link add "$BRIDGE" type bridge
  fi
  # `replace` instead of `add`: no error when the address is already there.
  ip addr replace "$BRIDGE_ADDR" dev "$BRIDGE"
  ip link set "$BRIDGE" up
  for ((i = 1; i <= n; i++)); do
    ns=skh$i
    veth=skv$i
    has_netns "$ns" || ip netns add "$ns"
    if ! has_link "$veth"; then
      # Created with its peer already inside the namespace: no window in which a
      # half-configured eth0 sits in the root namespace.
      ip link add "$veth" type veth peer name eth0 netns "$ns"
    fi
    ip link set "$veth" master "$BRIDGE"
    ip link set "$veth" up
    ip -n "$ns" link set lo up
    ip -n "$ns" addr replace "10.77.0.$((10 + i))/24" dev eth0
    ip -n "$ns" link set eth0 up
    ip -n "$ns" route replace default via "$GATEWAY"
  done
}

down() {
  local ns pids
  for ns in $(ip netns list | awk '{print $1}' | grep -E '^skh[0-9]+$' || true); do
    pids=$(ip netns pids "$ns" 2>/dev/null || true)
    if [[ -n $pids ]]; then
      # A namespace outlives `ip netns del` while a process holds it, and so would its
      # link; workers left by a failed run must not keep the next run's addresses busy.
      kill -9 $pids 2>/dev/null || true
    fi
    ip netns del "$ns" 2>/dev/null || true
  done
  # Deleting a namespace deletes its eth0 and with it the root-side peer, but only once
  # the last process inside has gone: remove stragglers explicitly.
  for veth in $(ip -o link show | awk -F': ' '{print $2}' | sed 's/@.*//' | grep -E '^skv[0-9]+$' || true); do
    ip link del "$veth" 2>/dev/null || true
  done
  if has_link "$BRIDGE"; then
    ip link del "$BRIDGE"
  fi
}

set_link() {
  local i=$1 state=$2
  host_index "$i"
  has_link "skv$i" || die "host $i is not up (no link skv$i)"
  ip link set "skv$i" "$state"
}

need_root
case "${1:-}" in
  up) up "${2:-}" ;;
  down) down ;;
  cut) set_link "${2:-}" down ;;
  heal) set_link "${2:-}" up ;;
  *) die "usage: netns.sh up N | down | cut I | heal I" ;;
esac
