// `tartanctl doctor`: each check's decision as a pure function of what was read from the host
// (iptables-save, sysctls, MTUs, subnet.env, the agent's /status), so every OK/WARN/FAIL is
// unit-tested on canned inputs; doctor.cpp only gathers the inputs and prints.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "firewall/iptables_save.hpp"
#include "net/ip.hpp"

namespace tartan::ctl {

enum class Level { kOk, kWarn, kFail };
std::string_view ToString(Level level);  // "OK", "WARN", "FAIL"

struct CheckResult {
  std::string name;  // short, stable: "masquerade", "forward", ...
  Level level = Level::kOk;
  std::string reason;
  std::string fix;  // a command (or action) that fixes it; "" for OK
};

// "FAIL masquerade: <reason>\n      fix: <fix>"
std::string FormatCheck(const CheckResult& r);

// A MASQUERADE rule in nat POSTROUTING that matches pod-to-pod traffic inside `network` (e.g.
// docker's "-s <pod subnet> ! -o docker0 -j MASQUERADE" with --bip on the pod subnet) rewrites
// the pods' source addresses: FAIL unless tartan's keep-pod-source rule comes before it.
CheckResult CheckMasquerade(const firewall::TableDump& nat, net::Ip4Net network);

// FORWARD with policy DROP drops pod traffic unless a rule accepts the network (flannel's
// FLANNEL-FWD jump, or an ACCEPT naming the network).
CheckResult CheckForward(const firewall::TableDump& filter, net::Ip4Net network);

// net.ipv4.ip_forward must be 1.
CheckResult CheckIpForward(const std::string& value);

// Strict reverse-path filtering (1) on the interface peers' packets arrive on drops packets
// whose source is routed elsewhere (asymmetric paths, vxlan's DirectRouting); the effective
// value is the larger of conf.all and conf.<dev>.
CheckResult CheckRpFilter(const std::string& dev, const std::string& all_value,
                          const std::string& dev_value);

// The pod bridge (cni0/docker0) must not have a larger MTU than FLANNEL_MTU.
CheckResult CheckBridgeMtu(const std::string& bridge, std::optional<int> bridge_mtu,
                           std::optional<int> flannel_mtu);

// subnet.env's FLANNEL_SUBNET (.1 form) must be inside the agent's lease.
CheckResult CheckSubnetEnv(const std::string& file, std::optional<net::Ip4Net> env_subnet,
                           std::optional<net::Ip4Net> lease);

// The agent's /readyz state: FAIL when not ready (with its reason), or unreachable.
CheckResult CheckAgent(bool reachable, const std::string& fetch_error, bool ready,
                       const std::string& reason);

// Peers the agent cannot reach (from /status), each a WARN line naming the peer and why.
struct PeerState {
  std::string subnet;
  std::string path;
  std::string why;
};
CheckResult CheckPeers(const std::vector<PeerState>& peers);

// A peer route the agent wants and the kernel does not have, or a tartan route (protocol 84)
// for a subnet no lease holds any more.
struct RouteFact {
  net::Ip4Net dst;
  std::string text;  // as `ip route` would show it, for the message
};
CheckResult CheckPeerRoutes(const std::vector<net::Ip4Net>& wanted,
                            const std::vector<RouteFact>& tartan_routes);

}  // namespace tartan::ctl
