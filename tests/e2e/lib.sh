#!/usr/bin/env bash
# Shared harness for the end-to-end suites and the demo: a simulated cluster built only from
# network namespaces this run creates.
#
#   underlay namespace  <P>-ul : bridge br0 (192.0.2.1/24), etcd listening on 192.0.2.1:2379
#   host namespaces     <P>-hN : eth0 (192.0.2.1N/24) on br0, tartand, bridge cni0 for pods
#   pod namespaces      <P>-hN-pod : eth0 on the host's cni0, <subnet>.2, default via <subnet>.1
#
# Every name carries a per-run prefix <P>; cleanup (on every exit path, via trap) deletes only
# the namespaces this run created, by exact name, and stops only the processes it started, by
# PID. Nothing touches the root namespace: veth pairs are created directly inside our namespaces.
set -euo pipefail

E2E_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
P=${E2E_PREFIX:-tt$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')}
E2E_WORK=$(mktemp -d "/tmp/${P}.XXXX")
E2E_NAMESPACES=()
E2E_PIDS=()
E2E_UNDERLAY_NET=192.0.2
E2E_ETCD=http://${E2E_UNDERLAY_NET}.1:2379
E2E_NETWORK=${E2E_NETWORK:-10.244.0.0/16}
: "${TARTAND:=$E2E_ROOT/build/release/src/cmd/tartand}"

log() { printf '%s [%s] %s\n' "$(date +%H:%M:%S.%3N)" "$P" "$*" >&2; }
fail() {
  log "FAIL: $*"
  exit 1
}

e2e_cleanup() {
  local rc=$?
  # A second Ctrl-C (or a TERM) must not cut the teardown short and leave namespaces behind.
  trap '' INT TERM
  set +e
  # A process started through a script (the guide's flanneld.sh) runs as the script shell's
  # child: stop the children we started that way too, by their PIDs, or they outlive the run.
  local pid child more=()
  for pid in "${E2E_PIDS[@]}"; do
    for child in $(cat /proc/"$pid"/task/*/children 2>/dev/null); do more+=("$child"); done
  done
  E2E_PIDS+=("${more[@]}")
  for pid in "${E2E_PIDS[@]}"; do
    kill -TERM "$pid" 2>/dev/null
  done
  for pid in "${E2E_PIDS[@]}"; do
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
  done
  local i
  for ((i = ${#E2E_NAMESPACES[@]} - 1; i >= 0; i--)); do
    ip netns delete "${E2E_NAMESPACES[i]}" 2>/dev/null
  done
  if [ "$rc" -ne 0 ] && [ -d "$E2E_WORK" ]; then
    log "logs of the failed run:"
    for f in "$E2E_WORK"/*.log; do
      [ -f "$f" ] || continue
      echo "---- $f (last 40 lines)" >&2
      tail -n 40 "$f" >&2
    done
  fi
  rm -rf "$E2E_WORK"
  return "$rc"
}
trap e2e_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

require_root() {
  if [ "$(id -u)" -ne 0 ]; then
    echo "skipped: end-to-end tests need root (network namespaces)" >&2
    exit 77
  fi
}

# wait_for <seconds> <description> <command...>: polls until the command succeeds.
wait_for() {
  local timeout=$1 what=$2
  shift 2
  local deadline=$((SECONDS + timeout))
  until "$@" >/dev/null 2>&1; do
    [ "$SECONDS" -lt "$deadline" ] || fail "timed out after ${timeout}s waiting for: $what"
    sleep 0.05
  done
}

# now_ms: monotonic-enough wall clock in milliseconds, for measured delays.
now_ms() { date +%s%3N; }

new_ns() {
  ip netns add "$1"
  E2E_NAMESPACES+=("$1")
  ip -n "$1" link set lo up
}

in_ns() {
  local ns=$1
  shift
  ip netns exec "$ns" "$@"
}

# Background process inside a namespace; its PID goes to LAST_PID and the cleanup list.
# Output to $E2E_WORK/<name>.log. (Never call it inside $(...): the PID would be lost.)
start_in_ns() {
  local ns=$1 name=$2
  shift 2
  ip netns exec "$ns" "$@" >>"$E2E_WORK/$name.log" 2>&1 &
  LAST_PID=$!
  E2E_PIDS+=("$LAST_PID")
}

# Every bridge gets a fixed MAC. Left unset, a Linux bridge takes the lowest MAC of its ports
# and changes it when a port with a lower one joins; a host that had cached the old MAC for
# the bridge's address then sends to a port's MAC, which the bridge passes up as another
# host's frame and IP drops, until ARP gives up on the entry (~30 s). A host added while
# the others run (host_create after tartand_start) made etcd unreachable for them.
underlay_create() {
  new_ns "$P-ul"
  ip -n "$P-ul" link add br0 address 02:7a:00:00:00:01 type bridge
  ip -n "$P-ul" addr add "$E2E_UNDERLAY_NET.1/24" dev br0
  ip -n "$P-ul" link set br0 up
}

etcd_start() {
  start_in_ns "$P-ul" etcd etcd --name e2e --data-dir "$E2E_WORK/etcd" \
    --listen-client-urls "$E2E_ETCD" --advertise-client-urls "$E2E_ETCD" \
    --listen-peer-urls http://127.0.0.1:2380 --initial-advertise-peer-urls http://127.0.0.1:2380 \
    --initial-cluster e2e=http://127.0.0.1:2380 --enable-v2=true
  E2E_ETCD_PID=$LAST_PID
  wait_for 20 "etcd to serve" etcdctl_v3 endpoint health
}

etcdctl_v3() { in_ns "$P-ul" env ETCDCTL_API=3 etcdctl --endpoints="$E2E_ETCD" "$@"; }

# etcd_start_tls: etcd on https://192.0.2.1:2379 with --client-cert-auth and certificates made
# here: $E2E_PKI/{ca,client,client-key}.pem for clients. The server certificate carries server
# and client auth, as the guide's cfssl "peer" profile (and kubeadm) issue it, which etcd 3.4's
# v3 gateway needs under --client-cert-auth (docs/adr/0010). Sets E2E_ETCD_TLS.
# etcd_start_tls [etcd flags...]: the flags are added to etcd's (e.g. --enable-v2).
etcdctl_v3_tls() {
  in_ns "$P-ul" env ETCDCTL_API=3 etcdctl --endpoints="$E2E_ETCD_TLS" --cacert="$E2E_PKI/ca.pem" \
    --cert="$E2E_PKI/client.pem" --key="$E2E_PKI/client-key.pem" "$@"
}
etcd_start_tls() {
  E2E_PKI="$E2E_WORK/pki"
  E2E_ETCD_TLS="https://$E2E_UNDERLAY_NET.1:2379"
  mkdir -p "$E2E_PKI"
  (
    cd "$E2E_PKI"
    key() { openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$1" "${@:2}"; }
    key ca-key.pem -x509 -out ca.pem -days 2 -subj /CN=tartan-e2e-ca
    key server-key.pem -out server.csr -subj /CN=etcd
    openssl x509 -req -in server.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -out server.pem \
      -days 2 -extfile <(printf 'subjectAltName=IP:%s\nextendedKeyUsage=serverAuth,clientAuth\n' "$E2E_UNDERLAY_NET.1")
    key client-key.pem -out client.csr -subj /CN=flanneld
    openssl x509 -req -in client.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -out client.pem \
      -days 2 -extfile <(printf 'extendedKeyUsage=clientAuth\n')
  ) >"$E2E_WORK/openssl.log" 2>&1
  start_in_ns "$P-ul" etcd etcd --name e2e --data-dir "$E2E_WORK/etcd" \
    --listen-client-urls "$E2E_ETCD_TLS" --advertise-client-urls "$E2E_ETCD_TLS" \
    --listen-peer-urls http://127.0.0.1:2380 --initial-advertise-peer-urls http://127.0.0.1:2380 \
    --initial-cluster e2e=http://127.0.0.1:2380 --client-cert-auth \
    --trusted-ca-file "$E2E_PKI/ca.pem" --cert-file "$E2E_PKI/server.pem" \
    --key-file "$E2E_PKI/server-key.pem" "$@"
  E2E_ETCD_PID=$LAST_PID
  wait_for 20 "etcd (TLS) to serve" etcdctl_v3_tls endpoint health
}

# network_config_put <json>
network_config_put() { etcdctl_v3 put /coreos.com/network/config "$1" >/dev/null; }

# underlay_add_segment_b: a second L2 segment (bridge br1, 198.51.100.1/24) routed to the
# first by the underlay namespace, for tests of hosts that are not on-link with each other.
E2E_SEGMENT_B=198.51.100
underlay_add_segment_b() {
  ip -n "$P-ul" link add br1 address 02:7a:00:00:00:02 type bridge
  ip -n "$P-ul" addr add "$E2E_SEGMENT_B.1/24" dev br1
  ip -n "$P-ul" link set br1 up
  in_ns "$P-ul" sysctl -qw net.ipv4.ip_forward=1
}

# host_create <n> [a|b]: host namespace <P>-h<n> with eth0 on segment a (192.0.2.(10+n)/24,
# the default) or b (198.51.100.(10+n)/24), default route via the segment's router address.
declare -A HOST_IP
host_create() {
  local n=$1 seg=${2:-a} ns="$P-h$1" net=$E2E_UNDERLAY_NET bridge=br0
  if [ "$seg" = b ]; then
    net=$E2E_SEGMENT_B
    bridge=br1
  fi
  HOST_IP[$n]=$net.$((10 + n))
  new_ns "$ns"
  ip -n "$ns" link add eth0 type veth peer name "h$n" netns "$P-ul"
  ip -n "$P-ul" link set "h$n" master "$bridge" up
  ip -n "$ns" addr add "${HOST_IP[$n]}/24" dev eth0
  ip -n "$ns" link set eth0 up
  ip -n "$ns" route add default via "$net.1"
  in_ns "$ns" sysctl -qw net.ipv4.ip_forward=1
}

host_ip() { echo "${HOST_IP[$1]}"; }

# tartand_start <n> [extra flags...]: starts tartand in host n; PID in TARTAND_PID[n].
declare -A TARTAND_PID
tartand_start() {
  local n=$1
  shift
  mkdir -p "$E2E_WORK/h$n"
  start_in_ns "$P-h$n" "tartand-h$n" "$TARTAND" \
    --etcd-endpoints="$E2E_ETCD" --iface=eth0 --subnet-file="$E2E_WORK/h$n/subnet.env" \
    --healthz-ip=127.0.0.1 --healthz-port=2401 "$@"
  TARTAND_PID[$n]=$LAST_PID
}

subnet_env_of() { cat "$E2E_WORK/h$1/subnet.env"; }
# subnet_of <n>: the host's FLANNEL_SUBNET as a network (10.244.7.0/24).
subnet_of() {
  local s
  s=$(sed -n 's/^FLANNEL_SUBNET=//p' "$E2E_WORK/h$1/subnet.env")
  echo "${s%.*/*}.0/${s#*/}"
}
# pod_ip_of <n>: the address the pod behind host n gets (<subnet>.2).
pod_ip_of() {
  local s
  s=$(sed -n 's/^FLANNEL_SUBNET=//p' "$E2E_WORK/h$1/subnet.env")
  echo "${s%.*/*}.2"
}

readyz() { in_ns "$P-h$1" curl -fsS -m 1 "http://127.0.0.1:2401/readyz"; }
wait_ready() { wait_for "${2:-30}" "tartand on h$1 ready" readyz "$1"; }

# pod_create <n> [bridge]: bridge cni0 (or the one named) = FLANNEL_SUBNET (.1) in host n, as
# docker0 or the CNI bridge plugin would make it, and one pod namespace <P>-h<n>-pod on it at
# <subnet>.2.
pod_create() {
  local n=$1 ns="$P-h$1" pod="$P-h$1-pod" gw mtu br=${2:-cni0}
  gw=$(sed -n 's/^FLANNEL_SUBNET=//p' "$E2E_WORK/h$n/subnet.env")
  mtu=$(sed -n 's/^FLANNEL_MTU=//p' "$E2E_WORK/h$n/subnet.env")
  new_ns "$pod"
  ip -n "$ns" link add "$br" address 02:7a:00:00:01:01 type bridge  # fixed: see underlay_create
  ip -n "$ns" addr add "$gw" dev "$br"
  ip -n "$ns" link set "$br" up
  # The pod's MTU comes from FLANNEL_MTU, as the CNI plugin sets it.
  ip -n "$ns" link add veth0 mtu "$mtu" type veth peer name eth0 mtu "$mtu" netns "$pod"
  ip -n "$ns" link set veth0 master "$br" up
  ip -n "$pod" addr add "$(pod_ip_of "$n")/${gw#*/}" dev eth0
  ip -n "$pod" link set eth0 up
  ip -n "$pod" route add default via "${gw%/*}"
}

pod_ping() {  # pod_ping <from n> <to n>
  in_ns "$P-h$1-pod" ping -c 1 -W 1 "$(pod_ip_of "$2")"
}

# tcp_source_seen <from n> <to n>: connects from pod <from> to a listener in pod <to> that
# replies with the peer address it saw; prints that address.
tcp_echo_server_start() {  # tcp_echo_server_start <n> [port]
  local port=${2:-5000}
  start_in_ns "$P-h$1-pod" "echo-h$1" socat "TCP-LISTEN:$port,reuseaddr,fork" \
    'SYSTEM:echo $SOCAT_PEERADDR'
  wait_for 5 "echo server in pod h$1" in_ns "$P-h$1-pod" sh -c "ss -ltn | grep >/dev/null -c :$port"
}
tcp_source_seen() {
  in_ns "$P-h$1-pod" socat -T 3 - "TCP:$(pod_ip_of "$2"):${3:-5000},connect-timeout=3" </dev/null
}

# routes_of <n>: host n's routes as "dst via gw dev" lines (main table). tartan's gateway
# routes go through nexthop objects (docs/adr/0021): `ip route` shows "nhid <id>" before the
# gateway, which is left out here (the hostgw repair scenario asserts it).
routes_of() { ip -n "$P-h$1" -4 route show table main | sed -E 's/ nhid [0-9]+//'; }

# cluster_start <config json> <step> <hosts...>: the underlay (and segment b when the suite
# defines segment_of <n>, which names host n's segment: a or b), etcd holding the network
# config, tartand on every host (with the flags in E2E_TARTAND_FLAGS); once each host is ready,
# in order, `<step> <n>` runs (":" for nothing).
E2E_TARTAND_FLAGS=()
cluster_start() {
  local config=$1 step=$2 n seg
  shift 2
  underlay_create
  if declare -F segment_of >/dev/null; then underlay_add_segment_b; fi
  etcd_start
  network_config_put "$config"
  for n in "$@"; do
    seg=a
    if declare -F segment_of >/dev/null; then seg=$(segment_of "$n"); fi
    host_create "$n" "$seg"
    tartand_start "$n" "${E2E_TARTAND_FLAGS[@]}"
  done
  for n in "$@"; do
    wait_ready "$n"
    "$step" "$n"
  done
}

# pod_with_echo_server <n>: host n's pod (pod_create) with a TCP echo server in it.
pod_with_echo_server() {
  pod_create "$1"
  tcp_echo_server_start "$1"
}

# lease_json_of <n>: the value of host n's lease in etcd (v3).
lease_json_of() {
  etcdctl_v3 get "/coreos.com/network/subnets/$(subnet_of "$1" | tr / -)" --print-value-only
}
# subnet_zero_of <n>: the first address of host n's subnet (10.244.7.0).
subnet_zero_of() { subnet_of "$1" | cut -d/ -f1; }

# pods_talk_all <ping wait s> <hosts...>: ping and TCP between the hosts' pods in every direction;
# the receiver must see the sender pod's own address.
pods_talk_all() {
  local wait=$1 a b seen
  shift
  for a in "$@"; do
    for b in "$@"; do
      [ "$a" = "$b" ] && continue
      wait_for "$wait" "ping pod h$a -> pod h$b" pod_ping "$a" "$b"
      seen=$(tcp_source_seen "$a" "$b") || fail "TCP pod h$a -> pod h$b"
      [ "$seen" = "$(pod_ip_of "$a")" ] || fail "pod h$b saw $seen, not pod h$a's $(pod_ip_of "$a")"
    done
  done
  log "pods talk in every direction among hosts $*; receivers see pod source addresses"
}
