#!/usr/bin/env bash
# End-to-end: tartand follows its external interface (issue 13). Host 1's eth0 is deleted and
# made again (a new ifindex; the kernel takes a vxlan device bound to it along), readdressed,
# taken down and up, and given a smaller MTU; each time tartand, never restarted, is ready
# again, the lease, subnet.env and the peer follow, and pods talk again.
#   iface.sh vxlan | host-gw | udp
set -euo pipefail
source "$(dirname "$0")/lib.sh"
require_root
[ -x "$TARTAND" ] || fail "tartand not built at $TARTAND"

BACKEND=${1:-}
case "$BACKEND" in
  vxlan | host-gw | udp) ;;
  *) echo "usage: $0 vxlan|host-gw|udp" >&2; exit 2 ;;
esac

lease_json_of() {  # the value of host n's lease in etcd
  etcdctl_v3 get "/coreos.com/network/subnets/$(subnet_of "$1" | tr / -)" --print-value-only
}
lease_has_public_ip() {  # lease_has_public_ip <subnet> <ip>
  etcdctl_v3 get "/coreos.com/network/subnets/$(tr / - <<<"$1")" --print-value-only |
    grep -F "\"PublicIP\":\"$2\""
}
# readyz_body <n>: /readyz's text whatever the status.
readyz_body() { in_ns "$P-h$1" curl -sS -m 1 "http://127.0.0.1:2401/readyz"; }
readyz_says() { readyz_body "$1" | grep -F -- "$2"; }
ifindex_of() { ip -n "$P-h$1" -o link show eth0 | cut -d: -f1; }
cpu_ticks_of() { awk '{print $14 + $15}' "/proc/$1/stat"; }  # utime + stime

# The peer's path to host n goes to host n's current address: a route via it (host-gw), an
# FDB entry for its VTEP (vxlan), or the lease carries it (udp: the workers read the table).
peer_follows() {  # peer_follows <on host> <to host>
  local on=$1 to=$2 ip
  ip=$(host_ip "$to")
  case "$BACKEND" in
    host-gw) routes_of "$on" | grep -c "^$(subnet_of "$to") via $ip dev eth0 proto 84" ;;
    vxlan) in_ns "$P-h$on" bridge fdb show dev flannel.1 | grep -c " dst $ip self permanent" ;;
    udp) routes_of "$on" | grep -c " dev flannel0 proto 84" && lease_json_of "$to" | grep -c "\"PublicIP\":\"$ip\"" ;;
  esac
}
own_device_ok() {  # host n's own device is on the current eth0 and address
  case "$BACKEND" in
    vxlan) ip -n "$P-h$1" -d link show flannel.1 | grep -c "local $(host_ip "$1") dev eth0" ;;
    udp) ip -n "$P-h$1" link show flannel0 | grep -c "state UNKNOWN\|state UP" ;;
    host-gw) true ;;
  esac
}

pods_talk() {
  wait_for 10 "ping pod h1 -> pod h2" pod_ping 1 2
  wait_for 10 "ping pod h2 -> pod h1" pod_ping 2 1
}

# recovered <what>: host 1 is ready again without a restart, its device is rebuilt, the peer
# follows, pods ping both ways.
recovered() {
  local what=$1 t0=$2
  wait_ready 1 20
  kill -0 "${TARTAND_PID[1]}" || fail "tartand on h1 exited"
  [ "$(grep -c 'tartand v.* starting' "$E2E_WORK/tartand-h1.log")" = 1 ] ||
    fail "tartand on h1 was restarted"
  wait_for 15 "h1's own device on the current eth0" own_device_ok 1
  wait_for 15 "h2's path to h1 at $(host_ip 1)" peer_follows 2 1
  wait_for 15 "h1's path to h2" peer_follows 1 2
  pods_talk
  log "$what: ready again without a restart after $(($(now_ms) - t0)) ms; pods talk"
}

# Not ready with `reason` while host 1's interface is unusable; tartand alive and idle.
waits_idle() {
  local reason=$1 c0 c1
  wait_for 10 "/readyz on h1 says: $reason" readyz_says 1 "$reason"
  readyz 1 >/dev/null 2>&1 && fail "h1 ready while: $reason"
  c0=$(cpu_ticks_of "${TARTAND_PID[1]}")
  # A measurement window, not a synchronisation: the CPU tartand spends while waiting.
  sleep 2
  c1=$(cpu_ticks_of "${TARTAND_PID[1]}")
  [ $((c1 - c0)) -le 20 ] || fail "tartand spent $((c1 - c0)) ticks of CPU in 2 s while waiting"
  kill -0 "${TARTAND_PID[1]}" || fail "tartand on h1 exited while waiting"
  readyz_says 1 "$reason" >/dev/null || fail "/readyz no longer says: $reason"
  log "h1 waits: /readyz says \"$reason\"; $((c1 - c0)) CPU ticks in 2 s"
}

eth0_make() {  # eth0_make <n> <address>: host n's underlay link, as host_create makes it
  local n=$1 ns="$P-h$1"
  ip -n "$ns" link add eth0 type veth peer name "h$n" netns "$P-ul"
  ip -n "$P-ul" link set "h$n" master br0 up
  ip -n "$ns" addr add "$2/24" dev eth0
  ip -n "$ns" link set eth0 up
  ip -n "$ns" route replace default via "$E2E_UNDERLAY_NET.1"
}

underlay_create
etcd_start
case "$BACKEND" in
  host-gw) network_config_put '{"Network":"10.244.0.0/16","Backend":{"Type":"host-gw"}}' ;;
  vxlan) network_config_put '{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan"}}' ;;
  udp) network_config_put '{"Network":"10.244.0.0/16","Backend":{"Type":"udp"}}' ;;
esac
for n in 1 2; do
  host_create "$n"
  tartand_start "$n"
done
for n in 1 2; do
  wait_ready "$n"
  pod_create "$n"
done
wait_for 10 "h2's path to h1" peer_follows 2 1
pods_talk
subnet1=$(subnet_of 1)

# (1) eth0 deleted (its veth peer with it) and made again: same name and address, new index.
old_index=$(ifindex_of 1)
ip -n "$P-h1" link del eth0
t0=$(now_ms)
waits_idle "interface eth0 is gone; waiting for it"
eth0_make 1 "$(host_ip 1)"
[ "$(ifindex_of 1)" != "$old_index" ] || fail "eth0 came back with the same index"
recovered "eth0 made again (index $old_index -> $(ifindex_of 1))" "$t0"
grep -q "interface eth0 changed: index $old_index -> $(ifindex_of 1)" "$E2E_WORK/tartand-h1.log" ||
  fail "tartand did not say the interface changed"

# (2) a new address: the lease carries the new public IP, same subnet, and the peer follows.
old_ip=$(host_ip 1)
HOST_IP[1]=$E2E_UNDERLAY_NET.21
# (Removed first: without promote_secondaries, deleting the primary takes the other along.)
ip -n "$P-h1" addr del "$old_ip/24" dev eth0
ip -n "$P-h1" addr add "$(host_ip 1)/24" dev eth0
ip -n "$P-h1" route replace default via "$E2E_UNDERLAY_NET.1"
t0=$(now_ms)
wait_for 20 "h1's lease $subnet1 with PublicIP $(host_ip 1)" lease_has_public_ip "$subnet1" "$(host_ip 1)"
[ "$(subnet_of 1)" = "$subnet1" ] || fail "h1's subnet changed from $subnet1 to $(subnet_of 1)"
n_leases=$(etcdctl_v3 get --prefix /coreos.com/network/subnets/ --keys-only | grep -c subnets/)
[ "$n_leases" = 2 ] || fail "$n_leases leases in etcd, not 2: $(etcdctl_v3 get --prefix /coreos.com/network/subnets/)"
recovered "address $old_ip -> $(host_ip 1)" "$t0"

# (3) down and up again.
ip -n "$P-h1" link set eth0 down
t0=$(now_ms)
waits_idle "interface eth0 is down; waiting for it to come up"
ip -n "$P-h1" link set eth0 up
ip -n "$P-h1" route replace default via "$E2E_UNDERLAY_NET.1"
recovered "eth0 down and up" "$t0"

# (4) a smaller MTU on eth0: the device and FLANNEL_MTU follow (pods started from now on get it).
case "$BACKEND" in
  vxlan) want_mtu=1350 ;;
  udp) want_mtu=1372 ;;
  host-gw) want_mtu=1400 ;;
esac
ip -n "$P-h1" link set eth0 mtu 1400
wait_for 20 "FLANNEL_MTU=$want_mtu in h1's subnet.env" grep -qx "FLANNEL_MTU=$want_mtu" "$E2E_WORK/h1/subnet.env"
case "$BACKEND" in
  vxlan) wait_for 10 "flannel.1 mtu $want_mtu" sh -c "ip -n $P-h1 link show flannel.1 | grep -q 'mtu $want_mtu '" ;;
  udp) wait_for 10 "flannel0 mtu $want_mtu" sh -c "ip -n $P-h1 link show flannel0 | grep -q 'mtu $want_mtu '" ;;
esac
[ "$(subnet_of 1)" = "$subnet1" ] || fail "h1's subnet changed with the MTU"
wait_ready 1 20
pods_talk
log "eth0 mtu 1400: FLANNEL_MTU $want_mtu, same subnet, pods talk"

log "PASS iface $BACKEND"
