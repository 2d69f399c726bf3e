#!/usr/bin/env bash
# The agent at cluster scale (issue 13): one host-gw agent facing N peer leases, tartand on the
# etcd v3 API beside the unmodified flanneld v0.11.0 on v2, all in network namespaces.
#   sudo bench/scale.sh [N...]              (default: 100 1000 5000)
# Environment:
#   TARTAND=<binary>        default build/release/src/cmd/tartand
#   FLANNELD=<binary>       default ../shared/interop/flanneld-v0.11.0 (skipped when absent)
#   SCALE_AGENTS="tartand flanneld"   which agents to run
#   SCALE_EVENTS=100 SCALE_INTERVAL_MS=30   the timed lease events
#   SCALE_TAIL_S=1          CPU window kept open after the last event's route appears
#   SCALE_TARTAND_FLAGS="-v=1"   more flags for tartand (-v=1: the loop's slow steps logged)
#   SCALE_KEEP=<dir>        keep each run's agent log and per-event times (sent, put
#                           acknowledged, route seen) there, for lining up slow events
#   SCALE_IDLE_S=20         idle window whose CPU rate is taken off the event window's (two of
#                           tartand's 10 s periodic checks)
#
# For each N: a fresh underlay + etcd 3.4 (--enable-v2), N peer leases written in the v3 key
# space and N in the v2 key space (bench/scale_tool.py fill), then, one agent at a time, in its
# own host namespace (h1 tartand, h2 flanneld):
#   start     the agent starts; a route monitor (rtnetlink, in the namespace, started first)
#             stamps each gateway route's first appearance; "all routes" is the N-th one,
#             measured from just before the agent's exec.
#   events    SCALE_EVENTS new leases written SCALE_INTERVAL_MS apart (fixed rate); CPU per
#             event = utime+stime delta of the agent (/proc/<pid>/stat) from just before the
#             first write to SCALE_TAIL_S after the last event route, / SCALE_EVENTS; delay =
#             route stamp - time the put was sent, p50/p99 (nearest rank).
#   rss       VmRSS at the end of the event window.
# Peers do not exist as hosts: their public IPs are in 198.18.0.0/15, an address range the
# agent's eth0 also carries (198.18.0.1 or .2) so their host-gw routes are on-link. The agents'
# own public IPs stay the lib.sh ones (192.0.2.11/12).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(100 1000 5000)
: "${TARTAND:=$ROOT/build/release/src/cmd/tartand}"
: "${FLANNELD:=${TARTAN_INTEROP_DIR:-$(git rev-parse --show-toplevel)/../shared/interop}/flanneld-v0.11.0}"
: "${SCALE_AGENTS:=tartand flanneld}"
: "${SCALE_EVENTS:=100}"
: "${SCALE_INTERVAL_MS:=30}"
: "${SCALE_TAIL_S:=1}"
: "${SCALE_IDLE_S:=20}"
TOOL=$ROOT/bench/scale_tool.py
PY=/usr/bin/python3
[ -x "$TARTAND" ] || { echo "build tartand first (cmake --preset release && cmake --build build/release --target tartand)" >&2; exit 1; }
agents=()
for a in $SCALE_AGENTS; do
  if [ "$a" = flanneld ] && [ ! -x "$FLANNELD" ]; then
    echo "flanneld skipped: $FLANNELD not found" >&2
    continue
  fi
  agents+=("$a")
done
results=$(mktemp /tmp/scale-results.XXXX)
trap 'rm -f "$results"' EXIT
PEER_BASE=32768  # peer k has 10.<k/256>.<k%256>.0/24: peers from 10.128.0.0, events from 10.192.0.0
EVENT_BASE=49152 # (the agents pick their own subnet near SubnetMin, 10.0.1.0, far from both)
CONFIG='{"Network":"10.0.0.0/8","SubnetLen":24,"Backend":{"Type":"host-gw"}}'
began=$SECONDS

# run_size <N>: always run in the background (&), i.e. in a subshell of its own, which lib.sh's
# trap cleans up; its PID is then the one to signal (no inner subshell between).
run_size() {
  local n=$1
  {
    source tests/e2e/lib.sh
    require_root
    underlay_create
    etcd_start
    network_config_put "$CONFIG"
    in_ns "$P-ul" env ETCDCTL_API=2 etcdctl --endpoints="$E2E_ETCD" set /coreos.com/network/config "$CONFIG" >/dev/null
    local api
    for api in v3 v2; do
      log "N=$n: writing $n $api peer leases"
      in_ns "$P-ul" "$PY" "$TOOL" fill --endpoint "$E2E_ETCD" --api "$api" --first "$PEER_BASE" --count "$n"
    done

    local agent h=0
    for agent in "${agents[@]}"; do
      h=$((h + 1))
      host_create "$h"
      ip -n "$P-h$h" addr add "198.18.0.$h/15" dev eth0
      mkdir -p "$E2E_WORK/h$h"
      local routes="$E2E_WORK/monitor-h$h.log" api=v3
      [ "$agent" = flanneld ] && api=v2
      start_in_ns "$P-h$h" "monitor-h$h" "$PY" -u "$TOOL" monitor --expect "$n"
      local mon=$LAST_PID
      wait_for 10 "route monitor in h$h" grep -q '^READY' "$routes"

      local t0 pid
      t0=$(date +%s%N)
      if [ "$agent" = tartand ]; then
        start_in_ns "$P-h$h" "tartand-h$h" "$TARTAND" --etcd-api=v3 \
          --etcd-endpoints="$E2E_ETCD" --iface=eth0 --subnet-file="$E2E_WORK/h$h/subnet.env" \
          --healthz-ip=127.0.0.1 --healthz-port=2401 ${SCALE_TARTAND_FLAGS:-}
      else
        start_in_ns "$P-h$h" "flanneld-h$h" "$FLANNELD" \
          --etcd-endpoints="$E2E_ETCD" --iface=eth0 --subnet-file="$E2E_WORK/h$h/subnet.env"
      fi
      pid=$LAST_PID
      wait_for $((60 + n / 50)) "$agent: all $n peer routes in h$h" grep -q '^ALL' "$routes"
      local t_all startup
      t_all=$(awk '$1 == "ALL" {print $2; exit}' "$routes")
      startup=$(awk -v a="$t_all" -v b="$t0" 'BEGIN {printf "%.3f", (a - b) / 1e9}')
      log "N=$n $agent: all $n routes after $startup s"
      # ip netns exec execs the agent in place: $pid is the agent itself.
      kill -0 "$pid" 2>/dev/null || fail "$agent (pid $pid) exited"
      local ev
      ev=$(in_ns "$P-ul" "$PY" "$TOOL" events --endpoint "$E2E_ETCD" --api "$api" \
        --first "$EVENT_BASE" --count "$SCALE_EVENTS" --interval-ms "$SCALE_INTERVAL_MS" \
        --pid "$pid" --routes "$routes" --tail-s "$SCALE_TAIL_S" --idle-s "$SCALE_IDLE_S" \
        --detail "$E2E_WORK/events-h$h.txt")
      if [ -n "${SCALE_KEEP:-}" ]; then
        mkdir -p "$SCALE_KEEP"
        cp "$E2E_WORK/events-h$h.txt" "$SCALE_KEEP/events-$agent-$n.txt"
        cp "$E2E_WORK/$agent-h$h.log" "$SCALE_KEEP/$agent-$n.log"
      fi
      log "N=$n $agent: $ev"
      local overruns
      overruns=$(grep -c '^OVERRUN' "$routes" || true)
      kill -TERM "$pid" "$mon" 2>/dev/null || true
      for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -KILL "$pid" "$mon" 2>/dev/null || true
      wait "$pid" "$mon" 2>/dev/null || true
      # The kernel's share: the same event routes inserted again by `ip -batch` into the same
      # table (the N peer routes still in place), no agent running.
      # In the form the agent used: tartand's routes go through nexthop objects where the
      # kernel has them (docs/adr/0021), flanneld's are classic.
      local kn nexthop=()
      [ -n "$(ip -n "$P-h$h" nexthop show proto 84 2>/dev/null | head -n1)" ] && nexthop=(--nexthop)
      kn=$(in_ns "$P-h$h" "$PY" "$TOOL" kernel --first "$EVENT_BASE" --count "$SCALE_EVENTS" \
        --interval-ms "$SCALE_INTERVAL_MS" "${nexthop[@]}")
      log "N=$n kernel alone after $agent: $kn"
      printf '%s %s %s %s %s\t%s\n' "$n" "$agent" "$startup" "$overruns" "$ev" "$kn" >>"$results"
    done
  }
}

# Each size runs in a background subshell (lib.sh's trap cleans up its namespaces and
# processes); on any exit of this script, a size still running is sent TERM by its PID and
# waited for, so that its cleanup runs (it acts once its current step returns).
child=
finish() {
  trap '' INT TERM
  set +e
  if [ -n "$child" ] && kill -0 "$child" 2>/dev/null; then
    kill -TERM "$child" 2>/dev/null
    wait "$child" 2>/dev/null || true
  fi
  rm -f "$results"
}
trap finish EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
for n in "${sizes[@]}"; do
  run_size "$n" &
  child=$!
  rc=0
  wait "$child" || rc=$?
  [ "$rc" -eq 0 ] || exit "$rc"
done
child=

# Table: one row per N, tartand / flanneld side by side, then the ratios and the goals.
"$PY" - "$results" "$SCALE_EVENTS" "$SCALE_INTERVAL_MS" "$((SECONDS - began))" <<'EOF'
import json, sys
path, events, interval, took = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
rows = {}
for line in open(path):
    head, kn = line.rstrip("\n").split("\t")
    n, agent, startup, overruns, ev = head.split(" ", 4)
    r = json.loads(ev)
    r.update(json.loads(kn))
    r["startup_s"] = float(startup)
    r["overruns"] = int(overruns)
    rows.setdefault(int(n), {})[agent] = r
agents = [a for a in ("tartand", "flanneld") if any(a in v for v in rows.values())]

def cell(n, key, fmt):
    return " / ".join(fmt % rows[n][a][key] if a in rows[n] else "-" for a in agents)

print("%s events %s ms apart; run took %s s" % (events, interval, took))
print()
# Older result lines have no settled RSS: the end of the burst stands in.
for n in rows:
    for r in rows[n].values():
        r.setdefault("rss_settled_kb", r["rss_kb"])
mib = lambda n, key: " / ".join("%.1f" % (rows[n][a][key] / 1024) if a in rows[n] else "-" for a in agents)
print("| N peers | all routes after start: %s | CPU per lease event: %s | lease-to-route delay p50: %s | p99: %s | RSS MiB after settling: %s |"
      % tuple([" / ".join(agents)] * 5))
print("|---|---|---|---|---|---|")
for n in sorted(rows):
    print("| %d | %s s | %s ms | %s ms | %s ms | %s |" % (
        n, cell(n, "startup_s", "%.2f"), cell(n, "cpu_ms_per_event", "%.2f"),
        cell(n, "delay_p50_ms", "%.1f"), cell(n, "delay_p99_ms", "%.1f"), mib(n, "rss_settled_kb")))
print()
print("RSS MiB right at the end of the burst (before freed memory is handed back): "
      + "; ".join("N=%d %s" % (n, mib(n, "rss_kb")) for n in sorted(rows)))
print("CPU per lease event from schedstat (ns clock, live threads only; stat above counts in 10 ms ticks): "
      + "; ".join("N=%d %s ms" % (n, cell(n, "cpu_ms_per_event_schedstat", "%.3f")) for n in sorted(rows)))
print("Idle CPU (ms per s, over SCALE_IDLE_S): "
      + "; ".join("N=%d %s" % (n, cell(n, "idle_cpu_ms_per_s", "%.2f")) for n in sorted(rows)))
print("CPU per lease event in user space / in the kernel's system calls (stat ticks): "
      + "; ".join("N=%d %s" % (n, " / ".join("%.2f+%.2f ms" % (rows[n][a]["user_ms_per_event"], rows[n][a]["system_ms_per_event"]) if a in rows[n] else "-" for a in agents)) for n in sorted(rows)))
print("etcd put acknowledged (the delay's etcd share), p50 / p99: "
      + "; ".join("N=%d %s" % (n, " / ".join("%.1f / %.1f ms" % (rows[n][a]["put_ack_p50_ms"], rows[n][a]["put_ack_p99_ms"]) if a in rows[n] else "-" for a in agents)) for n in sorted(rows)))
print("Route seen after the put's acknowledgement (the agent's share), p50 / p99: "
      + "; ".join("N=%d %s" % (n, " / ".join("%.1f / %.1f ms" % (rows[n][a]["after_ack_p50_ms"], rows[n][a]["after_ack_p99_ms"]) if a in rows[n] else "-" for a in agents)) for n in sorted(rows)))
print("Kernel alone (no agent; the event routes put into the same table again by a netlink loop at the events' pace / by one `ip -batch`), CPU per route: "
      + "; ".join("N=%d %s" % (n, " / ".join("%.3f / %.3f ms" % (rows[n][a]["kernel_insert_ms"], rows[n][a]["kernel_insert_batch_ms"]) if a in rows[n] else "-" for a in agents)) for n in sorted(rows)))
print("CPU per lease event net of the idle rate and of the kernel's paced insert (the agent's own share): "
      + "; ".join("N=%d %s" % (n, " / ".join("%.3f ms" % (rows[n][a]["cpu_ms_per_event_net"] - rows[n][a]["kernel_insert_ms"]) if a in rows[n] else "-" for a in agents)) for n in sorted(rows)))
print("CPU per lease event net of the idle rate (schedstat; the goals below use it): "
      + "; ".join("N=%d %s ms" % (n, cell(n, "cpu_ms_per_event_net", "%.3f")) for n in sorted(rows)))
missing = [(n, a, r["routes_seen"]) for n in rows for a, r in rows[n].items() if r["routes_seen"] != r["events"]]
over = [(n, a) for n in rows for a, r in rows[n].items() if r["overruns"]]
if missing:
    print("\nWARNING: event routes never seen (N, agent, seen): %s" % missing)
if over:
    print("\nWARNING: route monitor overran (stamps from a dump) for: %s" % over)

if "tartand" in agents:
    t = {n: rows[n]["tartand"] for n in rows if "tartand" in rows[n]}
    print()
    print("| N | flanneld/tartand: start | CPU per event | delay p99 | RSS | tartand CPU per event vs smallest N |")
    print("|---|---|---|---|---|---|")
    n0 = min(t)
    for n in sorted(t):
        f = rows[n].get("flanneld")
        ratio = lambda k: ("%.1fx" % (f[k] / t[n][k]) if f and t[n][k] > 0 else "-")
        print("| %d | %s | %s | %s | %s | %.2fx |" % (n, ratio("startup_s"), ratio("cpu_ms_per_event"),
              ratio("delay_p99_ms"), ratio("rss_settled_kb"), t[n]["cpu_ms_per_event"] / t[n0]["cpu_ms_per_event"]
              if t[n0]["cpu_ms_per_event"] > 0 else float("nan")))
    big = max(t)
    f = rows[big].get("flanneld")
    print()
    print("Goals (issue 13), tartand:")
    def goal(text, ok):
        print("- %s: %s" % (text, "met" if ok else "NOT met"))
    k = "cpu_ms_per_event_net"
    if big != n0:
        goal("CPU per event (net of idle) at N=%d within 2x of N=%d (%.3f vs %.3f ms)" % (big, n0, t[big][k], t[n0][k]),
             t[big][k] <= 2 * t[n0][k])
        own = {m: t[m][k] - t[m]["kernel_insert_ms"] for m in (big, n0)}
        goal("the same less the kernel's own insert (paced netlink loop, same table) (%.3f vs %.3f ms)" % (own[big], own[n0]),
             own[big] <= 2 * own[n0])
    if f:
        goal("CPU per event (net of idle) at N=%d >= 5x below flanneld's (%.3f vs %.3f ms)" % (big, t[big][k], f[k]),
             5 * t[big][k] <= f[k])
    goal("delay p99 <= 10 ms at N=%d (%.1f ms)" % (big, t[big]["delay_p99_ms"]), t[big]["delay_p99_ms"] <= 10)
    # MiB here, as VmRSS counts; the decimal MB of the issue are 4.9 % more generous.
    if 5000 in t:
        goal("RSS after settling <= 8 MB at N=5000 (%.1f MiB)" % (t[5000]["rss_settled_kb"] / 1024),
             t[5000]["rss_settled_kb"] <= 8 * 1024)
    if 100 in t:
        goal("RSS after settling <= 5 MB at N=100 (%.1f MiB)" % (t[100]["rss_settled_kb"] / 1024),
             t[100]["rss_settled_kb"] <= 5 * 1024)
EOF
