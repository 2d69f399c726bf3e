#!/usr/bin/env bash
# End-to-end: the udp backend (flannel0 TUN, UDP 8285) on hosts spread over two L2 segments
# joined by a router (the underlay namespace).
#   udp.sh connectivity | filtering | peer-restart | self-heal | exclusive | flanneld-v0.20.2 |
#          flanneld-v0.11.0
set -euo pipefail
source "$(dirname "$0")/lib.sh"
require_root
[ -x "$TARTAND" ] || fail "tartand not built at $TARTAND"

PARSE=$(dirname "$0")/parse_metrics.py

# Hosts 1,2 on segment a (192.0.2.0/24), host 3 on segment b (198.51.100.0/24), behind the router.
segment_of() { if [ "$1" -le 2 ]; then echo a; else echo b; fi; }
UDP_BACKEND='{"Type":"udp"}'

cluster() {  # cluster <hosts...>
  cluster_start "{\"Network\":\"10.244.0.0/16\",\"Backend\":$UDP_BACKEND}" pod_with_echo_server "$@"
}

# metric_of <n> <sample>: the sample's value on host n's /metrics, read with prometheus_client's
# parser (fails on a format error); e.g. metric_of 1 'tartan_udp_dropped_total{reason="no_route"}'.
metric_of() {
  in_ns "$P-h$1" curl -fsS -m 2 "http://127.0.0.1:2401/metrics" >"$E2E_WORK/metrics-h$1.txt" || return 1
  /usr/bin/python3 "$PARSE" <"$E2E_WORK/metrics-h$1.txt" >"$E2E_WORK/parsed-h$1.txt" || return 1
  awk -v k="$2" '$1 == k { print $2; found = 1 } END { exit !found }' "$E2E_WORK/parsed-h$1.txt"
}
# metric_above <n> <sample> <value>: the sample is on /metrics and above <value>.
metric_above() {
  local v
  v=$(metric_of "$1" "$2") || return 1
  [ "$v" -gt "$3" ]
}
has_udp_route() { routes_of "$1" | grep >/dev/null -c "^10.244.0.0/16 dev flannel0 proto 84 scope link"; }

check_pods_talk() { pods_talk_all 10 "$@"; }  # check_pods_talk <hosts...>

# bulk_transfer <from n> <to n>: 8 MB pod to pod over TCP, arriving intact (large segments cut
# and joined by the offloads on either side).
bulk_transfer() {
  local a=$1 b=$2 port=$((5100 + $1 * 10 + $2)) sum
  head -c 8000000 /dev/urandom >"$E2E_WORK/bulk-$a-$b.in"
  start_in_ns "$P-h$b-pod" "bulk-sink-$a-$b" socat -u "TCP-LISTEN:$port,reuseaddr" "OPEN:$E2E_WORK/bulk-$a-$b.out,creat"
  local sink=$LAST_PID
  wait_for 5 "bulk sink in pod h$b" in_ns "$P-h$b-pod" sh -c "ss -ltn | grep -q :$port"
  in_ns "$P-h$a-pod" timeout 30 socat -u "OPEN:$E2E_WORK/bulk-$a-$b.in" "TCP:$(pod_ip_of "$b"):$port" ||
    fail "bulk transfer pod h$a -> pod h$b"
  wait "$sink" || true
  sum=$(md5sum <"$E2E_WORK/bulk-$a-$b.in")
  [ "$(md5sum <"$E2E_WORK/bulk-$a-$b.out")" = "$sum" ] || fail "bulk transfer h$a -> h$b damaged"
  log "8 MB pod h$a -> pod h$b intact"
}

# send_datagram <ns> <from ip> <to ip> <inner src> <inner dst> <text>: one UDP datagram to
# <to>:8285 whose payload is a bare IPv4/UDP packet <inner src> -> <inner dst>:6000 carrying
# <text>, as a flannel udp peer would send it.
send_datagram() {
  in_ns "$1" python3 - "$2" "$3" "$4" "$5" "$6" <<'EOF'
import socket, struct, sys
frm, to, src, dst, text = sys.argv[1:6]
data = text.encode()
udp = struct.pack("!HHHH", 40000, 6000, 8 + len(data), 0) + data
def csum(b):
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16: s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff
hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0,
                  socket.inet_aton(src), socket.inet_aton(dst))
hdr = hdr[:10] + struct.pack("!H", csum(hdr)) + hdr[12:]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((frm, 0))
s.sendto(hdr + udp, (to, 8285))
EOF
}

scenario_connectivity() {
  cluster 1 2 3
  local a b queues
  for a in 1 2 3; do
    ip -n "$P-h$a" -d link show flannel0 | grep -q "mtu 1472" || fail "h$a: flannel0 mtu is not 1472"
    ip -n "$P-h$a" -d link show flannel0 | grep -q "tun type tun pi off" ||
      fail "h$a: flannel0 is not a TUN without packet info: $(ip -n "$P-h$a" -d link show flannel0)"
    # One queue per CPU (at most 8), each with its worker pair and its own socket on 8285.
    queues=$(metric_of "$a" 'tartan_udp_queues{}') || fail "h$a: no tartan_udp_queues on /metrics"
    # (TARTAN_UDP_QUEUES=1 runs the scenarios with flanneld's single-queue device.)
    [ "$queues" -eq "${TARTAN_UDP_QUEUES:-$(($(nproc) < 8 ? $(nproc) : 8))}" ] ||
      fail "h$a: $queues queues on $(nproc) CPUs (TARTAN_UDP_QUEUES=${TARTAN_UDP_QUEUES:-})"
    if [ "$queues" -gt 1 ]; then
      ip -n "$P-h$a" -d link show flannel0 | grep -q "multi_queue numqueues $queues " ||
        fail "h$a: flannel0 is not multi-queue with $queues queues: $(ip -n "$P-h$a" -d link show flannel0)"
    fi
    [ "$(in_ns "$P-h$a" ss -lun | grep -c "$(host_ip "$a"):8285 ")" -eq "$queues" ] ||
      fail "h$a: not $queues sockets on $(host_ip "$a"):8285"
    ip -n "$P-h$a" -4 addr show dev flannel0 | grep >/dev/null -c "inet $(subnet_zero_of "$a")/32" ||
      fail "h$a: flannel0 lacks $(subnet_zero_of "$a")/32"
    subnet_env_of "$a" | grep >/dev/null -cx 'FLANNEL_MTU=1472' || fail "h$a: FLANNEL_MTU"
    lease_json_of "$a" | grep >/dev/null -cxE '\{"PublicIP":"[0-9.]+","PublicIPv6":null\}' ||
      fail "h$a: lease is not flannel's udp shape (no BackendType): $(lease_json_of "$a")"
    in_ns "$P-h$a" ss -lun | grep >/dev/null -c "$(host_ip "$a"):8285 " || fail "h$a: not bound on $(host_ip "$a"):8285"
    wait_for 5 "h$a: $E2E_NETWORK dev flannel0" has_udp_route "$a"
  done
  check_pods_talk 1 2 3
  bulk_transfer 1 3
  bulk_transfer 3 2
  # An address of the network that no host holds: net-unreachable from flannel0's far side.
  local out
  out=$(in_ns "$P-h1-pod" ping -c 1 -W 2 10.244.250.9 2>&1 || true)
  grep -q "Destination Net Unreachable" <<<"$out" || fail "no ICMP net-unreachable for 10.244.250.9: $out"
  # A packet whose TTL runs out on the way: time-exceeded (the kernel forwards h1 -> flannel0,
  # ttl 2 -> 1; tartand's TUN side expires it).
  out=$(in_ns "$P-h1-pod" ping -c 1 -W 2 -t 2 "$(pod_ip_of 3)" 2>&1 || true)
  grep -q "Time to live exceeded" <<<"$out" || fail "no ICMP time-exceeded for ttl 2: $out"
  metric_above 1 'tartan_udp_dropped_total{reason="no_route"}' 0 || fail "h1: no_route not counted"
  metric_above 1 'tartan_udp_icmp_errors_total{}' 1 || fail "h1: ICMP errors not counted"
  local s r
  s=$(metric_of 1 'tartan_udp_bytes_total{direction="sent"}')
  r=$(metric_of 3 'tartan_udp_bytes_total{direction="received"}')
  [ "$s" -gt 8000000 ] && [ "$r" -gt 8000000 ] || fail "bytes not counted: h1 sent $s, h3 received $r"
  log "unknown subnet -> net-unreachable, TTL out -> time-exceeded; counted on /metrics"
}

scenario_filtering() {
  cluster 1 2 3
  check_pods_talk 1 2
  local spoofed0 foreign0
  spoofed0=$(metric_of 1 'tartan_udp_dropped_total{reason="unknown_sender"}') || fail "h1: no drop counters on /metrics"
  foreign0=$(metric_of 1 'tartan_udp_dropped_total{reason="foreign_destination"}')
  start_in_ns "$P-h1-pod" udp-sink socat -u UDP-RECV:6000 "OPEN:$E2E_WORK/sink.txt,creat,append"
  wait_for 5 "udp sink in pod h1" in_ns "$P-h1-pod" sh -c "ss -lun | grep -q :6000"
  # The crafted datagram gets in when it comes from a peer and is addressed into h1's subnet.
  send_datagram "$P-h2" "$(host_ip 2)" "$(host_ip 1)" "$(pod_ip_of 2)" "$(pod_ip_of 1)" legit
  wait_for 5 "the peer's datagram delivered to pod h1" grep -q legit "$E2E_WORK/sink.txt"
  # Spoofed: the same packet from an address no lease announces (the underlay router).
  send_datagram "$P-ul" "$E2E_UNDERLAY_NET.1" "$(host_ip 1)" "$(pod_ip_of 2)" "$(pod_ip_of 1)" spoofed
  # Foreign: a real peer relaying a packet for h3's pod through h1.
  send_datagram "$P-h2" "$(host_ip 2)" "$(host_ip 1)" "$(pod_ip_of 2)" "$(pod_ip_of 3)" foreign
  wait_for 10 "h1's /metrics counts the spoofed datagram" \
    metric_above 1 'tartan_udp_dropped_total{reason="unknown_sender"}' "$spoofed0"
  wait_for 10 "h1's /metrics counts the foreign one" \
    metric_above 1 'tartan_udp_dropped_total{reason="foreign_destination"}' "$foreign0"
  wait_for 15 "h1 logs the spoofed datagram" grep -q "unknown-sender=1 " "$E2E_WORK/tartand-h1.log"
  wait_for 15 "h1 logs the foreign one" grep -q "foreign-destination=1 " "$E2E_WORK/tartand-h1.log"
  # Both were dropped before the TUN: a legit datagram sent after them arrives, they never do.
  send_datagram "$P-h2" "$(host_ip 2)" "$(host_ip 1)" "$(pod_ip_of 2)" "$(pod_ip_of 1)" after
  wait_for 5 "the later datagram delivered" grep -q after "$E2E_WORK/sink.txt"
  if grep -q 'spoofed\|foreign' "$E2E_WORK/sink.txt"; then fail "a dropped datagram reached the pod"; fi
  grep "udp: packets dropped" "$E2E_WORK/tartand-h1.log" | tail -1 >&2
  grep 'tartan_udp_dropped_total{reason="\(unknown_sender\|foreign_destination\)"}' "$E2E_WORK/parsed-h1.txt" >&2
  log "spoofed-source and foreign-destination datagrams dropped and counted (log and /metrics)"
}

scenario_peer_restart() {
  cluster 1 3
  check_pods_talk 1 3
  # A TCP stream pod h1 -> pod h3 of numbered lines over ~8 s; h3's tartand is stopped and
  # started again in the middle (its flannel0 goes away with the process, as flanneld's does).
  start_in_ns "$P-h3-pod" stream-sink socat -u TCP-LISTEN:5001,reuseaddr "OPEN:$E2E_WORK/stream.txt,creat"
  wait_for 5 "stream sink" in_ns "$P-h3-pod" sh -c "ss -ltn | grep -q :5001"
  start_in_ns "$P-h1-pod" stream-source sh -c \
    "for i in \$(seq 400); do echo \$i; sleep 0.02; done | socat -u - TCP:$(pod_ip_of 3):5001"
  local src=$LAST_PID sub
  sub=$(subnet_of 3)
  wait_for 5 "the stream flowing" grep -q '^20$' "$E2E_WORK/stream.txt"
  kill -TERM "${TARTAND_PID[3]}"
  wait "${TARTAND_PID[3]}" || true
  ! ip -n "$P-h3" link show flannel0 >/dev/null 2>&1 || fail "flannel0 outlived tartand"
  tartand_start 3
  wait_ready 3
  [ "$(subnet_of 3)" = "$sub" ] || fail "h3 came back with another subnet"
  wait_for 30 "the whole stream received" grep -q '^400$' "$E2E_WORK/stream.txt"
  wait "$src" || fail "the stream's sender failed"
  seq 400 | cmp -s - "$E2E_WORK/stream.txt" || fail "the stream arrived damaged"
  log "a TCP stream survived the peer's restart, all 400 lines in order"
  check_pods_talk 1 3
}

scenario_self_heal() {
  cluster 1 3
  check_pods_talk 1 3
  ip -n "$P-h1" route del 10.244.0.0/16 dev flannel0
  wait_for 12 "route repaired" has_udp_route 1
  ip -n "$P-h1" addr flush dev flannel0
  wait_for 12 "address repaired" sh -c "ip -n $P-h1 -4 addr show dev flannel0 | grep -q 'inet $(subnet_zero_of 1)/32'"
  ip -n "$P-h1" link set flannel0 mtu 1400
  wait_for 12 "mtu repaired" sh -c "ip -n $P-h1 link show flannel0 | grep -q 'mtu 1472'"
  local index
  index=$(ip -n "$P-h1" -o link show flannel0 | cut -d: -f1)
  ip -n "$P-h1" link del flannel0
  wait_for 12 "flannel0 recreated" sh -c "ip -n $P-h1 -o link show flannel0 | grep -qv '^$index:'"
  wait_for 12 "flannel0's route back" has_udp_route 1
  grep -q "flannel0 is gone; creating it again" "$E2E_WORK/tartand-h1.log" || fail "no recreation logged"
  check_pods_talk 1 3
  log "route, address, MTU and the device itself repaired"
}

# second_agent <n> <name>: another tartand on host n (its own subnet file and health port),
# which must not take flannel0 or the port from the agent already there.
second_agent() {
  start_in_ns "$P-h$1" "$2" "$TARTAND" --etcd-endpoints="$E2E_ETCD" --iface=eth0 \
    --subnet-file="$E2E_WORK/$2.env" --healthz-ip=127.0.0.1 --healthz-port=2402
}
flannel0_of() { ip -n "$P-h$1" -o -d link show flannel0 | sed 's/ link\/none.*tun type/ tun type/'; }

# flannel0 and port 8285 belong to one agent: a second tartand on a multi-queue tartand host,
# and a tartand on a host where flanneld (single-queue flannel0) runs, are refused and keep
# retrying without touching the device, the socket or the traffic.
scenario_exclusive() {
  cluster 1 3
  check_pods_talk 1 3
  local before pid
  before=$(flannel0_of 1)
  second_agent 1 second-h1
  pid=$LAST_PID
  wait_for 20 "the second tartand on h1 refused" \
    grep -q 'backend: .*flanneld or another tartand' "$E2E_WORK/second-h1.log"
  kill -0 "$pid" 2>/dev/null || fail "the second tartand exited instead of retrying"
  ! in_ns "$P-h1" curl -fsS -m 1 http://127.0.0.1:2402/readyz >/dev/null 2>&1 || fail "the second tartand is ready"
  [ "$(flannel0_of 1)" = "$before" ] || fail "h1's flannel0 changed: $before -> $(flannel0_of 1)"
  [ "$(in_ns "$P-h1" ss -lun | grep -c "$(host_ip 1):8285 ")" -eq "$(metric_of 1 'tartan_udp_queues{}')" ] ||
    fail "h1's sockets on 8285 changed: $(in_ns "$P-h1" ss -lun)"
  check_pods_talk 1 3
  kill -TERM "$pid"
  wait "$pid" || true
  log "a second tartand on h1 was refused the port and left flannel0 alone: $before"
  # A flannel0 nobody holds (persistent, single-queue) is not adopted either: tartand waits
  # until it is gone, then makes its own.
  host_create 2 a
  ip -n "$P-h2" tuntap add dev flannel0 mode tun
  tartand_start 2
  wait_for 20 "tartand refused the foreign flannel0" \
    grep -q 'backend: .*flannel0.*busy.*flanneld or another tartand' "$E2E_WORK/tartand-h2.log"
  ! readyz 2 >/dev/null 2>&1 || fail "h2 ready with a foreign flannel0"
  ip -n "$P-h2" link del flannel0
  wait_ready 2 20
  flannel0_of 2 | grep -q "multi_queue" || [ "$(nproc)" -eq 1 ] || fail "h2's own flannel0 is not multi-queue"
  pod_create 2
  tcp_echo_server_start 2
  check_pods_talk 1 2 3
  kill -TERM "${TARTAND_PID[2]}"
  wait "${TARTAND_PID[2]}" || true
  log "a persistent flannel0 was refused; once gone, tartand made its own"
  # flanneld's single-queue flannel0 on host 4, then tartand there.
  local bin
  bin=${TARTAN_INTEROP_DIR:-$(git -C "$E2E_ROOT" rev-parse --show-toplevel 2>/dev/null)/../shared/interop}/flanneld-v0.20.2
  if [ ! -x "$bin" ]; then
    log "flanneld-v0.20.2 not found: the flanneld half skipped"
    return 0
  fi
  host_create 4 b
  mkdir -p "$E2E_WORK/h4"
  start_in_ns "$P-h4" flanneld-h4 "$bin" --etcd-endpoints="$E2E_ETCD" --iface=eth0 \
    --subnet-file="$E2E_WORK/h4/subnet.env"
  wait_for 30 "flanneld's flannel0" ip -n "$P-h4" link show flannel0
  before=$(flannel0_of 4)
  if grep -q multi_queue <<<"$before"; then fail "flanneld's flannel0 is multi-queue: $before"; fi
  second_agent 4 tartand-on-flanneld-h4
  pid=$LAST_PID
  wait_for 20 "tartand on flanneld's host refused" \
    grep -q 'backend: .*flanneld or another tartand' "$E2E_WORK/tartand-on-flanneld-h4.log"
  kill -0 "$pid" 2>/dev/null || fail "tartand exited instead of retrying"
  [ "$(flannel0_of 4)" = "$before" ] || fail "flanneld's flannel0 changed: $before -> $(flannel0_of 4)"
  kill -TERM "$pid"
  wait "$pid" || true
  wait_for 30 "flanneld's subnet.env" grep -q '^FLANNEL_SUBNET=' "$E2E_WORK/h4/subnet.env"
  pod_create 4
  tcp_echo_server_start 4
  check_pods_talk 1 3 4
  log "tartand next to flanneld was refused; flanneld's flannel0 untouched and carrying traffic"
}

# A mixed cluster: tartand hosts 1 and 3 and the real flanneld's udp on host 2, both ways.
scenario_flanneld() {
  local version=$1 bin dir api=v3
  dir=$(git -C "$E2E_ROOT" rev-parse --show-toplevel 2>/dev/null)/../shared/interop
  bin=${TARTAN_INTEROP_DIR:-$dir}/flanneld-$version
  if [ ! -x "$bin" ]; then
    echo "skipped: $bin not found (the reference flanneld binaries)" >&2
    rm -rf "$E2E_WORK"
    exit 77
  fi
  [ "$version" = v0.11.0 ] && api=v2
  underlay_create
  underlay_add_segment_b
  etcd_start
  local config='{"Network":"10.244.0.0/16","Backend":{"Type":"udp"}}'
  if [ "$api" = v2 ]; then
    in_ns "$P-ul" env ETCDCTL_API=2 etcdctl --endpoints="$E2E_ETCD" set /coreos.com/network/config "$config" >/dev/null
  else
    network_config_put "$config"
  fi
  local n
  for n in 1 3; do
    host_create "$n" "$(segment_of "$n")"
    tartand_start "$n" --etcd-api="$api"
    wait_ready "$n"
  done
  # flanneld last: it reads every lease at start (v0.20.2 may miss a lease written while its
  # watch opens); the tartand hosts learn its lease through their watch.
  host_create 2 a
  mkdir -p "$E2E_WORK/h2"
  start_in_ns "$P-h2" flanneld-h2 "$bin" --etcd-endpoints="$E2E_ETCD" --iface=eth0 \
    --subnet-file="$E2E_WORK/h2/subnet.env"
  wait_for 30 "flanneld to write subnet.env" grep -q '^FLANNEL_SUBNET=' "$E2E_WORK/h2/subnet.env"
  wait_for 10 "flanneld's flannel0" ip -n "$P-h2" link show flannel0
  grep -qx FLANNEL_MTU=1472 "$E2E_WORK/h2/subnet.env" || fail "flanneld's MTU differs"
  for n in 1 2 3; do
    pod_create "$n"
    tcp_echo_server_start "$n"
  done
  # Same lease shape as flanneld's own (no BackendType), the address aside.
  local shape n2
  shape() {
    local key=/coreos.com/network/subnets/$(subnet_of "$1" | tr / -)
    if [ "$api" = v2 ]; then
      in_ns "$P-ul" env ETCDCTL_API=2 etcdctl --endpoints="$E2E_ETCD" get "$key"
    else
      etcdctl_v3 get "$key" --print-value-only
    fi | sed 's/"PublicIP":"[0-9.]*"/"PublicIP":"X"/'
  }
  n2=$(shape 2)
  for n in 1 3; do
    [ "$(shape "$n")" = "$n2" ] || fail "h$n's lease $(shape "$n") differs from flanneld's $n2"
  done
  log "leases: tartand's and flanneld's are both $n2"
  check_pods_talk 1 2 3
  bulk_transfer 1 2
  bulk_transfer 2 3
  log "tartand udp and flanneld $version udp carry each other's pods' traffic"
}

case "${1:-}" in
  connectivity) scenario_connectivity ;;
  filtering) scenario_filtering ;;
  peer-restart) scenario_peer_restart ;;
  self-heal) scenario_self_heal ;;
  exclusive) scenario_exclusive ;;
  flanneld-v0.20.2) scenario_flanneld v0.20.2 ;;
  flanneld-v0.11.0) scenario_flanneld v0.11.0 ;;
  *) echo "usage: $0 connectivity|filtering|peer-restart|self-heal|exclusive|flanneld-v0.20.2|flanneld-v0.11.0" >&2; exit 2 ;;
esac
log "PASS udp $1"
