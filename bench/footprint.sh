#!/usr/bin/env bash
# Where tartand's memory goes, against plain-HTTP and TLS etcd, all in network namespaces.
#   sudo bench/footprint.sh [N ...]          (default N: 0 100 1000 5000)
#   SCHEMES="http https" IDLE=80 EVENTS=100  (the defaults); DETAIL=<dir> keeps /proc/<pid>/smaps
#   API=v2: the leases, the config and tartand on etcd's v2 API (--enable-v2), as flanneld <= v0.17
#   BACKEND=vxlan: the network and the peers' leases with vxlan (default host-gw)
#   TARTAND=<program> to run instead; SETTLED_HOOK, HOOK, END_HOOK: see measure()
# For each etcd scheme and each N it starts etcd (TLS: with --client-cert-auth, as the
# deployment guide runs it), writes N host-gw peer leases (each on one etcd lease, public IPs
# on-link through a second address on eth0), starts one host running tartand with host-gw,
# waits until it is ready and has all N routes, lets it settle (SETTLE s, default 3) and idle
# (IDLE s, default 80: tartand drops its clean file pages at the first settle and again at most
# once a minute, so 80 s see the second drop and one periodic pass after it), then reads /proc: VmRSS, the anonymous and file-backed parts (smaps_rollup),
# threads, idle CPU and the five mappings holding most resident memory. Then EVENTS more leases
# arrive through the watch; once their routes are in and SETTLE s have passed, RSS is read
# again. Peak RSS (VmHWM) is the most tartand ever had resident, the start-up listing included.
# Baseline: flanneld's 27-33 MB RSS (issue 13: v0.11 at 100-5000 peers).
set -euo pipefail
cd "$(dirname "$0")/.."
: "${TARTAND:=$PWD/build/release/src/cmd/tartand}"
: "${SCHEMES:=http https}"
: "${IDLE:=80}"
: "${EVENTS:=100}"
: "${SETTLE:=3}"
: "${API:=v3}"
: "${BACKEND:=host-gw}"
[ -x "$TARTAND" ] || { echo "build tartand first (cmake --preset release && cmake --build build/release)" >&2; exit 1; }
counts=("$@")
[ ${#counts[@]} -gt 0 ] || counts=(0 100 1000 5000)
results=$(mktemp)
trap 'rm -f "$results"' EXIT

# put_leases <url> <first> <count> [ca cert key]: peer i gets 10.(1 + i/256).(i%256).0/24 at
# 100.64.(i/250).(i%250 + 1), all attached to one etcd lease of an hour (v2: each key with a
# TTL of an hour), written over one keep-alive connection to etcd's v3 gateway (v2: /v2/keys).
put_leases() {
  in_ns "$P-ul" /usr/bin/python3 - "$API" "$BACKEND" "$@" <<'EOF'
import base64, http.client, json, ssl, sys, urllib.parse
api = sys.argv.pop(1)
backend = sys.argv.pop(1)
url, first, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
scheme, hostport = url.split("://")
host, port = hostport.rsplit(":", 1)
if scheme == "https":
    ctx = ssl.create_default_context(cafile=sys.argv[4])
    ctx.load_cert_chain(sys.argv[5], sys.argv[6])
    conn = http.client.HTTPSConnection(host, int(port), context=ctx)
else:
    conn = http.client.HTTPConnection(host, int(port))
def call(path, body):
    conn.request("POST", path, json.dumps(body), {"Content-Type": "application/json"})
    r = conn.getresponse()
    data = r.read()
    if r.status != 200:
        sys.exit(f"{path}: HTTP {r.status}: {data[:200]!r}")
    return json.loads(data)
def put_v2(key, value, ttl):
    form = {"value": value} | ({"ttl": str(ttl)} if ttl else {})
    conn.request("PUT", "/v2/keys" + key, urllib.parse.urlencode(form),
                 {"Content-Type": "application/x-www-form-urlencoded"})
    r = conn.getresponse()
    data = r.read()
    if r.status not in (200, 201):
        sys.exit(f"{key}: HTTP {r.status}: {data[:200]!r}")
b64 = lambda s: base64.b64encode(s.encode()).decode()
if count < 0:  # the network config
    config = '{"Network":"10.0.0.0/8","SubnetLen":24,"Backend":{"Type":"%s"}}' % backend
    if api == "v2":
        put_v2("/coreos.com/network/config", config, 0)
    else:
        call("/v3/kv/put", {"key": b64("/coreos.com/network/config"), "value": b64(config)})
    sys.exit(0)
lease = call("/v3/lease/grant", {"TTL": "3600"})["ID"] if api != "v2" else None
for i in range(first, first + count):
    key = f"/coreos.com/network/subnets/10.{1 + i // 256}.{i % 256}.0-24"
    value = json.dumps({"PublicIP": f"100.64.{i // 250}.{i % 250 + 1}", "PublicIPv6": None,
                        "BackendType": backend, "BackendData": None if backend == "host-gw" else
                        {"VtepMAC": "02:7b:%02x:%02x:%02x:01" % (i >> 16 & 255, i >> 8 & 255, i & 255)}})
    if api == "v2":
        put_v2(key, value, 3600)
    else:
        call("/v3/kv/put", {"key": b64(key), "value": b64(value), "lease": lease})
EOF
}

# host-gw: "<subnet> via <public IP> dev eth0"; vxlan: "<subnet> via <subnet>.0 dev flannel.1 onlink".
peer_routes() { ip -n "$P-h1" -4 route show table main | grep -c -E ' via 100\.64\.| dev flannel\.1 ' || true; }
routes_at_least() { [ "$(peer_routes)" -ge "$1" ]; }

snapshot() {  # snapshot <pid>: "rss|anon|file|threads|peak"
  printf '%s|%s|%s|%s|%s' \
    "$(awk '/^VmRSS/ {print $2}' "/proc/$1/status")" \
    "$(awk '/^Pss_Anon/ {print $2}' "/proc/$1/smaps_rollup")" \
    "$(awk '/^Pss_File/ {print $2}' "/proc/$1/smaps_rollup")" \
    "$(awk '/^Threads/ {print $2}' "/proc/$1/status")" \
    "$(awk '/^VmHWM/ {print $2}' "/proc/$1/status")"
}

top_mappings() {  # top_mappings <pid>: "name KiB, name KiB, ..." (five largest resident)
  awk '/^[0-9a-f]+-[0-9a-f]+ / {n = $6; sub(".*/", "", n); if (n == "") n = "[anon]"}
       /^Rss:/ {r[n] += $2}
       END {for (k in r) print r[k], k}' "/proc/$1/smaps" | sort -rn | head -5 |
    awk '{printf "%s%s %.1f", (NR > 1 ? ", " : ""), $2, $1 / 1024} END {print ""}'
}

measure() {  # measure http|https <N>; appends two lines to $results
  local scheme=$1 n=$2
  (
    source tests/e2e/lib.sh
    require_root
    underlay_create
    local endpoint extra=() tls=()
    if [ "$scheme" = https ]; then
      etcd_start_tls --enable-v2=true
      endpoint=$E2E_ETCD_TLS
      tls=("$E2E_PKI/ca.pem" "$E2E_PKI/client.pem" "$E2E_PKI/client-key.pem")
      extra=(--etcd-cafile="${tls[0]}" --etcd-certfile="${tls[1]}" --etcd-keyfile="${tls[2]}")
    else
      etcd_start
      endpoint=$E2E_ETCD
    fi
    extra+=(--etcd-api="$API")
    put_leases "$endpoint" 0 -1 "${tls[@]}"
    put_leases "$endpoint" 0 "$n" "${tls[@]}"
    host_create 1
    # Peers' public IPs are on-link through this second address (host-gw routes only those).
    ip -n "$P-h1" addr add 100.64.63.254/18 dev eth0
    E2E_ETCD=$endpoint tartand_start 1 "${extra[@]}"
    wait_ready 1 60
    wait_for 120 "$n peer routes" routes_at_least "$n"
    local pid=${TARTAND_PID[1]} hz t0 t1 after
    hz=$(getconf CLK_TCK)
    # tartand hands memory back once the lease watch has been quiet for 2 s after a listing or
    # a burst of events (StoreOptions::settle_after); measured after that, not during it.
    sleep "$SETTLE"
    # SETTLED_HOOK=<command>: run with the pid once settled, before the idle window (bench/layout.sh).
    [ -z "${SETTLED_HOOK:-}" ] || $SETTLED_HOOK "$pid"
    t0=$(awk '{print $14 + $15}' "/proc/$pid/stat")
    sleep "$IDLE" # idle window, not synchronisation
    t1=$(awk '{print $14 + $15}' "/proc/$pid/stat")
    local settled cpu
    settled=$(snapshot "$pid")
    cpu=$(awk -v d=$((t1 - t0)) -v hz="$hz" -v s="$IDLE" 'BEGIN {printf "%.2f", 100 * d / hz / s}')
    local top
    top=$(top_mappings "$pid")
    # DETAIL=<dir>: keep the whole smaps and status for a closer look.
    if [ -n "${DETAIL:-}" ]; then
      mkdir -p "$DETAIL"
      cp "/proc/$pid/smaps" "$DETAIL/$scheme-$n.smaps"
      cp "/proc/$pid/status" "$DETAIL/$scheme-$n.status"
      # HOOK=<command>: run with the pid and the output prefix (e.g. a gdb malloc_stats call).
      [ -z "${HOOK:-}" ] || $HOOK "$pid" "$DETAIL/$scheme-$n" || true
    fi
    put_leases "$endpoint" "$n" "$EVENTS" "${tls[@]}"
    wait_for 60 "$((n + EVENTS)) peer routes" routes_at_least "$((n + EVENTS))"
    sleep "$SETTLE"
    after=$(awk '/^VmRSS/ {print $2}' "/proc/$pid/status")
    # END_HOOK=<command>: run with the pid after the lease events, before tartand is stopped.
    [ -z "${END_HOOK:-}" ] || $END_HOOK "$pid"
    printf '%s|%s|%s|%s|%s\n%s\n' "$scheme" "$n" "$settled" "$cpu" "$after" "$top" >>"$results"
  )
}

for scheme in $SCHEMES; do
  for n in "${counts[@]}"; do measure "$scheme" "$n"; done
done

mib() { awk -v k="$1" 'BEGIN {printf "%.1f", k / 1024}'; }
echo "| etcd ($API), $BACKEND | peers | RSS MiB | anonymous (Pss_Anon) MiB | file-backed (Pss_File) MiB | threads | idle CPU % | RSS after $EVENTS lease events MiB | peak RSS MiB | largest mappings (MiB) |"
echo "|---|---|---|---|---|---|---|---|---|---|"
while IFS='|' read -r scheme n rss anon file threads peak cpu after && IFS= read -r top; do
  printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "$scheme" "$n" "$(mib "$rss")" \
    "$(mib "$anon")" "$(mib "$file")" "$threads" "$cpu" "$(mib "$after")" "$(mib "$peak")" "$top"
done <"$results"
