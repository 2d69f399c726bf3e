#!/usr/bin/env bash
# End-to-end: the vxlan backend (and DirectRouting) on hosts spread over two L2 segments
# joined by a router (the underlay namespace).
#   vxlan.sh connectivity | direct-routing | flannel-peer | self-heal
set -euo pipefail
source "$(dirname "$0")/lib.sh"
require_root
[ -x "$TARTAND" ] || fail "tartand not built at $TARTAND"

# Hosts 1,2 on segment a (192.0.2.0/24), hosts 3,4 on segment b (198.51.100.0/24).
segment_of() { if [ "$1" -le 2 ]; then echo a; else echo b; fi; }

cluster() {  # cluster <backend json> <hosts...>
  local backend=$1
  shift
  cluster_start "{\"Network\":\"10.244.0.0/16\",\"Backend\":$backend}" pod_with_echo_server "$@"
}

vtep_mac_of() { lease_json_of "$1" | sed -n 's/.*"VtepMAC":"\([0-9a-f:]*\)".*/\1/p'; }

has_vxlan_path() {  # has_vxlan_path <on host> <to host>: route, neighbour and FDB entry
  local on=$1 to=$2 mac gw
  mac=$(vtep_mac_of "$to")
  gw=$(subnet_zero_of "$to")
  routes_of "$on" | grep >/dev/null -c "^$(subnet_of "$to") via $gw dev flannel.1 proto 84 onlink" &&
    ip -n "$P-h$on" neigh show dev flannel.1 | grep >/dev/null -c "^$gw lladdr $mac PERMANENT" &&
    in_ns "$P-h$on" bridge fdb show dev flannel.1 | grep >/dev/null -c "^$mac dst $(host_ip "$to") self permanent"
}
has_direct_route() {
  routes_of "$1" | grep >/dev/null -c "^$(subnet_of "$2") via $(host_ip "$2") dev eth0 proto 84"
}

check_pods_talk() { pods_talk_all 5 "$@"; }  # check_pods_talk <hosts...>

scenario_connectivity() {
  cluster '{"Type":"vxlan"}' 1 2 3 4
  local a b details
  for a in 1 2 3 4; do
    details=$(ip -n "$P-h$a" -d link show flannel.1)
    grep -q "mtu 1450" <<<"$details" || fail "h$a: flannel.1 mtu is not 1450: $details"
    grep -q "vxlan id 1 local $(host_ip "$a") dev eth0" <<<"$details" || fail "h$a: vxlan attrs: $details"
    grep -q "dstport 8472" <<<"$details" || fail "h$a: dstport: $details"
    grep -q "nolearning" <<<"$details" || fail "h$a: learning on: $details"
    ip -n "$P-h$a" -4 addr show dev flannel.1 | grep >/dev/null -c "inet $(subnet_zero_of "$a")/32" ||
      fail "h$a: flannel.1 lacks $(subnet_zero_of "$a")/32"
    subnet_env_of "$a" | grep >/dev/null -cx 'FLANNEL_MTU=1450' || fail "h$a: FLANNEL_MTU"
    lease_json_of "$a" | grep >/dev/null -cE '^\{"PublicIP":"[0-9.]+","PublicIPv6":null,"BackendType":"vxlan","BackendData":\{"VNI":1,"VtepMAC":"[0-9a-f:]{17}"\}\}$' ||
      fail "h$a: lease is not flannel's vxlan shape: $(lease_json_of "$a")"
    [ "$(ip -n "$P-h$a" link show flannel.1 | sed -n 's/.*link\/ether \([0-9a-f:]*\).*/\1/p')" = "$(vtep_mac_of "$a")" ] ||
      fail "h$a: device MAC differs from the published VtepMAC"
    for b in 1 2 3 4; do
      [ "$a" = "$b" ] && continue
      wait_for 5 "vxlan path h$a -> h$b" has_vxlan_path "$a" "$b"
    done
  done
  check_pods_talk 1 2 3 4
}

scenario_direct_routing() {
  cluster '{"Type":"vxlan","DirectRouting":true}' 1 2 3 4
  # Same segment: a plain route via the peer; other segment: the vxlan path.
  wait_for 5 "h1 -> h2 direct" has_direct_route 1 2
  wait_for 5 "h3 -> h4 direct" has_direct_route 3 4
  wait_for 5 "h1 -> h3 via vxlan" has_vxlan_path 1 3
  wait_for 5 "h4 -> h2 via vxlan" has_vxlan_path 4 2
  ip -n "$P-h1" neigh show dev flannel.1 | grep >/dev/null -c "^$(subnet_zero_of 2) " &&
    fail "h1 has a vxlan neighbour for the on-link h2"
  routes_of 1 | grep "proto 84" >&2
  check_pods_talk 1 2 3 4
}

scenario_flannel_peer() {
  cluster '{"Type":"vxlan"}' 1 2
  # Host 3 plays a real flanneld node: its VTEP made by hand exactly as flanneld makes it, its
  # lease written with etcdctl in current flannel's exact shape, on a 24 h etcd lease.
  host_create 3 b
  local mac3=0e:aa:bb:cc:dd:03 sub3=10.244.200.0
  ip -n "$P-h3" link add flannel.1 address "$mac3" mtu 1450 type vxlan id 1 local "$(host_ip 3)" \
    dev eth0 dstport 8472 nolearning
  ip -n "$P-h3" addr add "$sub3/32" dev flannel.1
  ip -n "$P-h3" link set flannel.1 up
  mkdir -p "$E2E_WORK/h3"
  printf 'FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.200.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=false\n' \
    >"$E2E_WORK/h3/subnet.env"
  local lease
  lease=$(etcdctl_v3 lease grant 86400 | awk '{print $2}')
  etcdctl_v3 put --lease="$lease" /coreos.com/network/subnets/10.244.200.0-24 \
    "{\"PublicIP\":\"$(host_ip 3)\",\"PublicIPv6\":null,\"BackendType\":\"vxlan\",\"BackendData\":{\"VNI\":1,\"VtepMAC\":\"$mac3\"}}" >/dev/null
  pod_create 3
  tcp_echo_server_start 3
  # What flanneld on host 3 would program for host 1.
  local mac1 gw1
  mac1=$(vtep_mac_of 1)
  gw1=$(subnet_zero_of 1)
  ip -n "$P-h3" neigh add "$gw1" lladdr "$mac1" dev flannel.1 nud permanent
  in_ns "$P-h3" bridge fdb append "$mac1" dev flannel.1 dst "$(host_ip 1)" self permanent
  ip -n "$P-h3" route add "$(subnet_of 1)" via "$gw1" dev flannel.1 onlink
  # tartand on host 1 programs the flanneld peer exactly as flanneld would.
  wait_for 5 "h1's vxlan path to the flanneld peer" has_vxlan_path 1 3
  wait_for 5 "h2's vxlan path to the flanneld peer" has_vxlan_path 2 3
  check_pods_talk 1 3
  # The flanneld peer recreates its device with a new MAC and re-publishes: tartand replaces
  # the neighbour and drops the old MAC's FDB entry (flanneld would leave it behind).
  local mac3b=0e:aa:bb:cc:dd:33
  ip -n "$P-h3" link set flannel.1 address "$mac3b"
  # A MAC change makes the kernel flush the device's neighbours; flanneld re-adds its own.
  ip -n "$P-h3" neigh replace "$gw1" lladdr "$mac1" dev flannel.1 nud permanent
  etcdctl_v3 put --lease="$lease" /coreos.com/network/subnets/10.244.200.0-24 \
    "{\"PublicIP\":\"$(host_ip 3)\",\"PublicIPv6\":null,\"BackendType\":\"vxlan\",\"BackendData\":{\"VNI\":1,\"VtepMAC\":\"$mac3b\"}}" >/dev/null
  wait_for 5 "h1 follows the peer's new MAC" has_vxlan_path 1 3
  wait_for 5 "h1 drops the old MAC's FDB entry" sh -c \
    "! ip netns exec $P-h1 bridge fdb show dev flannel.1 | grep -q $mac3"
  log "flanneld peer changed its VTEP MAC: neighbour and FDB follow, the stale entry is gone"
  check_pods_talk 1 3
}

scenario_self_heal() {
  cluster '{"Type":"vxlan"}' 1 3
  local mac t0
  mac=$(vtep_mac_of 1)
  # The device deleted by hand: recreated with the same MAC, entries back, pods talk again.
  ip -n "$P-h1" link del flannel.1
  t0=$(now_ms)
  wait_for 15 "flannel.1 recreated with its entries" has_vxlan_path 1 3
  log "self-heal: flannel.1 recreated with everything on it after $(($(now_ms) - t0)) ms"
  [ "$(ip -n "$P-h1" link show flannel.1 | sed -n 's/.*link\/ether \([0-9a-f:]*\).*/\1/p')" = "$mac" ] ||
    fail "recreated flannel.1 has another MAC than the published $mac"
  [ "$(vtep_mac_of 1)" = "$mac" ] || fail "VtepMAC in etcd changed"
  check_pods_talk 1 3
  # Neighbour, FDB entry and route deleted by hand: each repaired.
  ip -n "$P-h1" neigh del "$(subnet_zero_of 3)" dev flannel.1
  wait_for 12 "neighbour repaired" has_vxlan_path 1 3
  in_ns "$P-h1" bridge fdb del "$(vtep_mac_of 3)" dev flannel.1 dst "$(host_ip 3)" self
  wait_for 12 "fdb entry repaired" has_vxlan_path 1 3
  ip -n "$P-h1" route del "$(subnet_of 3)"
  wait_for 12 "route repaired" has_vxlan_path 1 3
  # The device's MAC changed by hand (the kernel flushes its neighbours): the published MAC is
  # put back and the entries re-added.
  ip -n "$P-h1" link set flannel.1 address 0e:12:34:56:78:9a
  wait_for 12 "published MAC restored" sh -c \
    "ip netns exec $P-h1 ip link show flannel.1 | grep -q 'link/ether $mac '"
  wait_for 12 "entries back after the MAC change" has_vxlan_path 1 3
  # A stale FDB entry (a MAC no peer announces) is removed.
  in_ns "$P-h1" bridge fdb append 0e:00:00:00:00:99 dev flannel.1 dst 198.51.100.99 self permanent
  wait_for 12 "stale fdb entry removed" sh -c "! ip netns exec $P-h1 bridge fdb show dev flannel.1 | grep >/dev/null -c 0e:00:00:00:00:99"
  check_pods_talk 1 3
}

case "${1:-}" in
  connectivity) scenario_connectivity ;;
  direct-routing) scenario_direct_routing ;;
  flannel-peer) scenario_flannel_peer ;;
  self-heal) scenario_self_heal ;;
  *) echo "usage: $0 connectivity|direct-routing|flannel-peer|self-heal" >&2; exit 2 ;;
esac
log "PASS vxlan $1"
