// `tartanctl doctor`: each check's decision as a pure function of what was read from the host
// (iptables-save, sysctls, MTUs, subnet.env, the agent's /status), so every OK/WARN/FAIL is
// unit-tested on canned inputs; doctor.cpp only gathers the inputs and prints.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "backend/backend.hpp"
#include "backend/vxlan/vxlan.hpp"
#include "firewall/iptables_save.hpp"
#include "kernel/types.hpp"
#include "model/lease.hpp"
#include "model/network_config.hpp"
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

// What this host's backend wants in the kernel for the leases in etcd, computed as the agent
// computes it (model::FilterLeases, then the backend's own pure function): host-gw's routes,
// vxlan's routes, neighbours and FDB entries on flannel.<VNI> (`device_index`), udp's one route
// of the network into flannel0 (`device_index`). An error for a backend doctor does not know.
Result<backend::DesiredState> DesiredFor(const model::NetworkConfig& config,
                                         const backend::ExternalInterface& ext, int device_index,
                                         const model::Lease& own,
                                         const std::vector<model::Lease>& peers);

// Link names by index, for messages ("#7" when unknown).
using LinkNames = std::map<int, std::string>;

// The kernel's routes (`actual`: the main table, every protocol) against the desired ones,
// planned as the agent's reconciler plans them (agent::PlanRoutes): a desired route missing or
// different (wrong gateway or device), a tartan route (protocol 84) nobody wants (its lease is
// gone from etcd), and a desired route another program's route is in the way of.
CheckResult CheckPeerRoutes(const std::vector<kernel::Route>& desired,
                            const std::vector<kernel::Route>& actual, const LinkNames& links);

// vxlan: flannel.<VNI>'s neighbour table and FDB belong to tartan (ADR 0005): every desired
// entry must be there (permanent, with the peer's VtepMAC / public IP), and every other entry
// is stale (a peer gone from etcd, a MAC pointing at an old VTEP). Planned as the reconciler
// plans them (agent::PlanNeighbours, agent::PlanFdb).
CheckResult CheckNeighbours(const std::string& dev, const std::vector<kernel::Neighbour>& desired,
                            const std::vector<kernel::Neighbour>& actual);
CheckResult CheckFdb(const std::string& dev, const std::vector<kernel::FdbEntry>& desired,
                     const std::vector<kernel::FdbEntry>& actual);

// The vxlan TX checksum bug (ADR 0005): with TX checksum offload on the vxlan device, kernels
// before 5.7 send double-NATed (kube-proxy) packets with a bad checksum, and a VTEP behind NAT
// (a --public-ip that is not the interface's own address) gets its outer UDP checksum broken on
// any kernel. FAIL when offload is on where the kernel bug applies or the config asks for it
// off; WARN behind NAT; OK otherwise.
struct TxChecksumFacts {
  std::string dev;                 // flannel.<VNI>
  std::optional<bool> offload_on;  // nullopt: could not be read (see `error`)
  std::string error;
  std::string kernel_release;  // uname -r
  backend::VxlanConfig::TxChecksumOffload setting = backend::VxlanConfig::TxChecksumOffload::kAuto;
  bool behind_nat = false;  // the public IP is not an address of the interface
};
CheckResult CheckTxChecksum(const TxChecksumFacts& facts);

}  // namespace tartan::ctl
