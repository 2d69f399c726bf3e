#!/usr/bin/env bash
# Data-plane and footprint benchmark, all in network namespaces on this machine.
#   sudo bench/dataplane.sh [seconds per iperf3 run, default 5]
# For each backend (host-gw, vxlan) it builds two hosts on one underlay bridge with one pod
# each, and measures in the same run, against the raw underlay between the same hosts:
# TCP throughput (iperf3, one stream) and RTT (ping), then tartand's resident memory, idle CPU
# over 10 s, time from start to ready, and the delay from a peer's lease being written to the
# route being programmed. Prints a Markdown table (results go to docs/benchmarks.md).
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-5}
: "${TARTAND:=$PWD/build/release/src/cmd/tartand}"
[ -x "$TARTAND" ] || { echo "build tartand first (cmake --preset release && cmake --build build/release)" >&2; exit 1; }

results=$(mktemp)
trap 'rm -f "$results"' EXIT

run_backend() {  # run in a subshell: each backend gets its own cluster and cleanup
  local backend=$1
  (
    source tests/e2e/lib.sh
    require_root
    underlay_create
    etcd_start
    network_config_put "{\"Network\":\"10.244.0.0/16\",\"Backend\":{\"Type\":\"$backend\"}}"
    host_create 1
    host_create 2
    local t0 t_ready
    t0=$(now_ms)
    tartand_start 1
    wait_for 30 ready readyz 1
    t_ready=$(($(now_ms) - t0))
    tartand_start 2
    wait_ready 2
    pod_create 1
    pod_create 2
    wait_for 10 "pod path" pod_ping 1 2

    serve() {  # serve <ns>: a one-shot iperf3 server (started here, not in $(...), so cleanup sees it)
      start_in_ns "$1" "iperf-server-$1" iperf3 -s -1
      wait_for 5 "iperf3 server" in_ns "$1" sh -c "ss -ltn | grep -q :5201"
    }
    tput() {  # tput <client ns> <server ip> -> Gbit/s
      in_ns "$1" iperf3 -c "$2" -t "$secs" -J | python3 -c \
        'import json,sys; print("%.2f" % (json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"]/1e9))'
    }
    rtt() {  # rtt <ns> <ip> -> median-ish avg RTT in µs over 200 pings
      in_ns "$1" ping -q -c 200 -i 0.002 "$2" | sed -n 's|.*= [0-9.]*/\([0-9.]*\)/.*|\1|p' |
        awk '{printf "%.0f", $1 * 1000}'
    }
    local raw_t raw_r pod_t pod_r
    serve "$P-h2"
    raw_t=$(tput "$P-h1" "$(host_ip 2)")
    raw_r=$(rtt "$P-h1" "$(host_ip 2)")
    serve "$P-h2-pod"
    pod_t=$(tput "$P-h1-pod" "$(pod_ip_of 2)")
    pod_r=$(rtt "$P-h1-pod" "$(pod_ip_of 2)")

    # Footprint of the agent on host 1, idle (no lease changes) for 20 s; CPU includes the
    # iptables-save children it runs every --iptables-resync seconds.
    local pid=${TARTAND_PID[1]} tpid rss ticks0 ticks1 hz cpu
    tpid=$(pgrep -P "$pid" -x tartand || echo "$pid")
    rss=$(awk '/VmRSS/ {print $2}' "/proc/$tpid/status")
    hz=$(getconf CLK_TCK)
    ticks0=$(awk '{print $14 + $15 + $16 + $17}' "/proc/$tpid/stat")
    sleep 20 # measurement window, not synchronisation
    ticks1=$(awk '{print $14 + $15 + $16 + $17}' "/proc/$tpid/stat")
    cpu=$(awk -v d=$((ticks1 - ticks0)) -v hz="$hz" 'BEGIN {printf "%.2f", 100 * d / hz / 20}')

    # Peer join -> route: a lease written with etcdctl, the route polled on host 1.
    local i delays=() d key
    for i in $(seq 10); do
      key="10.244.$((200 + i)).0-24"
      t0=$(now_ms)
      etcdctl_v3 put "/coreos.com/network/subnets/$key" \
        "{\"PublicIP\":\"192.0.2.$((100 + i))\",\"PublicIPv6\":null,\"BackendType\":\"$backend\",\"BackendData\":{\"VNI\":1,\"VtepMAC\":\"0e:00:00:00:00:$((10 + i))\"}}" >/dev/null
      wait_for 5 "route for $key" sh -c "ip -n $P-h1 route | grep -q '^10.244.$((200 + i)).0/24'"
      delays+=($(($(now_ms) - t0)))
    done
    d=$(printf '%s\n' "${delays[@]}" | sort -n | sed -n 5p)

    echo "$backend|$raw_t|$pod_t|$raw_r|$pod_r|$rss|$cpu|$t_ready|$d" >>"$results"
  )
}

run_backend host-gw
run_backend vxlan

echo "| backend | underlay Gbit/s | pod-to-pod Gbit/s | ratio | underlay RTT µs | pod RTT µs | tartand RSS MiB | idle CPU % | start→ready ms | lease→route ms (median of 10, incl. etcdctl) |"
echo "|---|---|---|---|---|---|---|---|---|---|"
while IFS='|' read -r b rt pt rr pr rss cpu ready join; do
  ratio=$(awk -v a="$pt" -v b="$rt" 'BEGIN {printf "%.2f", a / b}')
  printf '| %s | %s | %s | %s | %s | %s | %.1f | %s | %s | %s |\n' "$b" "$rt" "$pt" "$ratio" "$rr" "$pr" \
    "$(awk -v k="$rss" 'BEGIN {print k / 1024}')" "$cpu" "$ready" "$join"
done <"$results"
