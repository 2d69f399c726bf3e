#!/usr/bin/env bash
# End-to-end interoperability: MIXED clusters of the real flanneld (unmodified reference builds
# in ../shared/interop, see its README) and tartand on one etcd, hosts in network namespaces.
#   interop.sh v3-hostgw | v3-vxlan | v3-direct-routing | v2-hostgw | v2-vxlan
#
# Each scenario: flanneld and tartand hosts lease side by side, every host programs the path
# flannel would to every other (asserted per host, whichever agent runs it), every pod reaches
# every other pod both ways (ping of FLANNEL_MTU bytes and TCP, the receiver seeing the sender
# pod's address); then a flanneld and a tartand are killed and started again (same subnets,
# traffic again), and with vxlan one of each comes back from a "reboot" with a new VtepMAC that
# the other agents follow.
#
# Agents are named by kind: "tartand" or "flanneld-<version>" (a file of that name in the
# interop directory). The etcd API of a cluster is chosen by cluster_up (v2 or v3); config_put,
# lease_put/lease_del and lease_get speak either, so a v2 scenario is a cluster_up call with
# "v2" and flanneld-v0.11.0 hosts; tartand runs in its default --etcd-api=auto there and must
# choose v2 by itself. Set FLANNELD_V=N for flanneld -v=N.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
require_root
[ -x "$TARTAND" ] || fail "tartand not built at $TARTAND"

# The reference binaries live beside the clone: <checkout>/../shared/interop (CI clones the
# repository into a folder with shared/ beside it).
interop_dir_default() {
  local top
  top=$(git -C "$E2E_ROOT" rev-parse --show-toplevel 2>/dev/null) || top=$E2E_ROOT
  echo "$top/../shared/interop"
}
INTEROP_DIR=${TARTAN_INTEROP_DIR:-$(interop_dir_default)}

agent_bin() {
  case "$1" in
    tartand) echo "$TARTAND" ;;
    flanneld-*) echo "$INTEROP_DIR/$1" ;;
    *) fail "unknown agent kind $1" ;;
  esac
}
# require_agent <kind>: exits 77 (skipped) when that agent's binary is not there.
require_agent() {
  local bin
  bin=$(agent_bin "$1")
  if [ ! -x "$bin" ]; then
    echo "skipped: $1 not found at $bin (the reference flanneld binaries are looked for in" \
      "\$TARTAN_INTEROP_DIR, by default <repository>/../shared/interop)" >&2
    rm -rf "$E2E_WORK" # nothing ran: lib.sh's cleanup then has no logs to show
    exit 77
  fi
}

# ---- etcd, through the API the cluster runs on (ETCD_API, set by cluster_up) ----------------
ETCD_API=v3
etcdctl_v2() { in_ns "$P-ul" env ETCDCTL_API=2 etcdctl --endpoints="$E2E_ETCD" "$@"; }
LEASES=/coreos.com/network/subnets

# config_put <json>: the network config as an operator writes it for that API.
config_put() {
  case "$ETCD_API" in
    v3) etcdctl_v3 put /coreos.com/network/config "$1" >/dev/null ;;
    v2) etcdctl_v2 set /coreos.com/network/config "$1" >/dev/null ;;
  esac
}
# lease_put <key> <json>: a lease as an agent writes it, expiring (v3 etcd lease, v2 TTL).
lease_put() {
  case "$ETCD_API" in
    v3) etcdctl_v3 put --lease="$(etcdctl_v3 lease grant 600 | awk '{print $2}')" "$1" "$2" >/dev/null ;;
    v2) etcdctl_v2 set --ttl 600 "$1" "$2" >/dev/null ;;
  esac
}
lease_del() {
  case "$ETCD_API" in
    v3) etcdctl_v3 del "$1" >/dev/null ;;
    v2) etcdctl_v2 rm "$1" >/dev/null ;;
  esac
}
lease_get() {  # lease_get <key>: its JSON value
  case "$ETCD_API" in
    v3) etcdctl_v3 get --print-value-only "$1" ;;
    v2) etcdctl_v2 get "$1" ;;
  esac
}
lease_keys() {
  case "$ETCD_API" in
    v3) etcdctl_v3 get --prefix --keys-only "$LEASES" | grep . ;;
    v2) etcdctl_v2 ls "$LEASES" ;;
  esac
}

# ---- agents ---------------------------------------------------------------------------------
declare -A AGENT FLANNELD_PID SEGMENT
HOSTS=()
BACKEND_TYPE=

# flanneld_start <version> <n> [extra flags...]: the real flanneld <version> in host n, with the
# same per-host subnet file as tartand_start (pod_create reads it alike) and its log in
# $E2E_WORK/flanneld-h<n>.log (printed by lib.sh's cleanup when the run fails).
flanneld_start() {
  local version=$1 n=$2
  shift 2
  mkdir -p "$E2E_WORK/h$n"
  start_in_ns "$P-h$n" "flanneld-h$n" "$(agent_bin "flanneld-$version")" \
    --etcd-endpoints="$E2E_ETCD" --iface=eth0 --public-ip="$(host_ip "$n")" \
    --subnet-file="$E2E_WORK/h$n/subnet.env" ${FLANNELD_V:+-v="$FLANNELD_V"} "$@"
  FLANNELD_PID[$n]=$LAST_PID
}

agent_start() {  # agent_start <n>: host n's agent, AGENT[n]
  case "${AGENT[$1]}" in
    tartand) tartand_start "$1" ;;
    flanneld-*) flanneld_start "${AGENT[$1]#flanneld-}" "$1" ;;
  esac
}
agent_pid() { if [ "${AGENT[$1]}" = tartand ]; then echo "${TARTAND_PID[$1]}"; else echo "${FLANNELD_PID[$1]}"; fi; }
label() { echo "h$1 (${AGENT[$1]})"; }

# poll <seconds> <command...>: like wait_for, but returns 1 on timeout instead of failing.
poll() {
  local deadline=$((SECONDS + $1))
  shift
  until "$@" >/dev/null 2>&1; do
    [ "$SECONDS" -lt "$deadline" ] || return 1
    sleep 0.05
  done
}

# flanneld v0.20.2 handles only the first event of each etcd watch response (its registry reads
# Events[0] and opens a new watch): a lease written while that watch is being (re)opened --
# just after flanneld starts, or in the same response as another write -- is never seen by
# that flanneld until it restarts. Shown with leases written by etcdctl alone (two puts in one
# txn, five parallel puts), so not a tartand matter; tartand, which starts in milliseconds,
# just hits flanneld's start-up window more often. flanneld_settle makes the start
# deterministic: a probe lease is written (again, if that write was lost) until host n has
# routed it, then deleted; from then on host n's watch is live, and the next agent's lease
# reaches it. (Assumes a /16 E2E_NETWORK, as by default.)
PROBE_NET=${E2E_NETWORK%.*.*}.250.0/24
PROBE_KEY=$LEASES/${PROBE_NET/\//-}
probe_routed() { routes_of "$1" | grep >/dev/null -c "^$PROBE_NET "; }
flanneld_settle() {
  local n=$1 deadline=$((SECONDS + 15)) probe
  probe="{\"PublicIP\":\"$(host_ip "$n" | cut -d. -f1-3).250\",\"PublicIPv6\":null,\"BackendType\":\"$BACKEND_TYPE\""
  [ "$BACKEND_TYPE" = vxlan ] && probe+=',"BackendData":{"VNI":1,"VtepMAC":"0e:00:00:00:02:50"}'
  until probe_routed "$n"; do
    [ "$SECONDS" -lt "$deadline" ] || fail "$(label "$n") never routed a lease written after it started"
    lease_put "$PROBE_KEY" "$probe}"
    poll 1 probe_routed "$n" || true
  done
  lease_del "$PROBE_KEY"
  wait_for 5 "$(label "$n") to drop the probe lease" sh -c "! ip -n $P-h$n route show $PROBE_NET | grep -q ."
}

# agent_wait <n>: the lease is held and the agent follows the others. tartand: /readyz.
# flanneld (no readyz in v0.20.2): subnet.env written, then settled.
agent_wait() {
  local n=$1
  if [ "${AGENT[$n]}" = tartand ]; then
    wait_ready "$n" 30
  else
    wait_for 30 "$(label "$n") to write subnet.env" grep -q '^FLANNEL_SUBNET=' "$E2E_WORK/h$n/subnet.env"
    flanneld_settle "$n"
  fi
  kill -0 "$(agent_pid "$n")" || fail "$(label "$n") exited"
}

# cluster_up <v2|v3> <backend json> <n:kind:segment>...: underlay (segments a and b joined by
# the underlay router), etcd, the config, and each host with its agent, one at a time (see
# flanneld_settle), then one pod per host with an echo server.
cluster_up() {
  local backend=$2 spec n kind seg
  ETCD_API=$1
  shift 2
  for spec in "$@"; do require_agent "$(cut -d: -f2 <<<"$spec")"; done
  BACKEND_TYPE=$(sed -n 's/.*"Type":"\([a-z-]*\)".*/\1/p' <<<"$backend")
  underlay_create
  underlay_add_segment_b
  etcd_start
  config_put "{\"Network\":\"$E2E_NETWORK\",\"Backend\":$backend}"
  for spec in "$@"; do
    IFS=: read -r n kind seg <<<"$spec"
    AGENT[$n]=$kind
    SEGMENT[$n]=$seg
    HOSTS+=("$n")
    host_create "$n" "$seg"
    agent_start "$n"
    agent_wait "$n"
  done
  for n in "${HOSTS[@]}"; do
    pod_create "$n"
    tcp_echo_server_start "$n"
  done
  local line=""
  for n in "${HOSTS[@]}"; do line+=" h$n=${AGENT[$n]}@$(host_ip "$n"):$(subnet_of "$n")"; done
  log "cluster up ($ETCD_API, $backend):$line"
}

# ---- what each host programmed --------------------------------------------------------------
lease_key_of() { echo "$LEASES/$(subnet_of "$1" | tr / -)"; }
lease_json_of() { lease_get "$(lease_key_of "$1")"; }
vtep_mac_of() { lease_json_of "$1" | sed -n 's/.*"VtepMAC":"\([0-9a-f:]*\)".*/\1/p'; }

# Paths as flannel programs them, matched against one reading of a host's routes, flannel.1
# neighbours and FDB (host_state). flanneld's routes carry the kernel's default protocol and
# tartand's "proto 84", so the protocol is not part of the match.
declare -A SUBNET VTEP_MAC # per host, read from subnet.env and etcd once per paths_check
MISSING=
host_state() {
  ROUTES=$(routes_of "$1")
  NEIGH=$(ip -n "$P-h$1" neigh show dev flannel.1 2>/dev/null || true)
  FDB=$(in_ns "$P-h$1" bridge fdb show dev flannel.1 2>/dev/null || true)
}
has_direct_path() {  # <to>: <subnet> via <peer IP> dev eth0, and no vxlan neighbour for it
  grep -qE "^${SUBNET[$1]} via ${HOST_IP[$1]} dev eth0( |$)" <<<"$ROUTES" &&
    ! grep -q "^${SUBNET[$1]%/*} " <<<"$NEIGH"
}
has_vxlan_path() {  # <to>: route via <subnet>.0 onlink, neighbour and FDB entry
  local mac=${VTEP_MAC[$1]} gw=${SUBNET[$1]%/*}
  [ -n "$mac" ] &&
    grep -qE "^${SUBNET[$1]} via $gw dev flannel\.1 (proto [0-9a-z]+ )?onlink" <<<"$ROUTES" &&
    grep -q "^$gw lladdr $mac PERMANENT" <<<"$NEIGH" &&
    grep -q "^$mac dst ${HOST_IP[$1]} self permanent" <<<"$FDB"
}
# The path rule of a scenario: which path <on> must use to <to>.
PATH_RULE=
path_always_direct() { echo direct; }
path_always_vxlan() { echo vxlan; }
path_direct_on_link() { if [ "${SEGMENT[$1]}" = "${SEGMENT[$2]}" ]; then echo direct; else echo vxlan; fi; }

# host_paths_ok <on>: host <on> has the rule's path to every other host; MISSING names the
# first one it lacks.
host_paths_ok() {
  local on=$1 to path
  host_state "$on"
  for to in "${HOSTS[@]}"; do
    [ "$to" = "$on" ] && continue
    path=$("$PATH_RULE" "$on" "$to")
    "has_${path}_path" "$to" || {
      MISSING="$(label "$on") -> $(label "$to"): $path path"
      return 1
    }
  done
}
paths_check() {
  local a b summary=""
  for a in "${HOSTS[@]}"; do
    SUBNET[$a]=$(subnet_of "$a")
    VTEP_MAC[$a]=$(vtep_mac_of "$a")
  done
  for a in "${HOSTS[@]}"; do
    poll 10 host_paths_ok "$a" || fail "timed out after 10s waiting for: $MISSING"
    for b in "${HOSTS[@]}"; do [ "$a" = "$b" ] || summary+=" $a>$b:$("$PATH_RULE" "$a" "$b")"; done
  done
  log "paths as flannel programs them:$summary"
}

# pods_talk: every pod pings every other with a packet of the full FLANNEL_MTU that must not be
# fragmented (both agents' encapsulation overheads agree) and opens a TCP connection to it; the
# receiver must see the sender pod's own address (no NAT on the way).
pods_talk() {
  local a b seen mtu
  for a in "${HOSTS[@]}"; do
    mtu=$(sed -n 's/^FLANNEL_MTU=//p' "$E2E_WORK/h$a/subnet.env")
    for b in "${HOSTS[@]}"; do
      [ "$a" = "$b" ] && continue
      wait_for 10 "ping of $mtu bytes, unfragmented, pod $(label "$a") -> pod $(label "$b")" \
        in_ns "$P-h$a-pod" ping -c 1 -W 1 -M "do" -s $((mtu - 28)) "$(pod_ip_of "$b")"
      seen=$(tcp_source_seen "$a" "$b") || fail "TCP pod $(label "$a") -> pod $(label "$b")"
      [ "$seen" = "$(pod_ip_of "$a")" ] || fail "pod $(label "$b") saw $seen, not pod $(label "$a")'s $(pod_ip_of "$a")"
    done
  done
  log "pods talk both ways among ${#HOSTS[@]} hosts (ping of FLANNEL_MTU bytes, TCP); every receiver saw the sender pod's address"
}

# leases_check: one lease per host, distinct subnets, each with its host's PublicIP and the
# backend's type (v2-era flanneld writes no PublicIPv6).
leases_check() {
  local n json
  [ "$(for n in "${HOSTS[@]}"; do subnet_of "$n"; done | sort -u | wc -l)" = "${#HOSTS[@]}" ] ||
    fail "subnets not distinct"
  [ "$(lease_keys | wc -l)" = "${#HOSTS[@]}" ] || fail "not one lease per host: $(lease_keys)"
  for n in "${HOSTS[@]}"; do
    json=$(lease_json_of "$n")
    grep >/dev/null -cE "^\{\"PublicIP\":\"$(host_ip "$n")\",(\"PublicIPv6\":null,)?\"BackendType\":\"$BACKEND_TYPE\"" <<<"$json" ||
      fail "$(label "$n"): lease $json"
  done
}

# restart_agent <n> [reboot]: kill -9 by PID (no goodbye) and start it again; it must come
# back on the same subnet. With "reboot", flannel.1 is deleted meanwhile (as a reboot does),
# so the agent comes back with a new VtepMAC that every peer must follow.
restart_agent() {
  local n=$1 how=${2:-} before t0 pid
  before=$(subnet_of "$n")
  pid=$(agent_pid "$n")
  kill -KILL "$pid"
  wait "$pid" 2>/dev/null || true
  if [ "$how" = reboot ]; then ip -n "$P-h$n" link del flannel.1; fi
  # Gone, so that agent_wait sees the new file; flanneld finds its lease again by PublicIP.
  rm -f "$E2E_WORK/h$n/subnet.env"
  t0=$(now_ms)
  agent_start "$n"
  agent_wait "$n"
  [ "$(subnet_of "$n")" = "$before" ] || fail "$(label "$n") came back with $(subnet_of "$n"), not $before"
  log "$(label "$n") killed and started again${how:+ (flannel.1 deleted)}: same subnet $before after $(($(now_ms) - t0)) ms"
}

# On failure: what etcd holds and what each host programmed (lib.sh then prints every log).
interop_state() {
  set +e
  echo "---- etcd /coreos.com/network ($ETCD_API)" >&2
  if [ "$ETCD_API" = v3 ]; then
    etcdctl_v3 get --prefix /coreos.com/network >&2
    echo "---- every write under $LEASES, oldest first" >&2
    timeout 2 ip netns exec "$P-ul" env ETCDCTL_API=3 etcdctl --endpoints="$E2E_ETCD" watch --rev=1 \
      --prefix "$LEASES" 2>/dev/null | paste -d' ' - - - >&2
  else
    for key in /coreos.com/network/config $(lease_keys); do echo "$key $(lease_get "$key")" >&2; done
  fi
  local n
  for n in "${HOSTS[@]}"; do
    echo "---- $(label "$n") at $(host_ip "$n"): routes, flannel.1 neighbours and fdb" >&2
    ip -n "$P-h$n" -4 route show >&2
    ip -n "$P-h$n" neigh show dev flannel.1 >&2 2>/dev/null
    in_ns "$P-h$n" bridge fdb show dev flannel.1 >&2 2>/dev/null
  done
}
fail() {
  log "FAIL: $*"
  [ -n "${INTEROP_STATE_SHOWN:-}" ] || { INTEROP_STATE_SHOWN=1; interop_state; }
  exit 1
}

# v2_tartand_checks: on a v2 cluster every tartand host chose the v2 API by itself (logged,
# and on /readyz), and its lease is exactly what flanneld v0.11 writes -- no PublicIPv6, vxlan's
# BackendData with the VtepMAC only -- on a v2 key with a TTL (flannel's 24 h), as the
# flanneld hosts' leases are.
v2_lease_shape() {  # <n>: the v0.11 lease value of host n, as an extended regex
  local ip=${HOST_IP[$1]//./\\.}
  case "$BACKEND_TYPE" in
    vxlan) echo "^\{\"PublicIP\":\"$ip\",\"BackendType\":\"vxlan\",\"BackendData\":\{\"VtepMAC\":\"([0-9a-f]{2}:){5}[0-9a-f]{2}\"\}\}$" ;;
    *) echo "^\{\"PublicIP\":\"$ip\",\"BackendType\":\"$BACKEND_TYPE\"\}$" ;;
  esac
}
v2_tartand_checks() {
  local n json ttl
  for n in "${HOSTS[@]}"; do
    json=$(lease_json_of "$n")
    grep >/dev/null -cE "$(v2_lease_shape "$n")" <<<"$json" ||
      fail "$(label "$n"): lease $json is not flanneld v0.11's shape"
    # v2 etcdctl's extended output carries the key's remaining TTL (none on a permanent key).
    ttl=$(etcdctl_v2 -o extended get "$(lease_key_of "$n")" | sed -n 's/^TTL: //p')
    [ -n "$ttl" ] && [ "$ttl" -gt 86000 ] && [ "$ttl" -le 86400 ] ||
      fail "$(label "$n"): lease $(lease_key_of "$n") has TTL '${ttl}', not about 86400 s"
    [ "${AGENT[$n]}" = tartand ] || continue
    grep >/dev/null -c ' using the etcd v2 API: ' "$E2E_WORK/tartand-h$n.log" ||
      fail "$(label "$n") did not log that it uses the etcd v2 API"
    readyz "$n" | grep >/dev/null -cx 'etcd API: v2' || fail "$(label "$n"): readyz does not say 'etcd API: v2'"
    log "$(label "$n"): $(grep ' using the etcd v2 API: ' "$E2E_WORK/tartand-h$n.log" | tail -n1 | cut -c1-160)"
    log "$(label "$n"): lease $json, TTL ${ttl}s"
  done
}

# ---- scenarios --------------------------------------------------------------------------------
# mixed_cluster_checks: leases, every host's paths, pod traffic.
mixed_cluster_checks() {
  leases_check
  paths_check
  pods_talk
}

# restart_check <n>...: each agent killed and started again, then the checks.
restart_check() {
  local n
  for n in "$@"; do restart_agent "$n"; done
  mixed_cluster_checks
}

# reboot_check <n>...: each agent comes back with a new VtepMAC (flannel.1 gone); every host
# with a vxlan path to it follows, and tartand hosts drop the old MAC's FDB entry (flanneld
# leaves it, a known flannel defect).
reboot_check() {
  local n m
  local -A old
  for n in "$@"; do
    old[$n]=$(vtep_mac_of "$n")
    restart_agent "$n" reboot
    [ "$(vtep_mac_of "$n")" != "${old[$n]}" ] || fail "$(label "$n") kept VtepMAC ${old[$n]} without its flannel.1"
  done
  leases_check
  paths_check
  for n in "$@"; do
    for m in "${HOSTS[@]}"; do
      if [ "${AGENT[$m]}" != tartand ] || [ "$m" = "$n" ] || [ "$("$PATH_RULE" "$m" "$n")" != vxlan ]; then continue; fi
      wait_for 10 "$(label "$m") to drop the FDB entry of $(label "$n")'s old MAC ${old[$n]}" sh -c \
        "! ip netns exec $P-h$m bridge fdb show dev flannel.1 | grep -q '^${old[$n]} '"
    done
    log "$(label "$n"): new VtepMAC $(vtep_mac_of "$n") (was ${old[$n]}) followed by its vxlan peers"
  done
  pods_talk
}

F3=flanneld-v0.20.2
F2=flanneld-v0.11.0
case "${1:-}" in
  v3-hostgw)
    # Two of each agent, interleaved, on one L2 segment.
    PATH_RULE=path_always_direct
    cluster_up v3 '{"Type":"host-gw"}' 1:$F3:a 2:tartand:a 3:$F3:a 4:tartand:a
    mixed_cluster_checks
    restart_check 1 2
    ;;
  v3-vxlan)
    PATH_RULE=path_always_vxlan
    cluster_up v3 '{"Type":"vxlan"}' 1:$F3:a 2:tartand:a 3:$F3:a 4:tartand:a
    mixed_cluster_checks
    restart_check 1 2
    reboot_check 3 4
    ;;
  v3-direct-routing)
    # h1 (flanneld) and h2 (tartand) on segment a, h3 (flanneld) and h4 (tartand) on segment b,
    # routed by the underlay: each agent takes the direct route to its on-link peer of the
    # other kind and vxlan to both far ones.
    PATH_RULE=path_direct_on_link
    cluster_up v3 '{"Type":"vxlan","DirectRouting":true}' 1:$F3:a 2:tartand:a 3:$F3:b 4:tartand:b
    mixed_cluster_checks
    restart_check 1 2
    reboot_check 3 4
    ;;
  v2-hostgw)
    # The v0.11 deployment guide's cluster (etcd v2 key space) with tartand hosts joining it.
    PATH_RULE=path_always_direct
    cluster_up v2 '{"Type":"host-gw"}' 1:$F2:a 2:tartand:a 3:$F2:a 4:tartand:a
    mixed_cluster_checks
    v2_tartand_checks
    restart_check 1 2
    v2_tartand_checks
    ;;
  v2-vxlan)
    PATH_RULE=path_always_vxlan
    cluster_up v2 '{"Type":"vxlan"}' 1:$F2:a 2:tartand:a 3:$F2:a 4:tartand:a
    mixed_cluster_checks
    v2_tartand_checks
    restart_check 1 2
    v2_tartand_checks
    ;;
  *)
    echo "usage: $0 v3-hostgw|v3-vxlan|v3-direct-routing|v2-hostgw|v2-vxlan" >&2
    exit 2
    ;;
esac
log "PASS interop $1 in ${SECONDS}s"
