#!/usr/bin/env bash
# End-to-end: the --ip-masq rules (src/firewall, MasqManager) on two host-gw hosts whose routes
# are set up by hand, driven by tartan_masq_tool inside each host namespace; each host also
# carries docker's classic "-s <bip> ! -o docker0 -j MASQUERADE" rule.
#   masq.sh pod-source | docker-restart | egress | remove
set -euo pipefail
source "$(dirname "$0")/lib.sh"
require_root
: "${MASQ_TOOL:=$E2E_ROOT/build/release/src/firewall/tartan_masq_tool}"
[ -x "$MASQ_TOOL" ] || fail "tartan_masq_tool not built at $MASQ_TOOL"

NETWORK=10.244.0.0/16
OUTSIDE_IP=$E2E_UNDERLAY_NET.1  # br0 in the underlay namespace: outside the cluster network
OUTSIDE_PORT=5001

# subnet_env_write <n>: what tartand would write for host n, leasing 10.244.<n>.0/24.
subnet_env_write() {
  mkdir -p "$E2E_WORK/h$1"
  printf 'FLANNEL_NETWORK=%s\nFLANNEL_SUBNET=10.244.%s.1/24\nFLANNEL_MTU=1500\nFLANNEL_IPMASQ=true\n' \
    "$NETWORK" "$1" >"$E2E_WORK/h$1/subnet.env"
}

iptables_in() {  # iptables_in <host n> <iptables args...>: only ever inside our namespaces
  local n=$1
  shift
  in_ns "$P-h$n" iptables "$@"
}
# docker's rule for host n's bridge subnet; <-A|-I POSTROUTING 1|-D> as docker would do it.
docker_rule() {
  local n=$1
  shift
  iptables_in "$n" -t nat "$@" -s "$(subnet_of "$n")" ! -o cni0 -j MASQUERADE
}
masq_tool() {  # masq_tool <host n> <apply|check|plan|remove> [flags...]
  local n=$1 cmd=$2
  shift 2
  in_ns "$P-h$n" "$MASQ_TOOL" "$cmd" "$NETWORK" "$(subnet_of "$n")" "$@"
}
nat_postrouting() { in_ns "$P-h$1" iptables-save -t nat | grep '^-A POSTROUTING ' || true; }
keep_rule_is_first() {
  nat_postrouting "$1" | head -n1 | grep >/dev/null -c -- '--comment "tartan: keep pod source addresses" -j ACCEPT$'
}

# Two hosts, a pod each, host-gw routes by hand, docker's rule on each host, echo listeners in
# both pods and in the underlay.
cluster_by_hand() {
  underlay_create
  local n
  for n in 1 2; do
    host_create "$n"
    subnet_env_write "$n"
    pod_create "$n"
  done
  ip -n "$P-h1" route add "$(subnet_of 2)" via "$(host_ip 2)" dev eth0
  ip -n "$P-h2" route add "$(subnet_of 1)" via "$(host_ip 1)" dev eth0
  for n in 1 2; do
    docker_rule "$n" -A POSTROUTING
    tcp_echo_server_start "$n"
  done
  # shellcheck disable=SC2016 # $SOCAT_PEERADDR is for the shell socat starts
  start_in_ns "$P-ul" echo-outside socat "TCP-LISTEN:$OUTSIDE_PORT,bind=$OUTSIDE_IP,reuseaddr,fork" \
    'SYSTEM:echo $SOCAT_PEERADDR'
  wait_for 5 "echo server outside" in_ns "$P-ul" sh -c "ss -ltn | grep >/dev/null -c $OUTSIDE_IP:$OUTSIDE_PORT"
}

outside_source_seen() {  # outside_source_seen <from n>: the address the outside listener saw
  in_ns "$P-h$1-pod" socat -T 3 - "TCP:$OUTSIDE_IP:$OUTSIDE_PORT,connect-timeout=3" </dev/null
}

# expect_pod_source <from n> <to n>: the receiving pod sees the sending pod's own address.
expect_pod_source() {
  local seen
  seen=$(tcp_source_seen "$1" "$2") || fail "TCP pod h$1 -> pod h$2"
  [ "$seen" = "$(pod_ip_of "$1")" ] ||
    fail "pod h$2 saw $seen, not pod h$1's $(pod_ip_of "$1") (source NATed)"
  log "pod h$1 -> pod h$2: receiver saw the pod address $seen"
}
expect_host_source() {  # expect_host_source <from n> <to n>
  local seen
  seen=$(tcp_source_seen "$1" "$2") || fail "TCP pod h$1 -> pod h$2"
  [ "$seen" = "$(host_ip "$1")" ] || fail "pod h$2 saw $seen, expected h$1's host address"
  log "pod h$1 -> pod h$2: receiver saw the host address $seen (docker's rule SNATed it)"
}

# The exact flannel chain and a single jump to it, as the kernel holds them.
expect_flannel_rules() {
  local n=$1 s got want
  s=$(subnet_of "$n")
  want=$(
    cat <<RULES
-N FLANNEL-POSTRTG
-A FLANNEL-POSTRTG -m mark --mark 0x4000/0x4000 -m comment --comment "flanneld masq" -j RETURN
-A FLANNEL-POSTRTG -s $s -d $NETWORK -m comment --comment "flanneld masq" -j RETURN
-A FLANNEL-POSTRTG -s $NETWORK -d $s -m comment --comment "flanneld masq" -j RETURN
-A FLANNEL-POSTRTG ! -s $NETWORK -d $s -m comment --comment "flanneld masq" -j RETURN
-A FLANNEL-POSTRTG -s $NETWORK ! -d 224.0.0.0/4 -m comment --comment "flanneld masq" -j MASQUERADE --random-fully
-A FLANNEL-POSTRTG ! -s $NETWORK -d $NETWORK -m comment --comment "flanneld masq" -j MASQUERADE --random-fully
RULES
  )
  got=$(iptables_in "$n" -t nat -S FLANNEL-POSTRTG)
  [ "$got" = "$want" ] || fail "h$n FLANNEL-POSTRTG is not flannel's:"$'\n'"$got"
  [ "$(nat_postrouting "$n" | grep -c -- '-j FLANNEL-POSTRTG$')" = 1 ] || fail "h$n: not one jump"
  want=$(
    cat <<RULES
-N FLANNEL-FWD
-A FLANNEL-FWD -s $NETWORK -m comment --comment "flanneld forward" -j ACCEPT
-A FLANNEL-FWD -d $NETWORK -m comment --comment "flanneld forward" -j ACCEPT
RULES
  )
  got=$(iptables_in "$n" -t filter -S FLANNEL-FWD)
  [ "$got" = "$want" ] || fail "h$n FLANNEL-FWD is not flannel's:"$'\n'"$got"
  [ "$(iptables_in "$n" -t filter -S FORWARD | grep -c -- '-j FLANNEL-FWD$')" = 1 ] ||
    fail "h$n: not one FORWARD jump"
}

# apply_expect_no_writes <n>: a second Ensure finds everything in place and writes nothing.
apply_expect_no_writes() {
  local out
  out=$(masq_tool "$1" apply) || fail "apply on h$1"
  [ "$out" = "restores=0" ] || fail "h$1: steady-state apply wrote something:"$'\n'"$out"
  masq_tool "$1" check >/dev/null || fail "h$1: check found something to repair"
}

scenario_pod_source() {
  cluster_by_hand
  # The pitfall, reproduced: flannel's rules alone (no keep-pod-source rule) do not stop
  # docker's MASQUERADE, which sits in POSTROUTING itself.
  masq_tool 1 apply --no-keep-source >/dev/null || fail "apply flannel-only rules on h1"
  expect_host_source 1 2
  # tartan's rules: the keep-pod-source rule goes above docker's.
  local n out
  for n in 1 2; do
    out=$(masq_tool "$n" apply) || fail "apply on h$n"
    log "h$n apply: $(echo "$out" | tr '\n' '|')"
    keep_rule_is_first "$n" || fail "h$n: keep-pod-source rule is not first"
    expect_flannel_rules "$n"
    apply_expect_no_writes "$n"
  done
  nat_postrouting 1 | grep >/dev/null -c -- "-s $(subnet_of 1) ! -o cni0 -j MASQUERADE" ||
    fail "docker's rule was removed"
  expect_pod_source 1 2
  expect_pod_source 2 1
  # Leaving the cluster network, pods are still masqueraded behind their host.
  for n in 1 2; do
    local seen
    seen=$(outside_source_seen "$n") || fail "TCP pod h$n -> $OUTSIDE_IP"
    [ "$seen" = "$(host_ip "$n")" ] || fail "outside saw $seen, not h$n's $(host_ip "$n")"
    log "pod h$n -> outside $OUTSIDE_IP: seen from the host address $seen"
  done
}

scenario_docker_restart() {
  cluster_by_hand
  local n out
  for n in 1 2; do masq_tool "$n" apply >/dev/null || fail "apply on h$n"; done
  expect_pod_source 1 2
  # docker restarts on h1: it deletes its rule and inserts it again at the top.
  docker_rule 1 -D POSTROUTING
  docker_rule 1 -I POSTROUTING 1
  keep_rule_is_first 1 && fail "docker's rule did not go first"
  expect_host_source 1 2
  masq_tool 1 check >/dev/null && fail "check did not notice docker's rule above ours"
  out=$(masq_tool 1 apply) || fail "apply after docker restart"
  log "h1 apply after docker restart: $(echo "$out" | tr '\n' '|')"
  echo "$out" | grep >/dev/null -c 'keep-pod-source rule moved back to position 1' || fail "repair not reported"
  echo "$out" | grep >/dev/null -cx 'restores=1' || fail "more than the nat table rewritten"
  keep_rule_is_first 1 || fail "keep-pod-source rule not first after Ensure"
  [ "$(nat_postrouting 1 | grep -c 'tartan: keep pod source addresses')" = 1 ] ||
    fail "keep-pod-source rule duplicated"
  expect_pod_source 1 2
  # Other damage is repaired by the same pass: our rule deleted, a flannel rule deleted, the
  # jump deleted, the forward chain flushed.
  iptables_in 1 -t nat -D POSTROUTING 1
  iptables_in 1 -t nat -D FLANNEL-POSTRTG 2
  iptables_in 1 -t nat -D POSTROUTING -m comment --comment "flanneld masq" -j FLANNEL-POSTRTG
  iptables_in 1 -t filter -F FLANNEL-FWD
  out=$(masq_tool 1 apply) || fail "apply after damage"
  log "h1 apply after damage: $(echo "$out" | tr '\n' '|')"
  echo "$out" | grep >/dev/null -cx 'restores=2' || fail "expected one restore per table"
  keep_rule_is_first 1 || fail "keep-pod-source rule not first after repair"
  expect_flannel_rules 1
  apply_expect_no_writes 1
  expect_pod_source 1 2
}

scenario_egress() {
  cluster_by_hand
  # Without docker's rule, flannel's own MASQUERADE is what hides the pod behind its host.
  docker_rule 1 -D POSTROUTING
  masq_tool 1 apply >/dev/null || fail "apply on h1"
  masq_tool 2 apply >/dev/null || fail "apply on h2"
  local seen packets
  seen=$(outside_source_seen 1) || fail "TCP pod h1 -> $OUTSIDE_IP"
  [ "$seen" = "$(host_ip 1)" ] || fail "outside saw $seen, not h1's $(host_ip 1)"
  packets=$(iptables_in 1 -t nat -L FLANNEL-POSTRTG -v -x -n |
    awk '/MASQUERADE/ && $0 ~ /!224.0.0.0\/4/ {print $1; exit}')
  [ "${packets:-0}" -ge 1 ] || fail "flannel's MASQUERADE rule did not match (packets=$packets)"
  log "pod h1 -> outside: seen from $seen via flannel's MASQUERADE ($packets packet(s))"
  expect_pod_source 1 2
  expect_pod_source 2 1
}

scenario_remove() {
  cluster_by_hand
  masq_tool 1 apply >/dev/null || fail "apply on h1"
  local out
  out=$(masq_tool 1 remove) || fail "remove"
  log "h1 remove: $(echo "$out" | tr '\n' '|')"
  in_ns "$P-h1" iptables-save | grep -Eq 'FLANNEL|flanneld|tartan' && fail "rules left after remove"
  nat_postrouting 1 | grep >/dev/null -c -- "-s $(subnet_of 1) ! -o cni0 -j MASQUERADE" ||
    fail "remove touched docker's rule"
  out=$(masq_tool 1 remove) || fail "second remove"
  [ "$out" = "restores=0" ] || fail "second remove wrote something: $out"
}

case "${1:-}" in
  pod-source) scenario_pod_source ;;
  docker-restart) scenario_docker_restart ;;
  egress) scenario_egress ;;
  remove) scenario_remove ;;
  *) echo "usage: $0 pod-source|docker-restart|egress|remove" >&2; exit 2 ;;
esac
log "PASS masq $1"
