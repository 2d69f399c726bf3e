#!/usr/bin/env bash
# End-to-end: etcd wiped, or restored from an older snapshot, under running tartand hosts
# (host-gw; issue 10 item 2, docs/adr/0014).
#   restore.sh wipe-v3 | snapshot-v3 | wipe-taken-v3 | wipe-v2 | snapshot-v2 | wipe-taken-v2
# Each host must notice the reset within seconds of etcd answering again, take its lease again
# (the same subnet, as it is free), and route to every peer again; routes to peers whose keys
# the restored store still holds must not blip.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
require_root
[ -x "$TARTAND" ] || fail "tartand not built at $TARTAND"

HOSTGW_CONFIG='{"Network":"10.244.0.0/16","Backend":{"Type":"host-gw"}}'
API=v3

etcdctl_v2() { in_ns "$P-ul" env ETCDCTL_API=2 etcdctl --endpoints="$E2E_ETCD" "$@"; }

config_put() {
  if [ "$API" = v2 ]; then
    etcdctl_v2 set /coreos.com/network/config "$HOSTGW_CONFIG" >/dev/null
  else
    network_config_put "$HOSTGW_CONFIG"
  fi
}

lease_key() { echo "/coreos.com/network/subnets/$(subnet_of "$1" | tr / -)"; }

# lease_is_of <n>: host n's key holds host n's public IP (and, in v3, a live etcd lease).
lease_is_of() {
  local key value id
  key=$(lease_key "$1")
  if [ "$API" = v2 ]; then
    value=$(etcdctl_v2 get "$key" 2>/dev/null) || return 1
    grep >/dev/null -cF "\"PublicIP\":\"$(host_ip "$1")\"" <<<"$value"
    return
  fi
  value=$(etcdctl_v3 get "$key" --print-value-only) || return 1
  grep >/dev/null -cF "\"PublicIP\":\"$(host_ip "$1")\"" <<<"$value" || return 1
  id=$(etcdctl_v3 get "$key" -w fields | sed -n 's/^"Lease" : //p')
  [ -n "$id" ] && [ "$id" != 0 ] || return 1
  etcdctl_v3 lease timetolive "$(printf '%x' "$id")" | grep >/dev/null -c "remaining("
}

has_route_to() {  # has_route_to <host n> <subnet> <via ip>
  routes_of "$1" | grep >/dev/null -c "^$2 via $3 dev eth0 proto 84"
}

all_routed() {  # every host routes to every other
  local a b
  for a in "$@"; do
    for b in "$@"; do
      [ "$a" = "$b" ] && continue
      has_route_to "$a" "$(subnet_of "$b")" "$(host_ip "$b")" || return 1
    done
  done
}

cluster() {  # cluster <hosts...>
  local n
  underlay_create
  etcd_start
  config_put
  for n in "$@"; do
    host_create "$n"
    tartand_start "$n" --etcd-api="$API"
  done
  for n in "$@"; do
    wait_ready "$n"
    pod_create "$n"
  done
  wait_for 15 "every host routed to every other" all_routed "$@"
}

etcd_stop() {
  kill -TERM "$E2E_ETCD_PID"
  wait "$E2E_ETCD_PID" 2>/dev/null || true
}

store_revision() {
  if [ "$API" = v2 ]; then
    in_ns "$P-ul" curl -fsS -o /dev/null -D - "$E2E_ETCD/v2/keys/" | sed -n 's/^X-Etcd-Index: //Ip' | tr -d '\r'
  else
    etcdctl_v3 endpoint status -w fields | sed -n 's/^"Revision" : //p'
  fi
}

# Milliseconds since the epoch of the first log line of host n matching the pattern after
# the line number `from` (tartand stamps its lines in UTC, ms).
log_ms() {  # log_ms <n> <from line> <pattern>
  local line
  line=$(tail -n +"$(($2 + 1))" "$E2E_WORK/tartand-h$1.log" | grep -m1 -- "$3") || return 1
  date -d "${line%% *}" +%s%3N
}
log_lines() { wc -l <"$E2E_WORK/tartand-h$1.log"; }

# Records, per host, when it noticed the reset and when it had its lease and peers again.
report_delays() {  # report_delays <etcd started ms> <etcd answering ms> <hosts...>
  local t_start=$1 t_up=$2 n noticed acquired peers from
  shift 2
  log "etcd answered $((t_up - t_start)) ms after it was started"
  declare -A mark
  for n in "$@"; do mark[$n]=${MARK[$n]}; done
  for n in "$@"; do
    from=${mark[$n]}
    noticed=$(log_ms "$n" "$from" "etcd was restored from a backup or wiped") || noticed=
    acquired=$(log_ms "$n" "$from" "lease acquired") || fail "h$n did not take its lease again"
    peers=$(log_ms "$n" "$from" "peers: ") || fail "h$n did not list its peers again"
    if [ -n "$noticed" ]; then
      log "h$n: reset noticed $((noticed - t_start)) ms after etcd started; lease taken again $((acquired - noticed)) ms and peers listed again $((peers - noticed)) ms after noticing"
    else
      log "h$n: listed again after the outage (its own key gone), lease taken again $((acquired - t_start)) ms after etcd started"
    fi
  done
}

declare -A MARK SUBNET_BEFORE

check_after() {  # check_after <hosts...>: same subnets, keys back, routes, pods ping
  local a b
  for a in "$@"; do
    wait_for 20 "h$a's lease back in etcd" lease_is_of "$a"
  done
  wait_for 20 "every host routed to every other again" all_routed "$@"
  for a in "$@"; do
    [ "$(subnet_of "$a")" = "${SUBNET_BEFORE[$a]}" ] ||
      fail "h$a moved from ${SUBNET_BEFORE[$a]} to $(subnet_of "$a")"
    kill -0 "${TARTAND_PID[$a]}" || fail "tartand on h$a exited"
    wait_ready "$a" 10
    for b in "$@"; do
      [ "$a" = "$b" ] && continue
      wait_for 5 "pod h$a -> pod h$b" pod_ping "$a" "$b"
    done
  done
  log "every host has its old subnet and lease again, routes to all peers, pods ping"
}

# (1) etcd wiped: stopped, data directory deleted, started empty, config put again.
scenario_wipe() {
  cluster 1 2
  local n t_start t_up before after
  for n in 1 2; do SUBNET_BEFORE[$n]=$(subnet_of $n); done
  before=$(store_revision)
  start_in_ns "$P-h1" routes-h1 ip -4 monitor route
  for n in 1 2; do MARK[$n]=$(log_lines $n); done
  etcd_stop
  rm -rf "$E2E_WORK/etcd"
  t_start=$(now_ms)
  etcd_start
  t_up=$(now_ms)
  config_put
  after=$(store_revision)
  log "etcd wiped: store revision $before before, $after after (config put again)"
  check_after 1 2
  report_delays "$t_start" "$t_up" 1 2
  # Noticed as a reset (or, racing other hosts, as its own key gone after the outage).
  for n in 1 2; do
    grep -q "etcd was restored from a backup or wiped\|is not in etcd\|was deleted from etcd" \
      <(tail -n +"$((MARK[$n] + 1))" "$E2E_WORK/tartand-h$n.log") ||
      fail "h$n: the wipe was not noticed in its log"
  done
  # The wiped store held no keys: a peer is routed again once it has re-created its own, so
  # its route may go for that moment (said, not failed: the peer was gone from etcd).
  if grep "^Deleted" "$E2E_WORK/routes-h1.log" | grep >/dev/null -E "^Deleted ${SUBNET_BEFORE[2]} (nhid [0-9]+ )?via"; then
    log "h1's route to h2 went while h2 re-created its key, and came back"
  else
    log "h1's route to h2 never went during the wipe ($(wc -l <"$E2E_WORK/routes-h1.log") route changes seen on h1)"
  fi
}

# (2) a snapshot saved early, more happening after it (a host joins, another restarts and
# takes its lease with a new etcd lease, extra writes), then etcd restored from the snapshot.
scenario_snapshot() {
  cluster 1 2
  local n t_start t_up before after backup="$E2E_WORK/backup.db"
  in_ns "$P-ul" env ETCDCTL_API=3 etcdctl --endpoints="$E2E_ETCD" snapshot save "$backup" \
    >"$E2E_WORK/snapshot-save.log" 2>&1 || fail "etcdctl snapshot save: $(cat "$E2E_WORK/snapshot-save.log")"
  # After the snapshot: h3 joins, h2 restarts (its key moves to a new etcd lease), the
  # network's other keys change a few times.
  host_create 3
  tartand_start 3 --etcd-api="$API"
  wait_ready 3
  pod_create 3
  kill -TERM "${TARTAND_PID[2]}"
  wait "${TARTAND_PID[2]}" || fail "tartand h2 did not stop cleanly"
  tartand_start 2 --etcd-api="$API"
  wait_ready 2
  wait_for 15 "every host routed to every other" all_routed 1 2 3
  for n in 1 2 3 4 5; do
    if [ "$API" = v2 ]; then
      etcdctl_v2 set /coreos.com/network/e2e-note "$n" >/dev/null
    else
      etcdctl_v3 put /coreos.com/network/e2e-note "$n" >/dev/null
    fi
  done
  for n in 1 2 3; do SUBNET_BEFORE[$n]=$(subnet_of $n); done
  before=$(store_revision)
  # Routes of h1 to h2 (in the snapshot all along) must not blip: record every route change.
  start_in_ns "$P-h1" routes-h1 ip -4 monitor route
  for n in 1 2 3; do MARK[$n]=$(log_lines $n); done
  etcd_stop
  mv "$E2E_WORK/etcd" "$E2E_WORK/etcd.before-restore"
  in_ns "$P-ul" env ETCDCTL_API=3 etcdctl snapshot restore "$backup" --name e2e \
    --data-dir "$E2E_WORK/etcd" --initial-cluster e2e=http://127.0.0.1:2380 \
    --initial-advertise-peer-urls http://127.0.0.1:2380 >"$E2E_WORK/restore.log" 2>&1 ||
    fail "etcdctl snapshot restore: $(cat "$E2E_WORK/restore.log")"
  t_start=$(now_ms)
  etcd_start
  t_up=$(now_ms)
  after=$(store_revision)
  log "etcd restored from the snapshot: store revision $before before, $after after"
  if [ "$API" = v2 ]; then
    # etcdctl snapshots hold the v3 store only: the v2 keys are gone, as after a wipe.
    config_put
  else
    [ "$after" -lt "$before" ] || fail "the restored store is not behind ($after >= $before)"
  fi
  check_after 1 2 3
  report_delays "$t_start" "$t_up" 1 2 3
  if [ "$API" = v3 ]; then
    # The restored store still had h1's and h2's keys: routes between them never went.
    if grep -E "^Deleted ${SUBNET_BEFORE[2]} (nhid [0-9]+ )?via" "$E2E_WORK/routes-h1.log"; then
      fail "h1's route to h2 blipped during the restore"
    fi
    log "h1's route to h2 (in the snapshot) never went during the restore ($(wc -l <"$E2E_WORK/routes-h1.log") route changes seen on h1: $(tr '\n' ';' <"$E2E_WORK/routes-h1.log")"
  fi
}

# (3) wiped, and before h1 gets to it another host takes h1's old subnet: h1 takes another one
# by the ordinary order, says so loudly and rewrites subnet.env; h2 routes to the new one.
# (h1 is held with SIGSTOP across the wipe so that the other host is first, deterministically.)
scenario_wipe_taken() {
  cluster 1 2
  local old new key id
  old=$(subnet_of 1)
  key=$(lease_key 1)
  kill -STOP "${TARTAND_PID[1]}"
  etcd_stop
  rm -rf "$E2E_WORK/etcd"
  etcd_start
  config_put
  if [ "$API" = v2 ]; then
    etcdctl_v2 set --ttl 600 "$key" '{"PublicIP":"192.0.2.99","BackendType":"host-gw"}' >/dev/null
  else
    id=$(etcdctl_v3 lease grant 600 | sed -n 's/^lease \([0-9a-f]*\) granted.*/\1/p')
    etcdctl_v3 put --lease="$id" "$key" '{"PublicIP":"192.0.2.99","BackendType":"host-gw"}' >/dev/null
  fi
  kill -CONT "${TARTAND_PID[1]}"
  wait_for 20 "h1 to move to another subnet" sh -c "! grep -q 'FLANNEL_SUBNET=${old%.0/*}.1/' $E2E_WORK/h1/subnet.env"
  new=$(subnet_of 1)
  log "h1's subnet $old was taken by another host during the wipe; h1 now has $new"
  grep >/dev/null -c "our subnet changed from ${old/\//-} to ${new/\//-}" "$E2E_WORK/tartand-h1.log" ||
    fail "the subnet change was not logged loudly"
  wait_for 20 "h1's new lease in etcd" lease_is_of 1
  wait_for 20 "h2 routes to h1's new subnet" has_route_to 2 "$new" "$(host_ip 1)"
  wait_for 20 "h1 routes to h2 again" has_route_to 1 "$(subnet_of 2)" "$(host_ip 2)"
  kill -0 "${TARTAND_PID[1]}" || fail "tartand on h1 exited"
}

case "${1:-}" in
  wipe-v3 | snapshot-v3 | wipe-v2 | snapshot-v2 | wipe-taken-v3 | wipe-taken-v2) API=${1##*-} ;;
  *) echo "usage: $0 wipe-v3|snapshot-v3|wipe-taken-v3|wipe-v2|snapshot-v2|wipe-taken-v2" >&2; exit 2 ;;
esac
case "$1" in
  wipe-taken-*) scenario_wipe_taken ;;
  wipe-*) scenario_wipe ;;
  snapshot-*) scenario_snapshot ;;
esac
log "PASS restore $1"
