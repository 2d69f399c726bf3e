#!/usr/bin/env bash
# End-to-end: tartan-cni, installed under flannel's name, puts pods (network namespaces) of
# tartand host-gw hosts on their subnets through Debian's reference plugins
# (containernetworking-plugins: bridge, host-local, portmap, bandwidth).
#   cni.sh connectivity | check | parallel | errors | chain | podman
#
# Every plugin runs inside its host's namespace, as a runtime on that node would run it, so
# bridges, veths and iptables rules land only in namespaces this run created. host-local's
# store and the plugin's dataDir are under the run's work directory (ipam.dataDir, dataDir).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
require_root
: "${TARTAN_CNI:=$E2E_ROOT/build/release/src/cni/tartan-cni}"
[ -x "$TARTAN_CNI" ] || fail "tartan-cni not built at $TARTAN_CNI"
REF_PLUGINS=${CNI_REFERENCE_DIR:-/usr/lib/cni}
if [ ! -x "$REF_PLUGINS/bridge" ] || [ ! -x "$REF_PLUGINS/host-local" ]; then
  echo "skipped: the reference CNI plugins are not in $REF_PLUGINS (containernetworking-plugins)" >&2
  exit 77
fi

# CNI_PATH as a node would have it: the reference plugins, and tartan-cni installed under
# flannel's name (a symlink: the drop-in) next to its own.
CNI_BIN="$E2E_WORK/cni-bin"
mkdir -p "$CNI_BIN"
for p in "$REF_PLUGINS"/*; do ln -s "$p" "$CNI_BIN/"; done
ln -s "$TARTAN_CNI" "$CNI_BIN/flannel"
ln -s "$TARTAN_CNI" "$CNI_BIN/tartan-cni"
NET="$P-net"
HOSTGW_CONFIG='{"Network":"10.244.0.0/16","Backend":{"Type":"host-gw"}}'

# jget <python subscript> < json: one field, e.g. jget '["ips"][0]["address"]'.
jget() { python3 -c 'import json,sys; print(eval("json.load(sys.stdin)" + sys.argv[1]))' "$1"; }

# cluster <n hosts>: underlay, etcd, tartand --ip-masq on each host (as kube-flannel runs
# flanneld: the plugin then leaves masquerading to the agent and pod sources are kept).
cluster() {
  E2E_TARTAND_FLAGS=(--ip-masq)
  cluster_start "$HOSTGW_CONFIG" : $(seq "$1")
}

# flannel_conf <host n> [cniVersion] [extra members]: kube-flannel's CNI configuration, with
# this run's paths for subnet.env, the saved delegates and host-local's store.
flannel_conf() {
  local n=$1 v=${2:-1.0.0} extra=${3:-}
  printf '{"cniVersion":"%s","name":"%s","type":"flannel","subnetFile":"%s","dataDir":"%s","ipam":{"dataDir":"%s"},"delegate":{"hairpinMode":true,"isDefaultGateway":true}%s}' \
    "$v" "$NET" "$E2E_WORK/h$n/subnet.env" "$E2E_WORK/h$n/cni-flannel" "$E2E_WORK/h$n/ipam" "$extra"
}

# cni <host n> <command> <container id> <pod ns or ""> [plugin] [ifname] < conf: runs the
# plugin in host n's namespace with the CNI environment; its stdout is the result.
cni() {
  local n=$1 cmd=$2 id=$3 pod=$4 plugin=${5:-flannel} ifname=${6:-eth0} netns=""
  [ -n "$pod" ] && netns=/run/netns/$pod
  in_ns "$P-h$n" env CNI_COMMAND="$cmd" CNI_CONTAINERID="$id" CNI_NETNS="$netns" \
    CNI_IFNAME="$ifname" CNI_PATH="$CNI_BIN" "$CNI_BIN/$plugin"
}

# pod_add <host n> <name> [cniVersion]: pod namespace <P>-<name>, added through the plugin;
# the result in $E2E_WORK/<name>.json.
pod_add() {
  local n=$1 name=$2 v=${3:-1.0.0}
  new_ns "$P-$name"
  flannel_conf "$n" "$v" | cni "$n" ADD "$P-$name" "$P-$name" >"$E2E_WORK/$name.json" ||
    { cat "$E2E_WORK/$name.json" >&2; fail "ADD of pod $name on h$n"; }
}
pod_del() {
  local n=$1 name=$2 netns=${3-$P-$2}
  flannel_conf "$n" | cni "$n" DEL "$P-$name" "$netns" >"$E2E_WORK/$name.del" ||
    { cat "$E2E_WORK/$name.del" >&2; fail "DEL of pod $name on h$n"; }
  [ ! -s "$E2E_WORK/$name.del" ] || fail "DEL of $name printed $(cat "$E2E_WORK/$name.del")"
}
pod_ip() { jget '["ips"][0]["address"]' <"$E2E_WORK/$1.json" | cut -d/ -f1; }
# host_veth <name>: the host side of the pod's veth, from the result's interfaces.
host_veth() {
  python3 -c 'import json,sys
r = json.load(sys.stdin)
print([i["name"] for i in r["interfaces"] if not i.get("sandbox") and i["name"] != "cni0"][0])' \
    <"$E2E_WORK/$1.json"
}
# in_store <host n> <ip>: host-local holds the address.
in_store() { [ -e "$E2E_WORK/h$1/ipam/$NET/$2" ]; }
subnet_prefix() { subnet_of "$1" | sed 's/\.0\/24$//'; }

echo_server() {  # echo_server <pod name> <port>: replies with the peer address it saw
  start_in_ns "$P-$1" "echo-$1" socat "TCP-LISTEN:$2,reuseaddr,fork" 'SYSTEM:echo $SOCAT_PEERADDR'
  wait_for 5 "echo server in pod $1" in_ns "$P-$1" sh -c "ss -ltn | grep >/dev/null -c :$2"
}
tcp_seen() {  # tcp_seen <from pod|host:n> <ip> <port>
  local ns="$P-$1"
  [[ $1 == host:* ]] && ns="$P-h${1#host:}"
  in_ns "$ns" socat -T 3 - "TCP:$2:$3,connect-timeout=3" </dev/null
}

# only_lo <ns>: the namespace holds no link but lo (nothing half-made in a pod).
only_lo() { [ "$(ip -n "$1" -o link show | grep -vc ': lo:')" = 0 ]; }

scenario_connectivity() {
  cluster 2
  # Three pods, the three result formats runtimes ask for.
  pod_add 1 a 1.0.0
  pod_add 2 b 0.4.0
  pod_add 1 c 0.3.1
  local ipa ipb ipc gw1 mtu1
  ipa=$(pod_ip a) ipb=$(pod_ip b) ipc=$(pod_ip c)
  gw1="$(subnet_prefix 1).1"
  mtu1=$(sed -n 's/^FLANNEL_MTU=//p' "$E2E_WORK/h1/subnet.env")
  log "pods: a=$ipa (h1, 1.0.0) b=$ipb (h2, 0.4.0) c=$ipc (h1, 0.3.1)"
  [ "$(jget '["cniVersion"]' <"$E2E_WORK/a.json")" = 1.0.0 ] || fail "a's result is not 1.0.0"
  [ "$(jget '["cniVersion"]' <"$E2E_WORK/b.json")" = 0.4.0 ] || fail "b's result is not 0.4.0"
  [ "$(jget '["ips"][0]["version"]' <"$E2E_WORK/c.json")" = 4 ] || fail "c's result is not 0.3.x"
  # Addresses from host-local over each host's FLANNEL_SUBNET; the bridge holds the gateway.
  [[ $ipa == "$(subnet_prefix 1)".* && $ipc == "$(subnet_prefix 1)".* ]] || fail "h1 pods off $(subnet_of 1)"
  [[ $ipb == "$(subnet_prefix 2)".* ]] || fail "h2 pod off $(subnet_of 2)"
  [ "$ipa" != "$ipc" ] || fail "two pods got $ipa"
  ip -n "$P-h1" -4 addr show cni0 | grep >/dev/null -c "inet $gw1/24" || fail "cni0 on h1 lacks $gw1/24"
  ip -n "$P-a" link show eth0 | grep >/dev/null -c "mtu $mtu1 " || fail "pod a's MTU is not FLANNEL_MTU $mtu1"
  ip -n "$P-a" -4 route show | grep >/dev/null -c "^10.244.0.0/16 via $gw1 dev eth0" ||
    { ip -n "$P-a" route show >&2; fail "pod a has no route to the network via $gw1"; }
  # FLANNEL_IPMASQ=true (tartand --ip-masq), so the bridge does not masquerade (ipMasq false).
  python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["ipMasq"] is False and d["isGateway"] is True and d["hairpinMode"] is True, d' \
    "$E2E_WORK/h1/cni-flannel/$P-a" || fail "saved delegate of a is not flannel's rendering"

  local from to seen
  for from in a c; do
    in_ns "$P-$from" ping -c 1 -W 2 "$ipb" >/dev/null || fail "ping pod $from -> pod b"
  done
  in_ns "$P-b" ping -c 1 -W 2 "$ipa" >/dev/null || fail "ping pod b -> pod a"
  echo_server b 5000
  echo_server a 5000
  seen=$(tcp_seen a "$ipb" 5000) || fail "TCP pod a -> pod b"
  [ "$seen" = "$ipa" ] || fail "pod b saw $seen, not pod a's $ipa"
  seen=$(tcp_seen b "$ipa" 5000) || fail "TCP pod b -> pod a"
  [ "$seen" = "$ipb" ] || fail "pod a saw $seen, not pod b's $ipb"
  log "across hosts: ping ok both ways, TCP ok, sources kept ($ipa <-> $ipb)"

  # DEL frees the address and the veth; the saved delegate goes; a second DEL is a no-op.
  in_store 1 "$ipa" || fail "host-local does not hold $ipa"
  pod_del 1 a
  in_store 1 "$ipa" && fail "DEL left $ipa in host-local's store"
  [ ! -e "$E2E_WORK/h1/cni-flannel/$P-a" ] || fail "DEL left the saved delegate"
  only_lo "$P-a" || fail "DEL left pod a's eth0"
  pod_del 1 a
  # DEL after the pod's namespace is gone (a crashed runtime), without CNI_NETNS.
  ip netns delete "$P-c"
  pod_del 1 c ""
  in_store 1 "$ipc" && fail "DEL without the namespace left $ipc in the store"
  log "DEL: addresses freed, idempotent, works without the namespace"
  # The host's pod network still works for a pod added after the DELs.
  pod_add 1 d
  in_ns "$P-d" ping -c 1 -W 2 "$ipb" >/dev/null || fail "ping pod d (added after the DELs) -> pod b"
}

scenario_check() {
  cluster 1
  pod_add 1 a
  local prev out veth
  prev=$(cat "$E2E_WORK/a.json")
  out=$(flannel_conf 1 1.0.0 ",\"prevResult\":$prev" | cni 1 CHECK "$P-a" "$P-a") ||
    fail "CHECK of a healthy pod failed: $out"
  [ -z "$out" ] || fail "CHECK printed $out"
  veth=$(host_veth a)
  ip -n "$P-h1" link delete "$veth"
  if out=$(flannel_conf 1 1.0.0 ",\"prevResult\":$prev" | cni 1 CHECK "$P-a" "$P-a"); then
    fail "CHECK passed with the veth $veth deleted"
  fi
  log "CHECK after deleting $veth: code $(jget '["code"]' <<<"$out"): $(jget '["msg"]' <<<"$out")"
  # 0.3.1 has no CHECK: code 1.
  out=$(flannel_conf 1 0.3.1 ",\"prevResult\":$prev" | cni 1 CHECK "$P-a" "$P-a") && fail "CHECK at 0.3.1 passed"
  [ "$(jget '["code"]' <<<"$out")" = 1 ] || fail "CHECK at 0.3.1: $out"
  # CHECK of a container never added: code 3.
  new_ns "$P-z"
  out=$(flannel_conf 1 1.0.0 ",\"prevResult\":$prev" | cni 1 CHECK "$P-z" "$P-z") && fail "CHECK of an unknown container passed"
  [ "$(jget '["code"]' <<<"$out")" = 3 ] || fail "CHECK of an unknown container: $out"
  pod_del 1 a
  in_store 1 "$(pod_ip a)" && fail "DEL after the veth was deleted left the address"
  log "CHECK: healthy pod ok, deleted veth detected, DEL still frees the address"
}

scenario_parallel() {
  cluster 1
  local i pids=() n=20 t0
  for i in $(seq $n); do new_ns "$P-q$i"; done
  t0=$(now_ms)
  for i in $(seq $n); do
    (flannel_conf 1 | cni 1 ADD "$P-q$i" "$P-q$i" >"$E2E_WORK/q$i.json" 2>"$E2E_WORK/q$i.err") &
    pids+=($!)
  done
  local failed=0
  for i in "${!pids[@]}"; do wait "${pids[$i]}" || { failed=$((failed + 1)); cat "$E2E_WORK/q$((i + 1)).json" >&2; }; done
  [ "$failed" = 0 ] || fail "$failed of $n parallel ADDs failed"
  local ips
  ips=$(for i in $(seq $n); do pod_ip "q$i"; done | sort -u)
  [ "$(wc -l <<<"$ips")" = $n ] || fail "parallel ADDs gave $(wc -l <<<"$ips") distinct addresses, not $n"
  grep -vc "^$(subnet_prefix 1)\." <<<"$ips" >/dev/null && fail "an address outside $(subnet_of 1)"
  log "$n parallel ADDs: $n distinct addresses in $(subnet_of 1) in $(($(now_ms) - t0)) ms"
  in_ns "$P-q1" ping -c 1 -W 2 "$(pod_ip q$n)" >/dev/null || fail "ping q1 -> q$n"
  pids=()
  for i in $(seq $n); do
    (flannel_conf 1 | cni 1 DEL "$P-q$i" "$P-q$i" >/dev/null) &
    pids+=($!)
  done
  for i in "${pids[@]}"; do wait "$i" || fail "a parallel DEL failed"; done
  local left
  left=$(find "$E2E_WORK/h1/ipam/$NET" -name '10.*' | wc -l)
  [ "$left" = 0 ] || fail "$left addresses left in host-local's store after $n DELs"
  [ -z "$(ls -A "$E2E_WORK/h1/cni-flannel")" ] || fail "saved delegates left: $(ls "$E2E_WORK/h1/cni-flannel")"
  log "$n parallel DELs: store and dataDir empty"
}

# expect_error <code> <what> <plugin> <command> <conf> [container id] [env...]: the plugin
# fails with that spec code, and host 1 and pod z are as they were (nothing half-made).
expect_error() {
  local code=$1 what=$2 plugin=$3 cmd=$4 conf=$5 id=${6:-$P-z} out rc=0
  shift 6 || shift $#
  out=$(in_ns "$P-h1" env CNI_COMMAND="$cmd" CNI_CONTAINERID="$id" CNI_NETNS="/run/netns/$P-z" \
    CNI_IFNAME=eth0 CNI_PATH="$CNI_BIN" "$@" "$CNI_BIN/$plugin" <<<"$conf") || rc=$?
  [ "$rc" != 0 ] || fail "$what: exit 0, output $out"
  [ "$(jget '["code"]' <<<"$out")" = "$code" ] || fail "$what: expected code $code, got $out"
  only_lo "$P-z" || fail "$what: left a link in the pod"
  ! ip -n "$P-h1" link show cni0 >/dev/null 2>&1 || fail "$what: created cni0"
  [ ! -e "$E2E_WORK/h1/cni-flannel" ] || fail "$what: wrote the dataDir"
  [ ! -e "$E2E_WORK/h1/ipam" ] || fail "$what: touched host-local's store"
  echo "$out" >"$E2E_WORK/last-error.json"
  log "$what -> code $code: $(jget '["msg"]' <<<"$out")"
}

scenario_errors() {
  # A host whose agent has not started yet: no subnet.env.
  underlay_create
  host_create 1
  new_ns "$P-z"
  local plugin good
  good=$(flannel_conf 1)
  for plugin in flannel tartan-cni; do
    expect_error 11 "[$plugin] no subnet.env yet" $plugin ADD "$good"
    cp "$E2E_WORK/last-error.json" "$E2E_WORK/$plugin.err"
  done
  cmp -s "$E2E_WORK/flannel.err" "$E2E_WORK/tartan-cni.err" || fail "the two names answer differently"
  mkdir -p "$E2E_WORK/h1"
  printf 'FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=banana\nFLANNEL_MTU=1500\nFLANNEL_IPMASQ=true\n' >"$E2E_WORK/h1/subnet.env"
  expect_error 6 "malformed subnet.env" flannel ADD "$good"
  printf 'FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.5.1/24\n' >"$E2E_WORK/h1/subnet.env"
  expect_error 6 "subnet.env without FLANNEL_MTU/IPMASQ" flannel ADD "$good"
  printf 'FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.5.1/24\nFLANNEL_MTU=1500\nFLANNEL_IPMASQ=true\n' >"$E2E_WORK/h1/subnet.env"
  expect_error 6 "config not JSON" flannel ADD '{"cniVersion":'
  expect_error 7 "config without name" flannel ADD '{"cniVersion":"1.0.0","type":"flannel"}'
  expect_error 7 "delegate with name" flannel ADD "$(flannel_conf 1 1.0.0 | sed 's/"delegate":{/"delegate":{"name":"x",/')"
  expect_error 7 "delegate with ipam" flannel ADD "$(flannel_conf 1 1.0.0 | sed 's/"delegate":{/"delegate":{"ipam":{},/')"
  expect_error 1 "cniVersion 9.9.9" flannel ADD "$(flannel_conf 1 9.9.9)"
  expect_error 999 "delegate not installed" flannel ADD "$(flannel_conf 1 1.0.0 | sed 's/"delegate":{/"delegate":{"type":"nosuchplugin",/')"
  expect_error 4 "container id ../x" flannel ADD "$good" "../x"
  expect_error 4 "no CNI_PATH" flannel ADD "$good" "$P-z" CNI_PATH=
  expect_error 4 "unknown command" flannel FOO "$good"
  # A delegate that fails: the bridge cannot attach to a device that is not a bridge. The
  # ADD is undone: no veth, no address, no saved delegate; the delegate's code is kept.
  local out rc=0
  ip -n "$P-h1" link add notabridge type veth peer name notabridge1
  out=$(flannel_conf 1 1.0.0 | sed 's/"delegate":{/"delegate":{"bridge":"notabridge",/' |
    cni 1 ADD "$P-z" "$P-z") || rc=$?
  [ "$rc" != 0 ] || fail "ADD onto a dummy device passed"
  log "delegate ADD fails -> code $(jget '["code"]' <<<"$out"): $(jget '["msg"]' <<<"$out")"
  only_lo "$P-z" || fail "the failed ADD left a link in the pod"
  [ -z "$(ls -A "$E2E_WORK/h1/cni-flannel")" ] || fail "the failed ADD left a saved delegate"
  [ -z "$(find "$E2E_WORK/h1/ipam" -name '10.*' 2>/dev/null)" ] || fail "the failed ADD left an address"
  out=$(in_ns "$P-h1" env CNI_COMMAND=VERSION "$CNI_BIN/flannel" </dev/null) || fail "VERSION failed"
  [ "$(jget '["supportedVersions"]' <<<"$out")" = "['0.1.0', '0.2.0', '0.3.0', '0.3.1', '0.4.0', '1.0.0']" ] ||
    fail "VERSION: $out"
  out=$(in_ns "$P-h1" env -u CNI_COMMAND "$CNI_BIN/flannel" 2>&1 </dev/null) || fail "no CNI_COMMAND: not exit 0"
  grep >/dev/null -c "CNI protocol versions supported" <<<"$out" || fail "no about text: $out"
  # DEL of something never added succeeds and touches nothing.
  out=$(flannel_conf 1 | cni 1 DEL "$P-z" "$P-z") || fail "DEL of an unknown container: $out"
  log "errors: every refusal is spec JSON with its code, and leaves nothing behind"
}

# cnitool.py: the part of a runtime (libcni) that runs a network configuration list: each
# plugin with the list's name and cniVersion, prevResult chained, runtimeConfig for the
# capabilities a plugin declares; DEL in reverse order. Written here, run in a host namespace.
write_cnitool() {
  cat >"$E2E_WORK/cnitool.py" <<'EOF'
import json, os, subprocess, sys
cmd, conflist, cid, netns, cache = sys.argv[1:6]
runtime = json.loads(sys.argv[6]) if len(sys.argv) > 6 else {}
lst = json.load(open(conflist))
plugins = lst["plugins"] if cmd != "DEL" else list(reversed(lst["plugins"]))
prev = json.load(open(cache)) if cmd != "ADD" and os.path.exists(cache) else None
env = dict(os.environ, CNI_COMMAND=cmd, CNI_CONTAINERID=cid, CNI_NETNS=netns, CNI_IFNAME="eth0")
skip = os.environ.get("CHECK_SKIP", "").split(",") if cmd == "CHECK" else []
for p in plugins:
    if p["type"] in skip:
        continue
    conf = dict(p, name=lst["name"], cniVersion=lst["cniVersion"])
    caps = {k: runtime[k] for k, on in p.get("capabilities", {}).items() if on and k in runtime}
    if caps:
        conf["runtimeConfig"] = caps
    if prev is not None:
        conf["prevResult"] = prev
    path = next(d + "/" + p["type"] for d in env["CNI_PATH"].split(":") if os.path.exists(d + "/" + p["type"]))
    r = subprocess.run([path], input=json.dumps(conf).encode(), env=env, capture_output=True)
    if r.returncode != 0:
        sys.stdout.write(r.stdout.decode())
        sys.stderr.write("%s %s failed: %s\n" % (p["type"], cmd, r.stderr.decode()))
        sys.exit(1)
    if cmd == "ADD":
        prev = json.loads(r.stdout)
if cmd == "ADD":
    json.dump(prev, open(cache, "w"))
    print(json.dumps(prev))
elif cmd == "DEL" and os.path.exists(cache):
    os.unlink(cache)
EOF
}

scenario_chain() {
  cluster 2
  write_cnitool
  local have_bw=0 list="$E2E_WORK/chain.conflist" flannel
  [ -x "$REF_PLUGINS/bandwidth" ] && have_bw=1
  flannel=$(flannel_conf 1 | python3 -c 'import json,sys; d=json.load(sys.stdin); d.pop("cniVersion"); d.pop("name"); print(json.dumps(d))')
  python3 - "$flannel" "$NET" "$have_bw" >"$list" <<'EOF'
import json, sys
plugins = [json.loads(sys.argv[1]), {"type": "portmap", "capabilities": {"portMappings": True}}]
if sys.argv[3] == "1":
    plugins.append({"type": "bandwidth", "capabilities": {"bandwidth": True}})
print(json.dumps({"cniVersion": "1.0.0", "name": sys.argv[2], "plugins": plugins}))
EOF
  local runtime='{"portMappings":[{"hostPort":18080,"containerPort":5000,"protocol":"tcp"}],"bandwidth":{"ingressRate":8000000,"ingressBurst":1000000,"egressRate":8000000,"egressBurst":1000000}}'
  chain() {  # chain <cmd> <pod>
    in_ns "$P-h1" env CNI_PATH="$CNI_BIN" CHECK_SKIP="${CHECK_SKIP:-}" python3 "$E2E_WORK/cnitool.py" "$1" "$list" "$P-$2" \
      "/run/netns/$P-$2" "$E2E_WORK/$2.cache" "$runtime"
  }
  new_ns "$P-a"
  chain ADD a >"$E2E_WORK/a.json" || { cat "$E2E_WORK/a.json" >&2; fail "chain ADD"; }
  pod_add 2 b
  local ipa ipb seen veth
  ipa=$(pod_ip a) ipb=$(pod_ip b)
  echo_server a 5000
  # portmap: h1's address, port 18080, reaches pod a's port 5000 from host h2 (source kept:
  # portmap translates the destination only) and from pod b (whose packets to a node address
  # h2's tartand --ip-masq masquerades, as flannel's rules do).
  seen=$(tcp_seen host:2 "$(host_ip 1)" 18080) || fail "TCP h2 -> h1:18080 (portmap)"
  [ "$seen" = "$(host_ip 2)" ] || fail "pod a saw $seen through the port mapping, not h2's $(host_ip 2)"
  seen=$(tcp_seen b "$(host_ip 1)" 18080) || fail "TCP pod b -> h1:18080 (portmap)"
  [ "$seen" = "$(host_ip 2)" ] || fail "pod a saw $seen from pod b, not h2's masquerade $(host_ip 2)"
  log "portmap: $(host_ip 1):18080 -> $ipa:5000 from h2 and from pod b (source $seen)"
  if [ $have_bw = 1 ]; then
    veth=$(host_veth a)
    tc -n "$P-h1" qdisc show dev "$veth" | grep >/dev/null -c tbf || fail "bandwidth: no tbf on $veth"
    log "bandwidth: $(tc -n "$P-h1" qdisc show dev "$veth" | grep tbf | head -n1)"
  else
    log "bandwidth plugin not installed: chain ran flannel + portmap only"
  fi
  # CHECK of the chain, then DEL in reverse order. portmap 1.1.1's CHECK looks for IPv6
  # rules it never made for an IPv4-only pod (containernetworking/plugins#819), so it is
  # left out of the CHECK.
  CHECK_SKIP=portmap chain CHECK a || fail "chain CHECK"
  chain DEL a || fail "chain DEL"
  in_store 1 "$ipa" && fail "chain DEL left $ipa"
  in_ns "$P-h1" iptables-save -t nat | grep >/dev/null -c 18080 && fail "portmap rules left after DEL"
  [ $have_bw = 0 ] || ! ip -n "$P-h1" link show | grep >/dev/null -c 'bwp' || fail "bandwidth's ifb left after DEL"
  tcp_seen b "$(host_ip 1)" 18080 >/dev/null 2>&1 && fail "the port mapping still answers after DEL"
  log "chain DEL: address, port mapping and shaping gone"
}

# A real runtime: podman (CNI network backend) runs a container from a local busybox rootfs on
# tartan's network. podman itself runs inside the host namespace, so the plugins it runs (and
# the bridge and rules they make) stay there; its storage and network configuration live in
# the run's work directory. Skipped (77) without podman or a static busybox.
scenario_podman() {
  command -v podman >/dev/null || { echo "skipped: podman not installed" >&2; exit 77; }
  # runc, not crun: crun refuses the hybrid cgroup layouts CI containers often have.
  command -v runc >/dev/null || { echo "skipped: runc not installed" >&2; exit 77; }
  [ -x /bin/busybox ] || { echo "skipped: no static busybox (busybox-static)" >&2; exit 77; }
  cluster 2
  pod_add 2 b
  local ipb rootfs="$E2E_WORK/rootfs" pm="$E2E_WORK/podman"
  ipb=$(pod_ip b)
  mkdir -p "$rootfs/bin" "$rootfs/etc" "$rootfs/proc" "$rootfs/sys" "$rootfs/dev" "$pm/net"
  cp /bin/busybox "$rootfs/bin/busybox"
  ln -s busybox "$rootfs/bin/sh"
  flannel_conf 1 | python3 -c 'import json,sys
d = json.load(sys.stdin); v = d.pop("cniVersion"); n = d.pop("name")
print(json.dumps({"cniVersion": v, "name": n, "plugins": [d]}))' >"$pm/net/$NET.conflist"
  # No default ulimits: raising them needs a privilege a CI container may not have.
  printf '[network]\nnetwork_backend = "cni"\ncni_plugin_dirs = ["%s"]\nnetwork_config_dir = "%s"\n[engine]\ncgroup_manager = "cgroupfs"\nevents_logger = "file"\n[containers]\ndefault_ulimits = []\n' \
    "$CNI_BIN" "$pm/net" >"$pm/containers.conf"
  # vfs storage mounts nothing; should podman leave a mount under the work directory anyway,
  # it is undone before the work directory is removed.
  # The container's cgroups go under a per-run parent (podman's default, libpod_parent,
  # would outlive the run), removed once empty.
  trap "rc=\$?; set +e; grep -o ' $pm/[^ ]*' /proc/mounts | xargs -r -n1 umount -l
    find /sys/fs/cgroup/*/$P-podman -depth -type d -exec rmdir {} + 2>/dev/null
    (exit \$rc); e2e_cleanup" EXIT
  local out
  # nsenter, not `ip netns exec`: the latter remounts /sys without the cgroup hierarchy, and
  # the OCI runtime refuses to start without it.
  out=$(nsenter --net="/run/netns/$P-h1" env CONTAINERS_CONF="$pm/containers.conf" podman --root "$pm/root" --storage-driver vfs \
    --runroot "$pm/run" --network-config-dir "$pm/net" run --rm --runtime runc --cgroup-parent "/$P-podman" --network "$NET" \
    --rootfs "$rootfs" /bin/busybox sh -c \
    "/bin/busybox ip -4 -o addr show eth0; /bin/busybox ping -c 1 -W 2 $ipb" 2>&1) ||
    { echo "$out" >&2; fail "podman run on $NET"; }
  echo "$out" >&2
  grep >/dev/null -c "inet $(subnet_prefix 1)\." <<<"$out" || fail "the container has no address in $(subnet_of 1)"
  grep >/dev/null -c " 0% packet loss" <<<"$out" || fail "the container could not ping pod b on h2"
  # podman's teardown ran DEL: nothing saved, no address held.
  [ -z "$(ls -A "$E2E_WORK/h1/cni-flannel")" ] || fail "podman's DEL left a saved delegate"
  [ -z "$(find "$E2E_WORK/h1/ipam" -name '10.*')" ] || fail "podman's DEL left an address"
  log "podman: a busybox container on $(subnet_of 1) pinged pod b ($ipb) on h2; DEL on exit"
}

case "${1:-}" in
  connectivity) scenario_connectivity ;;
  check) scenario_check ;;
  parallel) scenario_parallel ;;
  errors) scenario_errors ;;
  chain) scenario_chain ;;
  podman) scenario_podman ;;
  *) fail "usage: $0 connectivity|check|parallel|errors|chain|podman" ;;
esac
log "PASS: cni $1"
