#!/usr/bin/env bash
# End-to-end: `tartanctl doctor` (issue 12). Each fault is planted in a host namespace, doctor
# (run there with `ip netns exec`, with tartand's own flags) must print its FAIL (or WARN) line
# and exit non-zero on FAIL; the fault is repaired and the line must read OK.
# Faults in the kernel's routes, FDB and neighbours are planted while h1's tartand is stopped
# (SIGSTOP: it would repair them within milliseconds), which also shows that doctor checks the
# kernel against etcd without the agent; each is repaired with the fix command doctor printed.
#   doctor.sh faults|vxlan
set -euo pipefail
source "$(dirname "$0")/lib.sh"
require_root
[ -x "$TARTAND" ] || fail "tartand not built at $TARTAND"
: "${TARTANCTL:=$(dirname "$TARTAND")/tartanctl}"
[ -x "$TARTANCTL" ] || fail "tartanctl not built at $TARTANCTL"

HOSTGW_CONFIG='{"Network":"10.244.0.0/16","Backend":{"Type":"host-gw"}}'
# tartand's line on h1, reused by tartanctl (as an operator would).
FLAGS=()

doctor() {  # doctor: runs doctor on h1; output in $E2E_WORK/doctor.txt, exit status returned
  local rc=0
  in_ns "$P-h1" "$TARTANCTL" doctor "${FLAGS[@]}" >"$E2E_WORK/doctor.txt" 2>&1 || rc=$?
  return $rc
}
# expect <level> <check>: doctor prints "<LEVEL> <check>:" (and exits 1 exactly when FAIL).
expect() {
  local level=$1 check=$2 rc=0
  doctor || rc=$?
  if ! grep -qE "^$level +$check:" "$E2E_WORK/doctor.txt"; then
    cat "$E2E_WORK/doctor.txt" >&2
    fail "doctor: expected $level $check"
  fi
  if [ "$level" = FAIL ] && [ $rc -ne 1 ]; then fail "doctor exited $rc with a FAIL line"; fi
  log "doctor: $(grep -E "^$level +$check:" "$E2E_WORK/doctor.txt" | cut -c1-150)"
}
# fix <check>: runs, in h1, the command doctor's last output gives to fix <check> (up to a ';').
fix() {
  local cmd
  cmd=$(grep -A1 -E "^(FAIL|WARN) +$1:" "$E2E_WORK/doctor.txt" | sed -n 's/^ *fix: //p' | cut -d';' -f1)
  [ -n "$cmd" ] || fail "doctor printed no fix for $1"
  log "fix: $cmd"
  in_ns "$P-h1" bash -c "$cmd"
}
# plant <check> <command...>: runs the command in h1 (the fault), expects FAIL <check>, runs
# doctor's fix and expects OK <check>.
plant() {
  local check=$1
  shift
  in_ns "$P-h1" "$@"
  expect FAIL "$check"
  fix "$check"
  expect OK "$check"
}
expect_ok_all() {
  doctor || { cat "$E2E_WORK/doctor.txt" >&2; fail "doctor failed on a healthy host"; }
  ! grep -qE '^(FAIL|WARN)' "$E2E_WORK/doctor.txt" || { cat "$E2E_WORK/doctor.txt" >&2; fail "doctor not all OK"; }
}

scenario_faults() {
  underlay_create
  etcd_start
  network_config_put "$HOSTGW_CONFIG"
  host_create 1
  host_create 2
  # No firewall help from tartand on h1, so the planted firewall faults stay planted.
  FLAGS=(--etcd-endpoints="$E2E_ETCD" --iface=eth0 --subnet-file="$E2E_WORK/h1/subnet.env"
    --healthz-ip=127.0.0.1 --healthz-port=2401 --keep-pod-source=false --iptables-forward-rules=false)
  mkdir -p "$E2E_WORK/h1"
  start_in_ns "$P-h1" tartand-h1 "$TARTAND" "${FLAGS[@]}"
  local pid1=$LAST_PID
  tartand_start 2
  wait_ready 1
  wait_ready 2
  in_ns "$P-h1" sysctl -qw net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.eth0.rp_filter=0
  wait_for 15 "h1 routes h2" bash -c "ip -n $P-h1 route | grep -q '^$(subnet_of 2) '"
  expect_ok_all
  doctor
  cat "$E2E_WORK/doctor.txt" >&2

  # 1. docker's MASQUERADE with --bip on the pod subnet, nothing in front of it.
  local s1
  s1=$(subnet_of 1)
  in_ns "$P-h1" iptables -t nat -A POSTROUTING -s "$s1" ! -o docker0 -j MASQUERADE
  expect FAIL masquerade
  in_ns "$P-h1" iptables -t nat -D POSTROUTING -s "$s1" ! -o docker0 -j MASQUERADE
  expect OK masquerade

  # 2. FORWARD policy DROP without a rule for the network.
  in_ns "$P-h1" iptables -P FORWARD DROP
  expect FAIL forward
  in_ns "$P-h1" iptables -A FORWARD -s 10.244.0.0/16 -j ACCEPT
  expect OK forward
  in_ns "$P-h1" iptables -D FORWARD -s 10.244.0.0/16 -j ACCEPT
  in_ns "$P-h1" iptables -P FORWARD ACCEPT

  # 3. ip_forward off.
  in_ns "$P-h1" sysctl -qw net.ipv4.ip_forward=0
  expect FAIL ip_forward
  in_ns "$P-h1" sysctl -qw net.ipv4.ip_forward=1
  expect OK ip_forward

  # 4. Strict rp_filter on the external interface.
  in_ns "$P-h1" sysctl -qw net.ipv4.conf.eth0.rp_filter=1
  expect WARN rp_filter
  in_ns "$P-h1" sysctl -qw net.ipv4.conf.eth0.rp_filter=2
  expect OK rp_filter

  # 5. A pod bridge with a larger MTU than FLANNEL_MTU.
  ip -n "$P-h1" link add cni0 type bridge
  ip -n "$P-h1" link set cni0 mtu 9000
  expect FAIL bridge_mtu
  ip -n "$P-h1" link set cni0 mtu 1500
  expect OK bridge_mtu

  # 6. subnet.env disagreeing with the lease.
  cp "$E2E_WORK/h1/subnet.env" "$E2E_WORK/subnet.env.good"
  sed -i 's/^FLANNEL_SUBNET=.*/FLANNEL_SUBNET=10.244.250.1\/24/' "$E2E_WORK/h1/subnet.env"
  expect FAIL subnet_env
  cp "$E2E_WORK/subnet.env.good" "$E2E_WORK/h1/subnet.env"
  expect OK subnet_env

  # 7. Peer routes, with the agent stopped: one missing, a stale one for a subnet no lease has
  # (tartan's protocol), one through the wrong gateway.
  local s2
  s2=$(subnet_of 2)
  kill -STOP "$pid1"
  plant peer_routes ip route del "$s2"
  plant peer_routes ip route add 10.244.252.0/24 via 192.0.2.99 dev eth0 proto 84
  plant peer_routes ip route replace "$s2" via 192.0.2.99 dev eth0 proto 84
  kill -CONT "$pid1"
  wait_ready 1
  # Another program's route where a peer's should be: tartand leaves it alone, doctor names it.
  in_ns "$P-h1" ip route replace "$s2" via 192.0.2.99 dev eth0
  expect FAIL peer_routes
  grep -q "route(s) not installable: $s2 via $(host_ip 2) dev eth0 (blocked by $s2 via 192.0.2.99 dev eth0 proto boot)" \
    "$E2E_WORK/doctor.txt" || { cat "$E2E_WORK/doctor.txt" >&2; fail "the blocking route not named"; }
  fix peer_routes
  wait_for 15 "tartand routes h2 again" bash -c "ip -n $P-h1 route | grep -Eq '^$s2 (nhid [0-9]+ )?via $(host_ip 2) .*proto 84'"
  expect OK peer_routes

  # 8. A peer lease without a path (no public IP).
  etcdctl_v3 put /coreos.com/network/subnets/10.244.251.0-24 '{"PublicIP":"0.0.0.0","PublicIPv6":null,"BackendType":"host-gw"}' >/dev/null
  wait_for 15 "doctor warns about the peer" bash -c "ip netns exec $P-h1 $TARTANCTL doctor ${FLAGS[*]} | grep -q '^WARN peers:.*10.244.251.0/24'"
  expect WARN peers
  etcdctl_v3 del /coreos.com/network/subnets/10.244.251.0-24 >/dev/null
  wait_for 15 "doctor's peers OK again" bash -c "ip netns exec $P-h1 $TARTANCTL doctor ${FLAGS[*]} | grep -q '^OK   peers:'"
  expect OK peers

  # 9. The agent not running.
  kill -TERM "$pid1"
  wait "$pid1" 2>/dev/null || true
  expect FAIL agent
  start_in_ns "$P-h1" tartand-h1 "$TARTAND" "${FLAGS[@]}"
  wait_ready 1
  expect OK agent
  expect_ok_all
}

# vxlan: routes, flannel.1's FDB and neighbour entries (missing, stale, wrong VTEP, a peer gone
# from etcd), and TX checksum offload on although the config asks it off.
scenario_vxlan() {
  command -v ethtool >/dev/null || fail "ethtool not installed (scripts/install-deps.sh)"
  underlay_create
  etcd_start
  network_config_put '{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan","TxChecksumOffload":false}}'
  host_create 1
  host_create 2
  FLAGS=(--etcd-endpoints="$E2E_ETCD" --iface=eth0 --subnet-file="$E2E_WORK/h1/subnet.env"
    --healthz-ip=127.0.0.1 --healthz-port=2401)
  mkdir -p "$E2E_WORK/h1"
  start_in_ns "$P-h1" tartand-h1 "$TARTAND" "${FLAGS[@]}"
  local pid1=$LAST_PID
  tartand_start 2
  local pid2=$LAST_PID
  wait_ready 1
  wait_ready 2
  in_ns "$P-h1" sysctl -qw net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.eth0.rp_filter=0
  local s2 vtep2 mac2 ip2
  s2=$(subnet_of 2)
  vtep2=${s2%/*}
  ip2=$(host_ip 2)
  mac2=$(ip -n "$P-h2" -br link show flannel.1 | awk '{print $3}')
  wait_for 15 "h1 has h2's fdb entry" bash -c "bridge -n $P-h1 fdb show dev flannel.1 | grep -q '^$mac2 dst $ip2'"
  expect_ok_all
  cat "$E2E_WORK/doctor.txt" >&2

  kill -STOP "$pid1"
  # Routes: missing, stale (tartan's protocol, no lease), wrong gateway.
  plant peer_routes ip route del "$s2"
  plant peer_routes ip route add 10.244.252.0/24 via 10.244.252.0 dev flannel.1 onlink proto 84
  # FDB: h2's entry missing, a stale one, h2's MAC pointing at a wrong VTEP.
  plant fdb bridge fdb del "$mac2" dev flannel.1 dst "$ip2" self
  plant fdb bridge fdb append 42:00:00:00:00:09 dev flannel.1 dst 192.0.2.99 self permanent
  plant fdb bridge fdb replace "$mac2" dev flannel.1 dst 192.0.2.99 self permanent
  # Neighbours: h2's missing, a stale one, h2's VTEP address with a wrong MAC.
  plant neighbours ip neigh del "$vtep2" dev flannel.1
  plant neighbours ip neigh add 10.244.252.0 lladdr 42:00:00:00:00:09 dev flannel.1 nud permanent
  plant neighbours ip neigh replace "$vtep2" lladdr 42:00:00:00:00:09 dev flannel.1 nud permanent

  # A peer gone from etcd (h2 stopped too, so it does not write its lease again): every entry
  # h1 has for it is stale.
  kill -STOP "$pid2"
  local key value
  key=$(etcdctl_v3 get --prefix --keys-only /coreos.com/network/subnets/ | grep "${s2%/*}-${s2#*/}")
  value=$(etcdctl_v3 get --print-value-only "$key")
  etcdctl_v3 del "$key" >/dev/null
  expect FAIL fdb
  grep -q "stale (a peer gone from etcd, or its old VTEP/MAC): $mac2 dst $ip2" "$E2E_WORK/doctor.txt" ||
    { cat "$E2E_WORK/doctor.txt" >&2; fail "h2's fdb entry not called stale"; }
  expect FAIL neighbours
  expect FAIL peer_routes
  etcdctl_v3 put "$key" "$value" >/dev/null
  expect OK fdb
  expect OK neighbours
  expect OK peer_routes
  kill -CONT "$pid2" "$pid1"
  wait_ready 1

  # TX checksum offload back on although the config says TxChecksumOffload false (tartan turns
  # it off only when it creates the device).
  plant tx_checksum ethtool -K flannel.1 tx-checksum-ip-generic on
  expect_ok_all
}

case "${1:-}" in
  faults) scenario_faults ;;
  vxlan) scenario_vxlan ;;
  *) echo "usage: $0 faults|vxlan" >&2; exit 2 ;;
esac
log "PASS doctor $1"
