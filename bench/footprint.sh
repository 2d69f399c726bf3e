#!/usr/bin/env bash
# Where tartand's memory goes, against plain-HTTP and TLS etcd, all in network namespaces.
#   sudo bench/footprint.sh
# For each etcd scheme it starts etcd (TLS: with --client-cert-auth, as the deployment guide
# runs it) and one host running tartand with host-gw, waits until ready, lets it idle 10 s,
# then reads /proc: VmRSS, the anonymous and file-backed parts (smaps_rollup), threads, and the
# five mappings holding most resident memory. Baseline: flanneld's 28-29 MB RSS in every mode
# (flannel-compat §10; no flanneld binary can be installed here to measure side by side).
set -euo pipefail
cd "$(dirname "$0")/.."
: "${TARTAND:=$PWD/build/release/src/cmd/tartand}"
[ -x "$TARTAND" ] || { echo "build tartand first (cmake --preset release && cmake --build build/release)" >&2; exit 1; }
results=$(mktemp)
trap 'rm -f "$results"' EXIT

measure() {  # measure http|https; appends one row and a mapping breakdown to $results
  local scheme=$1
  (
    source tests/e2e/lib.sh
    require_root
    underlay_create
    local endpoint extra=()
    if [ "$scheme" = https ]; then
      etcd_start_tls
      etcdctl_v3_tls put /coreos.com/network/config '{"Network":"10.244.0.0/16","Backend":{"Type":"host-gw"}}' >/dev/null
      endpoint=$E2E_ETCD_TLS
      extra=(--etcd-cafile="$E2E_PKI/ca.pem" --etcd-certfile="$E2E_PKI/client.pem" --etcd-keyfile="$E2E_PKI/client-key.pem")
    else
      etcd_start
      network_config_put '{"Network":"10.244.0.0/16","Backend":{"Type":"host-gw"}}'
      endpoint=$E2E_ETCD
    fi
    host_create 1
    E2E_ETCD=$endpoint tartand_start 1 "${extra[@]}"
    wait_ready 1
    local pid=${TARTAND_PID[1]} tpid hz t0 t1
    tpid=$(pgrep -P "$pid" -x tartand || echo "$pid")
    hz=$(getconf CLK_TCK)
    t0=$(awk '{print $14 + $15 + $16 + $17}' "/proc/$tpid/stat")
    sleep 10 # idle window, not synchronisation
    t1=$(awk '{print $14 + $15 + $16 + $17}' "/proc/$tpid/stat")
    {
      printf '%s|%s|%s|%s|%s|%s\n' "$scheme" \
        "$(awk '/^VmRSS/ {print $2}' "/proc/$tpid/status")" \
        "$(awk '/^Pss_Anon/ {print $2}' "/proc/$tpid/smaps_rollup")" \
        "$(awk '/^Pss_File/ {print $2}' "/proc/$tpid/smaps_rollup")" \
        "$(awk '/^Threads/ {print $2}' "/proc/$tpid/status")" \
        "$(awk -v d=$((t1 - t0)) -v hz="$hz" 'BEGIN {printf "%.2f", 100 * d / hz / 10}')"
      # Top mappings by resident KiB: "name:KiB,name:KiB,...".
      awk '/^[0-9a-f]+-[0-9a-f]+ / {n = $6; sub(".*/", "", n); if (n == "") n = "[anon]"}
           /^Rss:/ {r[n] += $2}
           END {for (k in r) print r[k], k}' "/proc/$tpid/smaps" | sort -rn | head -5 |
        awk '{printf "%s%s %.1f", (NR > 1 ? ", " : ""), $2, $1 / 1024} END {print ""}'
    } >>"$results"
  )
}

measure http
measure https

echo "| etcd | tartand RSS MiB | of flanneld's 28 MB | anonymous (Pss_Anon) MiB | file-backed (Pss_File) MiB | threads | idle CPU % | largest mappings (MiB) |"
echo "|---|---|---|---|---|---|---|---|"
while IFS='|' read -r scheme rss anon file threads cpu && IFS= read -r top; do
  printf '| %s | %.1f | %.2f | %.1f | %.1f | %s | %s | %s |\n' "$scheme" \
    "$(awk -v k="$rss" 'BEGIN {print k / 1024}')" "$(awk -v k="$rss" 'BEGIN {print k * 1024 / 28e6}')" \
    "$(awk -v k="$anon" 'BEGIN {print k / 1024}')" "$(awk -v k="$file" 'BEGIN {print k / 1024}')" \
    "$threads" "$cpu" "$top"
done <"$results"
