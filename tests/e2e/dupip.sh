#!/usr/bin/env bash
# End-to-end: two hosts given the same public IP (issue #10, docs/adr/0013). The second must
# not take the lease the first keeps renewing, must say why and stay not ready; the first
# keeps its subnet across a restart; once it is gone for good the second takes the lease over
# after the heartbeat window. A host whose owner record was lost (a reboot) gets its own lease
# back after at most the window.
#   dupip.sh vxlan-shared-ip | hostgw-lost-record | hostgw-lost-record-v2
set -euo pipefail
source "$(dirname "$0")/lib.sh"
require_root
[ -x "$TARTAND" ] || fail "tartand not built at $TARTAND"

# A short heartbeat keeps the test short: window = 2 x 3 s + 2 s.
export TARTAN_LEASE_HEARTBEAT_SECONDS=3
WINDOW=8

API=v3
etcdctl_v2() { in_ns "$P-ul" env ETCDCTL_API=2 etcdctl --endpoints="$E2E_ETCD" "$@"; }
lease_keys() {
  if [ "$API" = v2 ]; then
    etcdctl_v2 ls /coreos.com/network/subnets
  else
    etcdctl_v3 get /coreos.com/network/subnets/ --prefix --keys-only | grep -v '^$'
  fi
}
lease_json_at() { etcdctl_v3 get "/coreos.com/network/subnets/$(echo "$1" | tr / -)" --print-value-only; }
vtep_mac_of() { lease_json_at "$(subnet_of "$1")" | sed -n 's/.*"VtepMAC":"\([0-9a-f:]*\)".*/\1/p'; }
readyz_body() { in_ns "$P-h$1" curl -sS -m 1 "http://127.0.0.1:2401/readyz" || true; }
has_vxlan_route() {  # has_vxlan_route <on> <to>
  routes_of "$1" | grep >/dev/null -c "^$(subnet_of "$2") via $(subnet_of "$2" | cut -d/ -f1) dev flannel.1"
}
stop_tartand() {  # stop_tartand <n>: SIGTERM, wait for the clean exit
  kill -TERM "${TARTAND_PID[$1]}"
  wait "${TARTAND_PID[$1]}" || fail "tartand h$1 exited with $?"
}
logged() { grep >/dev/null -c "$2" "$E2E_WORK/tartand-h$1.log"; }

scenario_vxlan_shared_ip() {
  underlay_create
  etcd_start
  network_config_put '{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan"}}'
  local n
  for n in 1 3; do
    host_create "$n"
    tartand_start "$n"
  done
  for n in 1 3; do
    wait_ready "$n"
    pod_create "$n"
  done
  wait_for 10 "h3's vxlan route to h1" has_vxlan_route 3 1
  local sub1 mac1
  sub1=$(subnet_of 1)
  mac1=$(vtep_mac_of 1)

  # Host 2 configured with host 1's public IP.
  host_create 2
  tartand_start 2 --public-ip="$(host_ip 1)"
  local t0
  t0=$(now_ms)
  wait_for $((WINDOW + 10)) "h2 to say another host renews the lease" \
    logged 2 "cannot share a public IP"
  log "h2 refused h1's lease after $(($(now_ms) - t0)) ms: $(grep -m1 'cannot share a public IP' "$E2E_WORK/tartand-h2.log" | cut -c1-400)"
  logged 2 "Two hosts cannot share a public IP" || fail "h2's log does not say what is wrong"
  logged 2 "$(host_ip 1)" || fail "h2's log does not name the IP"
  readyz 2 >/dev/null 2>&1 && fail "h2 reports ready while it has no lease"
  readyz_body 2 | grep -q "another host renews it" || fail "h2's /readyz does not show why: $(readyz_body 2)"
  [ -e "$E2E_WORK/h2/subnet.env" ] && fail "h2 wrote a subnet.env: $(cat "$E2E_WORK/h2/subnet.env")"
  [ "$(lease_keys | wc -l)" -eq 2 ] || fail "a lease was added for the shared IP: $(lease_keys)"
  [ "$(vtep_mac_of 1)" = "$mac1" ] || fail "h1's lease was re-written"
  logged 2 "reusing lease" && fail "h2 reused h1's lease"
  # h1 and its peers are undisturbed.
  readyz 1 >/dev/null || fail "h1 is no longer ready"
  has_vxlan_route 3 1 || fail "h3 lost its route to h1"
  has_vxlan_route 1 3 || fail "h1 lost its route to h3"
  wait_for 5 "pod h3 -> pod h1" pod_ping 3 1
  # Still refused a window later: h2 keeps checking and h1 keeps renewing.
  sleep "$WINDOW"  # the time to observe, not a synchronisation
  [ "$(lease_keys | wc -l)" -eq 2 ] && [ "$(vtep_mac_of 1)" = "$mac1" ] || fail "h2 took the lease while h1 runs"
  [ "$(grep -c 'cannot share a public IP' "$E2E_WORK/tartand-h2.log")" -le 3 ] ||
    fail "h2 repeats the refusal on every retry: $(grep -c 'cannot share a public IP' "$E2E_WORK/tartand-h2.log") lines"

  # h1 restarts (same host, owner record kept): its own subnet at once.
  stop_tartand 1
  t0=$(now_ms)
  tartand_start 1
  wait_ready 1 10
  local restart_ms=$(($(now_ms) - t0))
  [ "$(subnet_of 1)" = "$sub1" ] || fail "h1 came back with $(subnet_of 1), not $sub1"
  [ "$restart_ms" -lt $((WINDOW * 1000)) ] || fail "h1's restart waited ${restart_ms} ms (the window is ${WINDOW}s)"
  grep -c "previous holder is gone" "$E2E_WORK/tartand-h1.log" >/dev/null &&
    fail "h1 took its own lease as a stranger's"
  log "h1 restarted and reused its own subnet $sub1 in ${restart_ms} ms"
  wait_for 10 "h3's vxlan route to h1 after the restart" has_vxlan_route 3 1
  wait_for 5 "pod h3 -> pod h1 after the restart" pod_ping 3 1
  readyz 2 >/dev/null 2>&1 && fail "h2 became ready while h1 runs"

  # h1 stops for good: h2 takes the lease once nobody renewed it for the window.
  stop_tartand 1
  t0=$(now_ms)
  wait_for $((WINDOW + 20)) "h2 to take over the abandoned lease" readyz 2
  local takeover_ms=$(($(now_ms) - t0))
  [ "$(subnet_of 2)" = "$sub1" ] || fail "h2 got $(subnet_of 2), not the abandoned $sub1"
  logged 2 "previous holder is gone" || fail "h2 does not say why it took the lease"
  [ "$(lease_keys | wc -l)" -eq 2 ] || fail "lease count changed: $(lease_keys)"
  log "h1 stopped for good: h2 took $sub1 over after ${takeover_ms} ms (window ${WINDOW}s, agent retry 5s)"
}

scenario_hostgw_lost_record() {  # [v2]: in etcd's v2 key space, as flanneld v0.11 keeps it
  API=${1:-v3}
  underlay_create
  etcd_start
  if [ "$API" = v2 ]; then
    etcdctl_v2 set /coreos.com/network/config '{"Network":"10.244.0.0/16","Backend":{"Type":"host-gw"}}' >/dev/null
  else
    network_config_put '{"Network":"10.244.0.0/16","Backend":{"Type":"host-gw"}}'
  fi
  local n
  for n in 1 2; do
    host_create "$n"
    tartand_start "$n"
  done
  for n in 1 2; do wait_ready "$n"; done
  local sub1 t0
  sub1=$(subnet_of 1)
  [ -s "$E2E_WORK/h1/subnet.env.lease" ] || fail "h1 keeps no owner record"
  # A reboot: tartand gone, /run emptied (subnet.env and the owner record), started at once
  # -- the worst case, the lease was refreshed moments ago.
  stop_tartand 1
  rm -f "$E2E_WORK/h1/subnet.env" "$E2E_WORK/h1/subnet.env.lease"
  t0=$(now_ms)
  tartand_start 1
  wait_for $((WINDOW + 10)) "h1 ready again" readyz 1
  local ms=$(($(now_ms) - t0))
  [ "$(subnet_of 1)" = "$sub1" ] || fail "h1 came back with $(subnet_of 1), not its $sub1"
  logged 1 "previous holder is gone" || fail "h1 does not say why it waited"
  [ "$ms" -le $(((WINDOW + 3) * 1000)) ] || fail "h1 waited ${ms} ms, more than the window"
  [ "$(lease_keys | wc -l)" -eq 2 ] || fail "lease count changed: $(lease_keys)"
  log "etcd $API: h1 rebooted without its record: reused $sub1 after ${ms} ms (window ${WINDOW}s)"
  # With the record back, the next restart is immediate.
  stop_tartand 1
  t0=$(now_ms)
  tartand_start 1
  wait_ready 1 10
  log "h1 restarted with its record: ready in $(($(now_ms) - t0)) ms"
}

case "${1:-}" in
  vxlan-shared-ip) scenario_vxlan_shared_ip ;;
  hostgw-lost-record) scenario_hostgw_lost_record ;;
  hostgw-lost-record-v2) scenario_hostgw_lost_record v2 ;;
  *) echo "usage: $0 vxlan-shared-ip|hostgw-lost-record|hostgw-lost-record-v2" >&2; exit 2 ;;
esac
log "PASS dupip $1"
