#!/usr/bin/env bash
# udp data-plane benchmark, all in network namespaces on this machine, one run:
#   sudo bench/udp.sh [seconds per iperf3 run, default 8] [modes...]
# Modes (default all): tartan-udp tartan-udp-nooffload flanneld-udp host-gw vxlan
# (tartan-udp-nooffload: Backend.Offload false, MTU-sized packets through the workers). flanneld-udp is the reference
# flanneld v0.11.0 (../shared/interop, etcd v2) and is skipped when absent.
# For each mode: two hosts on one underlay bridge, one pod each; pod-to-pod TCP throughput
# with iperf3 (1 stream, then 4), RTT (ping), and CPU-seconds per GB moved, counting
#   agents:  both hosts' tartand/flanneld (all threads, /proc/<pid>/stat utime+stime),
#   all:     agents + both iperf3 processes + the ksoftirqd threads (where the kernel's
#            encapsulation and delivery are accounted when not in a process's own context).
# The machine is shared: other processes' CPU is not counted, but they compete for the cores.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-8}
shift || true
modes=("$@")
[ ${#modes[@]} -gt 0 ] || modes=(tartan-udp tartan-udp-nooffload flanneld-udp vxlan host-gw)
: "${TARTAND:=$PWD/build/release/src/cmd/tartand}"
[ -x "$TARTAND" ] || { echo "build tartand first" >&2; exit 1; }
FLANNELD011=${TARTAN_INTEROP_DIR:-$(git rev-parse --show-toplevel)/../shared/interop}/flanneld-v0.11.0
results=$(mktemp)
trap 'rm -f "$results"' EXIT
hz=$(getconf CLK_TCK)

ticks_of() {  # ticks_of <pid...>: utime+stime summed (a process's stat covers all its threads)
  local t=0 p
  for p in "$@"; do
    [ -r "/proc/$p/stat" ] || continue
    t=$((t + $(sed 's/.*) //' "/proc/$p/stat" | awk '{print $12 + $13}')))
  done
  echo "$t"
}
softirqd_pids() { pgrep -x 'ksoftirqd/[0-9]+' || pgrep ksoftirqd; }

run_mode() {
  local mode=$1
  (
    source tests/e2e/lib.sh
    require_root
    local backend="\"$mode\""
    case $mode in
      tartan-udp | flanneld-udp) backend='"udp"' ;;
      tartan-udp-nooffload) backend='"udp","Offload":false' ;;
    esac
    if [ "$mode" = flanneld-udp ] && [ ! -x "$FLANNELD011" ]; then
      echo "skipped: $FLANNELD011 not found" >&2
      exit 0
    fi
    underlay_create
    etcd_start
    local config="{\"Network\":\"10.244.0.0/16\",\"Backend\":{\"Type\":$backend}}"
    in_ns "$P-ul" env ETCDCTL_API=2 etcdctl --endpoints="$E2E_ETCD" set /coreos.com/network/config "$config" >/dev/null
    network_config_put "$config"
    host_create 1
    host_create 2
    local n agents=()
    for n in 1 2; do
      if [ "$mode" = flanneld-udp ]; then
        mkdir -p "$E2E_WORK/h$n"
        start_in_ns "$P-h$n" "flanneld-h$n" "$FLANNELD011" --etcd-endpoints="$E2E_ETCD" \
          --iface=eth0 --subnet-file="$E2E_WORK/h$n/subnet.env"
        wait_for 30 "flanneld h$n" grep -q '^FLANNEL_SUBNET=' "$E2E_WORK/h$n/subnet.env"
      else
        tartand_start "$n" --etcd-api=v3
        wait_ready "$n"
      fi
      agents+=("$LAST_PID")
    done
    pod_create 1
    pod_create 2
    wait_for 20 "pod path" pod_ping 1 2
    wait_for 20 "pod path back" pod_ping 2 1

    local srv cli
    iperf() {  # iperf <streams> -> "Gbit/s cpu_agents_ticks cpu_all_ticks bytes"
      local streams=$1 a0 a1 k0 k1 s0 s1 out bytes gbps spid
      start_in_ns "$P-h2-pod" "iperf-server" iperf3 -s -1
      spid=$LAST_PID
      wait_for 5 "iperf3 server" in_ns "$P-h2-pod" sh -c "ss -ltn | grep -q :5201"
      a0=$(ticks_of "${agents[@]}")
      k0=$(ticks_of $(softirqd_pids))
      s0=$(ticks_of "$spid" $(pgrep -P "$spid"))
      out=$(in_ns "$P-h1-pod" iperf3 -c "$(pod_ip_of 2)" -t "$secs" -P "$streams" -J)
      a1=$(ticks_of "${agents[@]}")
      k1=$(ticks_of $(softirqd_pids))
      s1=$(ticks_of "$spid" $(pgrep -P "$spid"))
      # The client's own CPU comes from its JSON (cpu_utilization_percent.host_total).
      python3 -c '
import json, sys
j = json.load(sys.stdin)
e = j["end"]
bytes_ = e["sum_received"]["bytes"]
secs = e["sum_received"]["seconds"]
client_cpu_s = e["cpu_utilization_percent"]["host_total"] / 100.0 * secs
print("%.3f %d %.3f" % (bytes_ * 8 / secs / 1e9, bytes_, client_cpu_s))' <<<"$out" | {
        read -r gbps bytes ccpu
        echo "$gbps $bytes $ccpu $((a1 - a0)) $((k1 - k0)) $((s1 - s0))"
      }
      wait "$spid" 2>/dev/null || true
    }
    local r1 r4 rtt
    r1=$(iperf 1)
    r4=$(iperf 4)
    rtt=$(in_ns "$P-h1-pod" ping -q -c 200 -i 0.002 "$(pod_ip_of 2)" |
      sed -n 's|.*= [0-9.]*/\([0-9.]*\)/.*|\1|p' | awk '{printf "%.0f", $1 * 1000}')
    echo "$mode|$r1|$r4|$rtt" >>"$results"
  )
}

for m in "${modes[@]}"; do run_mode "$m"; done

echo "iperf3 $secs s per run; CPU-s/GB: agents = tartand/flanneld on both hosts; all = agents +"
echo "iperf3 client and server + ksoftirqd. hz=$hz"
echo
echo "| mode | 1 stream Gbit/s | agents CPU-s/GB | all CPU-s/GB | 4 streams Gbit/s | agents CPU-s/GB | all CPU-s/GB | RTT µs |"
echo "|---|---|---|---|---|---|---|---|"
while IFS='|' read -r mode r1 r4 rtt; do
  row="| $mode "
  for r in "$r1" "$r4"; do
    read -r gbps bytes ccpu agent_t ksoft_t server_t <<<"$r"
    row+=$(awk -v g="$gbps" -v b="$bytes" -v c="$ccpu" -v a="$agent_t" -v k="$ksoft_t" -v s="$server_t" -v hz="$hz" \
      'BEGIN { gb = b / 1e9; ag = a / hz / gb; all = (a + k + s) / hz / gb + c / gb;
               printf "| %.2f | %.2f | %.2f ", g, ag, all }')
  done
  echo "$row| $rtt |"
done <"$results"
