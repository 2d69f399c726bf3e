#!/usr/bin/env bash
# End-to-end: what tartand and tartanctl tell an operator (issue 12).
#   ctl.sh metrics | status
set -euo pipefail
source "$(dirname "$0")/lib.sh"
require_root
[ -x "$TARTAND" ] || fail "tartand not built at $TARTAND"
: "${TARTANCTL:=$(dirname "$TARTAND")/tartanctl}"
[ -x "$TARTANCTL" ] || fail "tartanctl not built at $TARTANCTL"
PARSE=$(dirname "$0")/parse_metrics.py
/usr/bin/python3 -c 'import prometheus_client' 2>/dev/null || {
  echo "SKIP: python3-prometheus-client is not installed (scripts/install-deps.sh)" >&2
  exit 77
}

HOSTGW_CONFIG='{"Network":"10.244.0.0/16","Backend":{"Type":"host-gw"}}'

cluster() { cluster_start "$HOSTGW_CONFIG" : $(seq "$1"); }  # cluster <n hosts>

# metrics_of <n>: host n's /metrics, parsed by prometheus_client (fails on a format error).
metrics_of() {
  in_ns "$P-h$1" curl -fsS -m 2 "http://127.0.0.1:2401/metrics" >"$E2E_WORK/metrics.txt" || return 1
  /usr/bin/python3 "$PARSE" <"$E2E_WORK/metrics.txt"
}
# sample_is <n> <sample line prefix> <value>
# (Through a file: grep -q would close the pipe early and fail the parser's write.)
sample_is() { metrics_of "$1" >"$E2E_WORK/sample.txt" && grep -qxF -- "$2 $3" "$E2E_WORK/sample.txt"; }

scenario_metrics() {
  # The parser is a real one: it refuses what is not exposition format.
  if printf 'tartan_x{a="1" 2\n' | /usr/bin/python3 "$PARSE" >/dev/null 2>&1; then
    fail "parse_metrics.py accepted broken text"
  fi
  cluster 3
  local s1 s2
  s1=$(subnet_of 1)
  s2=$(subnet_of 2)
  metrics_of 1 >"$E2E_WORK/parsed.txt" || { cat "$E2E_WORK/metrics.txt"; fail "/metrics does not parse"; }
  log "h1 /metrics: $(wc -l <"$E2E_WORK/metrics.txt") lines, $(wc -l <"$E2E_WORK/parsed.txt") samples"
  local want
  for want in 'tartan_build_info{version="' "tartan_lease_info{backend=\"host-gw\",public_ip=\"$(host_ip 1)\",subnet=\"$s1\"} 1" \
    'tartan_lease_expiry_timestamp_seconds{} ' 'tartan_reconcile_passes_total{} ' \
    'tartan_reconcile_duration_seconds_bucket{le="+Inf"} ' 'tartan_reconcile_duration_seconds_sum{} ' \
    'tartan_etcd_requests_total{endpoint="http://192.0.2.1:2379",result="answered"} ' \
    'tartan_lease_renewals_total{} ' 'tartan_watch_restarts_total{} ' 'tartan_firewall_repairs_total{} '; do
    grep -qF -- "$want" "$E2E_WORK/parsed.txt" || { cat "$E2E_WORK/parsed.txt"; fail "missing sample: $want"; }
  done
  wait_for 15 "2 peers on the host-gw path" sample_is 1 'tartan_peers{backend="host-gw",path="host-gw"}' 2
  wait_for 15 "2 routes desired and programmed" sample_is 1 'tartan_kernel_entries{kind="route",state="programmed"}' 2
  sample_is 1 'tartan_kernel_entries{kind="route",state="desired"}' 2 || fail "routes desired"
  # A lease expiry about 24 h ahead.
  local expiry now
  expiry=$(sed -n 's/^tartan_lease_expiry_timestamp_seconds{} //p' "$E2E_WORK/parsed.txt")
  now=$(date +%s)
  /usr/bin/python3 -c "import sys; e=float('$expiry'); sys.exit(0 if 86000 < e - $now <= 86400 else 1)" ||
    fail "lease expiry $expiry is not now + 24 h"

  # Lease events reprogram the changed peers only, and the kernel's echoes of tartan's own
  # writes are recognised: no full pass per event (docs/adr/0019). One periodic pass may fall
  # in the window.
  local passes0 passes1 k
  passes0=$(metrics_of 1 | sed -n 's/^tartan_reconcile_passes_total{} //p')
  for k in 1 2 3 4 5; do
    etcdctl_v3 put "/coreos.com/network/subnets/10.244.24$k.0-24" "{\"PublicIP\":\"$(host_ip 2)\",\"PublicIPv6\":null,\"BackendType\":\"host-gw\"}" >/dev/null
  done
  wait_for 10 "5 more routes programmed" sample_is 1 'tartan_kernel_entries{kind="route",state="programmed"}' 7
  sample_is 1 'tartan_peers{backend="host-gw",path="host-gw"}' 7 || fail "tartan_peers after 5 leases"
  for k in 1 2 3 4 5; do etcdctl_v3 del "/coreos.com/network/subnets/10.244.24$k.0-24" >/dev/null; done
  wait_for 10 "the 5 routes gone" sample_is 1 'tartan_kernel_entries{kind="route",state="programmed"}' 2
  passes1=$(metrics_of 1 | sed -n 's/^tartan_reconcile_passes_total{} //p')
  [ "${passes1%.*}" -le $((${passes0%.*} + 1)) ] ||
    fail "10 lease events cost $((${passes1%.*} - ${passes0%.*})) full passes"
  log "10 lease events, $((${passes1%.*} - ${passes0%.*})) full passes"
  # A route deleted by hand is repaired and counted.
  local before
  before=$(metrics_of 1 | sed -n 's/^tartan_repairs_total{kind="route_added"} //p')
  ip -n "$P-h1" route del "$s2"
  wait_for 20 "the repair counted" bash -c "[ \"\$(/usr/bin/python3 '$PARSE' < <(ip netns exec '$P-h1' curl -fsS -m 2 http://127.0.0.1:2401/metrics) | sed -n 's/^tartan_repairs_total{kind=\"route_added\"} //p')\" -gt '${before%.*}' ]"
  # A peer whose lease has no public IP: unreachable, said why on /status.
  etcdctl_v3 put /coreos.com/network/subnets/10.244.250.0-24 '{"PublicIP":"0.0.0.0","PublicIPv6":null,"BackendType":"host-gw"}' >/dev/null
  wait_for 15 "an unreachable peer" sample_is 1 'tartan_peers{backend="host-gw",path="unreachable"}' 1
  # The anomaly is logged once when it appears and once when it clears, not once per pass.
  etcdctl_v3 del /coreos.com/network/subnets/10.244.250.0-24 >/dev/null
  wait_for 15 "the unreachable peer gone" sample_is 1 'tartan_peers{backend="host-gw",path="host-gw"}' 2
  sleep 11  # one periodic pass (10 s) later nothing more may be said (a measured quiet period)
  local said cleared
  said=$(grep -c ' W .*10.244.250.0/24.*no PublicIP' "$E2E_WORK/tartand-h1.log" || true)
  cleared=$(grep -c ' I resolved: .*10.244.250.0/24.*no PublicIP' "$E2E_WORK/tartand-h1.log" || true)
  [ "$said" = 1 ] && [ "$cleared" = 1 ] ||
    fail "the anomaly was said $said times and its end $cleared times, want once each"
  log "metrics parse with prometheus_client; peers, routes, repairs, lease and etcd counters as expected"
}

scenario_status() {
  cluster 2
  local s1 s2 out
  s1=$(subnet_of 1)
  s2=$(subnet_of 2)
  # A reservation, a v0.11-shaped lease with a foreign address and a garbage key beside them.
  etcdctl_v3 put /coreos.com/network/subnets/10.244.200.0-24 '{"PublicIP":"192.0.2.200","PublicIPv6":null,"BackendType":"host-gw"}' >/dev/null
  etcdctl_v3 put /coreos.com/network/subnets/junk 'nonsense' >/dev/null

  # tartanctl with tartand's own line, in a host namespace.
  out=$(in_ns "$P-h1" "$TARTANCTL" status --etcd-endpoints="$E2E_ETCD" --iface=eth0 --ip-masq \
    --subnet-file="$E2E_WORK/h1/subnet.env" --healthz-ip=127.0.0.1 --healthz-port=2401)
  echo "$out" >&2
  echo "$out" | grep -qE "^${s1%/*}/24 +$(host_ip 1) +host-gw +- +2[34]h" || fail "h1's lease row"
  echo "$out" | grep -qE "^10.244.200.0/24 +192.0.2.200 +host-gw +- +reserved +v0.12\+" || fail "reservation row"
  echo "$out" | grep -qF 'junk": unparseable key' || fail "garbage key anomaly"
  # JSON from FLANNELD_* variables.
  out=$(in_ns "$P-h1" env FLANNELD_ETCD_ENDPOINTS="$E2E_ETCD" "$TARTANCTL" status --output=json)
  /usr/bin/python3 -c 'import json,sys; j=json.load(sys.stdin); assert j["api"]=="v3"; assert len(j["leases"])==4, j' <<<"$out" ||
    fail "status --output=json"

  # --local: the agent's own view from its health port.
  out=$(in_ns "$P-h1" "$TARTANCTL" status --local --healthz-ip=127.0.0.1 --healthz-port=2401)
  echo "$out" >&2
  echo "$out" | grep -qE "^ready: +yes" || fail "--local: ready"
  echo "$out" | grep -qF "lease:    $s1" || fail "--local: lease"
  echo "$out" | grep -qE "^${s2%/*}/24 +$(host_ip 2) +host-gw +host-gw" || fail "--local: peer h2 path"
  echo "$out" | grep -qE "^10.244.200.0/24 +192.0.2.200 +host-gw +host-gw" || fail "--local: reserved peer path"
  out=$(in_ns "$P-h1" "$TARTANCTL" status --local --output=json --healthz-port=2401 --healthz-ip=127.0.0.1)
  /usr/bin/python3 -c 'import json,sys; j=json.load(sys.stdin); assert j["ready"] is True; assert j["agent"]["etcd"]["api"]=="v3"; assert len(j["agent"]["peers"])==2, j' <<<"$out" ||
    fail "status --local --output=json"
  # Not reachable: a clear error, exit 1.
  if in_ns "$P-h2" "$TARTANCTL" status --local --healthz-port=2499 --healthz-ip=127.0.0.1 2>"$E2E_WORK/err.txt"; then
    fail "--local without an agent succeeded"
  fi
  grep -qF "2499" "$E2E_WORK/err.txt" || fail "--local error names the port"
  log "status (etcd) and status --local (health port) as expected"
}

case "${1:-}" in
  metrics) scenario_metrics ;;
  status) scenario_status ;;
  *) echo "usage: $0 metrics|status" >&2; exit 2 ;;
esac
log "PASS ctl $1"
