#!/usr/bin/env bash
# The README's first command: a local tartan cluster on this machine, in network namespaces.
#   sudo scripts/demo.sh [--backend host-gw|vxlan] [--hosts N] [--keep]
# Starts etcd and N hosts running tartand, shows the leases, the routes, a pod-to-pod ping and
# the source address the receiver saw, then tears everything down (also on Ctrl-C).
# --keep waits for Enter before tearing down, so you can look around with `ip netns`.
set -euo pipefail
cd "$(dirname "$0")/.."

backend=host-gw
hosts=3
keep=0
while [ $# -gt 0 ]; do
  case "$1" in
    --backend) backend=$2; shift 2 ;;
    --backend=*) backend=${1#*=}; shift ;;
    --hosts) hosts=$2; shift 2 ;;
    --hosts=*) hosts=${1#*=}; shift ;;
    --keep) keep=1; shift ;;
    -h|--help) sed -n '2,6p' "$0"; exit 0 ;;
    *) echo "demo: unknown argument $1 (try --help)" >&2; exit 2 ;;
  esac
done
case "$backend" in host-gw|vxlan) ;; *) echo "demo: backend must be host-gw or vxlan" >&2; exit 2 ;; esac
[[ $hosts =~ ^[2-9]$ ]] || { echo "demo: --hosts takes 2 to 9" >&2; exit 2; }
if [ "$(id -u)" -ne 0 ]; then
  echo "demo: needs root for network namespaces (try: sudo $0)" >&2
  exit 1
fi

bash scripts/install-deps.sh
echo "== building tartand"
cmake --preset release >/dev/null
cmake --build build/release --target tartand -j "$(nproc)" >/dev/null

source tests/e2e/lib.sh
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "underlay bridge and etcd (namespace $P-ul, etcd at $E2E_ETCD)"
underlay_create
etcd_start
config="{\"Network\":\"$E2E_NETWORK\",\"Backend\":{\"Type\":\"$backend\"}}"
network_config_put "$config"
echo "etcdctl put /coreos.com/network/config '$config'"

say "$hosts hosts running tartand ($backend)"
for n in $(seq "$hosts"); do
  host_create "$n"
  tartand_start "$n"
  echo "host h$n: namespace $P-h$n, eth0 $(host_ip "$n"), tartand pid ${TARTAND_PID[$n]}"
done
for n in $(seq "$hosts"); do
  wait_ready "$n"
  pod_create "$n"
done

say "leases in etcd"
etcdctl_v3 get --prefix /coreos.com/network/subnets

say "subnet.env of h1"
subnet_env_of 1

for n in $(seq "$hosts"); do
  say "routes on h$n"
  routes_of "$n"
done

say "pod on h1 ($(pod_ip_of 1)) pings pod on h2 ($(pod_ip_of 2))"
pod_ping 1 2

say "TCP from pod on h1 to pod on h2: the receiver saw"
tcp_echo_server_start 2
seen=$(tcp_source_seen 1 2)
echo "$seen  (pod h1 is $(pod_ip_of 1): source address preserved)"

say "tartand's log on h1"
cat "$E2E_WORK/tartand-h1.log"

if [ "$keep" = 1 ]; then
  say "cluster kept; press Enter to tear it down"
  read -r _
fi
say "tearing down (namespaces, etcd, tartand)"
