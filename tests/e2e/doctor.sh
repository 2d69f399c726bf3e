#!/usr/bin/env bash
# End-to-end: `tartanctl doctor` (issue 12). Each fault is planted in a host namespace, doctor
# (run there with `ip netns exec`, with tartand's own flags) must print its FAIL (or WARN) line
# and exit non-zero on FAIL; the fault is repaired and the line must read OK.
#   doctor.sh faults
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

  # 7. A peer lease without a path (no public IP).
  etcdctl_v3 put /coreos.com/network/subnets/10.244.251.0-24 '{"PublicIP":"0.0.0.0","PublicIPv6":null,"BackendType":"host-gw"}' >/dev/null
  wait_for 15 "doctor warns about the peer" bash -c "ip netns exec $P-h1 $TARTANCTL doctor ${FLAGS[*]} | grep -q '^WARN peers:.*10.244.251.0/24'"
  expect WARN peers
  etcdctl_v3 del /coreos.com/network/subnets/10.244.251.0-24 >/dev/null
  wait_for 15 "doctor's peers OK again" bash -c "ip netns exec $P-h1 $TARTANCTL doctor ${FLAGS[*]} | grep -q '^OK   peers:'"
  expect OK peers

  # 8. The agent not running.
  kill -TERM "$pid1"
  wait "$pid1" 2>/dev/null || true
  expect FAIL agent
  start_in_ns "$P-h1" tartand-h1 "$TARTAND" "${FLAGS[@]}"
  wait_ready 1
  expect OK agent
  expect_ok_all
}

case "${1:-}" in
  faults) scenario_faults ;;
  *) echo "usage: $0 faults" >&2; exit 2 ;;
esac
log "PASS doctor $1"
