#include "ctl/doctor_checks.hpp"

#include <algorithm>
#include <set>
#include <sstream>

#include "agent/route_plan.hpp"
#include "backend/hostgw/hostgw.hpp"
#include "firewall/rules.hpp"
#include "model/lease_filter.hpp"

namespace tartan::ctl {
namespace {

CheckResult Ok(std::string name, std::string reason) {
  return {std::move(name), Level::kOk, std::move(reason), ""};
}

std::vector<std::string> Words(const std::string& rule) {
  std::vector<std::string> out;
  std::istringstream in(rule);
  std::string w;
  while (in >> w) out.push_back(w);
  return out;
}

// The value of a match option ("-s", "-d", "-j"), and whether it is negated ("! -s x").
struct Match {
  std::optional<std::string> value;
  bool negated = false;
};
Match Option(const std::vector<std::string>& w, const std::string& opt) {
  for (size_t i = 0; i + 1 < w.size(); ++i) {
    if (w[i] == opt) return {w[i + 1], i > 0 && w[i - 1] == "!"};
  }
  return {};
}

std::optional<net::Ip4Net> ParseNet(const std::string& s) {
  if (auto n = net::Ip4Net::Parse(s); n.ok()) return n->Network();
  if (auto a = net::Ip4::Parse(s); a.ok()) return net::Ip4Net(*a, 32);
  return std::nullopt;
}

// Whether an address match can match some pod-to-pod packet of `network`.
bool CanMatch(const Match& m, net::Ip4Net network) {
  if (!m.value) return true;
  auto n = ParseNet(*m.value);
  if (!n) return true;  // unknown form: assume it may
  if (m.negated) return !n->Contains(network);
  return n->Overlaps(network);
}

}  // namespace

std::string_view ToString(Level level) {
  switch (level) {
    case Level::kOk:
      return "OK";
    case Level::kWarn:
      return "WARN";
    case Level::kFail:
      return "FAIL";
  }
  return "?";
}

std::string FormatCheck(const CheckResult& r) {
  std::string out = std::string(ToString(r.level)) +
                    std::string(5 - ToString(r.level).size(), ' ') + r.name + ": " + r.reason +
                    "\n";
  if (!r.fix.empty()) out += "      fix: " + r.fix + "\n";
  return out;
}

CheckResult CheckMasquerade(const firewall::TableDump& nat, net::Ip4Net network) {
  const std::string n = network.ToString();
  bool exempt = false;
  for (const std::string& rule : nat.Rules("POSTROUTING")) {
    const auto w = Words(rule);
    if (rule.find(std::string(firewall::kKeepSourceComment)) != std::string::npos) {
      exempt = true;
      continue;
    }
    const auto target = Option(w, "-j");
    if (!target.value || *target.value != "MASQUERADE") continue;
    if (!CanMatch(Option(w, "-s"), network) || !CanMatch(Option(w, "-d"), network)) continue;
    if (exempt) {
      return Ok("masquerade", "MASQUERADE rule \"" + rule +
                                  "\" would SNAT pod-to-pod traffic, but tartan's keep-pod-source "
                                  "rule is in front of it");
    }
    std::string reason = "MASQUERADE rule \"" + rule;
    reason += "\" in nat POSTROUTING rewrites the source of pod-to-pod traffic inside " + n;
    reason += " (peers see the host, not the pod) and nothing exempts it";
    std::string fix =
        "run tartand with --keep-pod-source (the default), or: iptables -t nat -I POSTROUTING 1 "
        "-s ";
    fix.append(n).append(" -d ").append(n).append(" -j ACCEPT");
    return {"masquerade", Level::kFail, std::move(reason), std::move(fix)};
  }
  return Ok("masquerade",
            "no MASQUERADE rule in nat POSTROUTING matches pod-to-pod traffic in " + n);
}

CheckResult CheckForward(const firewall::TableDump& filter, net::Ip4Net network) {
  auto it = filter.chains.find("FORWARD");
  if (it == filter.chains.end() || it->second.policy != "DROP") {
    return Ok("forward", "FORWARD policy is " + (it == filter.chains.end()
                                                     ? std::string("ACCEPT (no filter table)")
                                                     : it->second.policy));
  }
  for (const std::string& rule : it->second.rules) {
    const auto w = Words(rule);
    const auto target = Option(w, "-j");
    if (!target.value) continue;
    if (*target.value == firewall::kForwardChain) {
      return Ok("forward", "FORWARD policy is DROP, and the chain jumps to " +
                               std::string(firewall::kForwardChain) + " which accepts " +
                               network.ToString());
    }
    if (*target.value != "ACCEPT") continue;
    const auto s = Option(w, "-s");
    const auto d = Option(w, "-d");
    auto covers = [&](const Match& m) {
      if (!m.value || m.negated) return false;
      auto net = ParseNet(*m.value);
      return net && net->Contains(network);
    };
    if ((covers(s) || covers(d)) && Option(w, "-i").value == std::nullopt &&
        Option(w, "-o").value == std::nullopt) {
      return Ok("forward", "FORWARD policy is DROP, and \"" + rule + "\" accepts the network");
    }
  }
  const std::string n = network.ToString();
  return {
      "forward", Level::kFail,
      "FORWARD policy is DROP and no rule accepts " + n + ": pod traffic between hosts is dropped",
      "run tartand with --iptables-forward-rules (the default), or: iptables -A FORWARD -s " + n +
          " -j ACCEPT && iptables -A FORWARD -d " + n + " -j ACCEPT"};
}

CheckResult CheckIpForward(const std::string& value) {
  if (value == "1") return Ok("ip_forward", "net.ipv4.ip_forward is 1");
  return {"ip_forward", Level::kFail,
          "net.ipv4.ip_forward is " + (value.empty() ? std::string("unreadable") : value) +
              ": the host does not route pod traffic",
          "sysctl -w net.ipv4.ip_forward=1 (and persist it in /etc/sysctl.d/)"};
}

CheckResult CheckRpFilter(const std::string& dev, const std::string& all_value,
                          const std::string& dev_value) {
  auto num = [](const std::string& v) { return v == "1" ? 1 : v == "2" ? 2 : 0; };
  const int effective = std::max(num(all_value), num(dev_value));
  if (effective != 1) {
    return Ok("rp_filter", "rp_filter on " + dev + " is " + std::to_string(effective) +
                               (effective == 2 ? " (loose)" : " (off)"));
  }
  return {"rp_filter", Level::kWarn,
          "strict rp_filter on " + dev + " (conf.all=" + all_value + ", conf." + dev + "=" +
              dev_value +
              "): packets from a peer arriving on another path than the route back "
              "(vxlan DirectRouting, asymmetric routes) are dropped",
          "sysctl -w net.ipv4.conf.all.rp_filter=2 net.ipv4.conf." + dev + ".rp_filter=2"};
}

CheckResult CheckBridgeMtu(const std::string& bridge, std::optional<int> bridge_mtu,
                           std::optional<int> flannel_mtu) {
  if (!bridge_mtu) return Ok("bridge_mtu", "no pod bridge " + bridge + " on this host");
  if (!flannel_mtu) {
    return {"bridge_mtu", Level::kWarn, "no FLANNEL_MTU to compare " + bridge + "'s MTU with",
            "start tartand (it writes subnet.env)"};
  }
  if (*bridge_mtu <= *flannel_mtu) {
    return Ok("bridge_mtu", bridge + " MTU " + std::to_string(*bridge_mtu) + " <= FLANNEL_MTU " +
                                std::to_string(*flannel_mtu));
  }
  return {"bridge_mtu", Level::kFail,
          bridge + " MTU " + std::to_string(*bridge_mtu) + " is larger than FLANNEL_MTU " +
              std::to_string(*flannel_mtu) +
              ": full-size pod packets are dropped or fragmented on the overlay",
          "ip link set " + bridge + " mtu " + std::to_string(*flannel_mtu) +
              " (and give the pods' CNI/docker config mtu " + std::to_string(*flannel_mtu) + ")"};
}

CheckResult CheckSubnetEnv(const std::string& file, std::optional<net::Ip4Net> env_subnet,
                           std::optional<net::Ip4Net> lease) {
  if (!lease) {
    return {"subnet_env", Level::kWarn, "the agent has no lease to compare " + file + " with",
            "see the agent check"};
  }
  if (!env_subnet) {
    return {"subnet_env", Level::kFail, file + " has no FLANNEL_SUBNET",
            "restart tartand; it writes " + file + " once it holds a lease"};
  }
  if (lease->Contains(env_subnet->ip()) && env_subnet->prefix_len() == lease->prefix_len()) {
    return Ok("subnet_env", file + " FLANNEL_SUBNET " + env_subnet->ToString() +
                                " matches the lease " + lease->ToString());
  }
  return {"subnet_env", Level::kFail,
          file + " says FLANNEL_SUBNET=" + env_subnet->ToString() + " but the agent's lease is " +
              lease->ToString() + ": new pods get addresses peers do not route here",
          "restart tartand (it rewrites " + file + "), then restart docker/the pods' CNI"};
}

CheckResult CheckAgent(bool reachable, const std::string& fetch_error, bool ready,
                       const std::string& reason) {
  if (!reachable) {
    return {"agent", Level::kFail, "tartand not reachable: " + fetch_error,
            "start tartand (systemctl start tartand) with --healthz-port, and give tartanctl the "
            "same flags"};
  }
  if (ready) return Ok("agent", "tartand is ready");
  return {"agent", Level::kFail, "tartand is not ready: " + reason,
          "see tartand's log (journalctl -u tartand) for why"};
}

CheckResult CheckPeers(const std::vector<PeerState>& peers) {
  std::string bad;
  for (const auto& p : peers) {
    if (p.path != "unreachable") continue;
    bad += (bad.empty() ? "" : "; ") + p.subnet + ": " + p.why;
  }
  if (bad.empty()) {
    return Ok("peers", std::to_string(peers.size()) + " peers, each with a path");
  }
  return {"peers", Level::kWarn, "peers without a path: " + bad,
          "fix the peer's lease (tartanctl status) or the underlay between the hosts"};
}

Result<backend::DesiredState> DesiredFor(const model::NetworkConfig& config,
                                         const backend::ExternalInterface& ext, int device_index,
                                         const model::Lease& own,
                                         const std::vector<model::Lease>& peers) {
  const auto valid = model::FilterLeases(config, peers).valid;
  if (config.backend_type == "host-gw") {
    auto be = backend::HostGwBackend::Create(ext);
    if (!be.ok()) return be.error();
    return (*be)->Desired(own, valid);
  }
  if (config.backend_type == "vxlan") {
    auto vc = backend::VxlanConfig::FromBackend(config.backend);
    if (!vc.ok()) return vc.error();
    return backend::VxlanDesired(*vc, ext, device_index, own, valid);
  }
  if (config.backend_type == "udp") {
    // udp hands the peers to its workers; the kernel holds only the network's route into the
    // TUN device (UdpBackend::Desired).
    backend::DesiredState out;
    if (config.network && device_index != 0) {
      out.routes.push_back(kernel::Route::Direct(*config.network, device_index));
    }
    return out;
  }
  return Error::InvalidArgument("backend type \"" + config.backend_type +
                                "\" is not one doctor checks");
}

namespace {

std::string NameOf(const LinkNames& links, int index) {
  auto it = links.find(index);
  return it != links.end() ? it->second : "#" + std::to_string(index);
}

void Append(std::string& list, const std::string& item) {
  list += (list.empty() ? "" : ", ") + item;
}

}  // namespace

CheckResult CheckPeerRoutes(const std::vector<kernel::Route>& desired,
                            const std::vector<kernel::Route>& actual, const LinkNames& links) {
  // tartan's blackhole route for its own subnet (--ip-blackhole-route) is not a peer route.
  std::vector<kernel::Route> have;
  for (const auto& r : actual) {
    if (r.protocol == kernel::kTartanRouteProtocol && r.type != kernel::kRouteTypeUnicast) continue;
    have.push_back(r);
  }
  const agent::RoutePlan plan = agent::PlanRoutes(desired, have);
  auto text = [&](const kernel::Route& r) { return r.ToString(NameOf(links, r.link_index)); };
  std::map<net::Ip4Net, const kernel::Route*> ours;
  for (const auto& r : have) {
    if (r.protocol == kernel::kTartanRouteProtocol) ours.emplace(r.dst, &r);
  }
  std::string missing, wrong, stale, blocked, fix;
  for (const auto& r : plan.replace) {
    auto it = ours.find(r.dst);
    if (it == ours.end()) {
      Append(missing, text(r));
    } else {
      Append(wrong, text(*it->second) + " (want " + text(r) + ")");
    }
    if (fix.empty()) fix = "ip route replace " + text(r) + " proto 84";
  }
  for (const auto& r : plan.remove) {
    // A wanted route blocked by another program's is reported as blocked, not as stale.
    bool is_blocked = false;
    for (const auto& c : plan.conflicts) is_blocked = is_blocked || c.wanted.dst == r.dst;
    if (is_blocked) continue;
    Append(stale, text(r));
    if (fix.empty()) fix = "ip route del " + text(r) + " proto 84";
  }
  for (const auto& c : plan.conflicts) {
    Append(blocked, text(c.wanted) + " (blocked by " + text(c.existing) +
                        (c.connected ? ", a network on this host's links)" : ")"));
    if (fix.empty()) {
      fix = c.connected ? "give the peer's lease a subnet that no host link overlaps"
                        : "ip route del " + text(c.existing) +
                              "; tartand then installs its own (it never replaces a route it "
                              "did not install)";
    }
  }
  if (missing.empty() && wrong.empty() && stale.empty() && blocked.empty()) {
    return Ok("peer_routes", std::to_string(desired.size()) +
                                 " peer routes as the leases in etcd "
                                 "want them, none stale");
  }
  std::string reason;
  auto part = [&](const std::string& what, const std::string& list) {
    if (!list.empty()) reason += (reason.empty() ? "" : "; ") + what + list;
  };
  part("missing route(s): ", missing);
  part("wrong route(s): ", wrong);
  part("stale tartan route(s) for subnets no lease has: ", stale);
  part("route(s) not installable: ", blocked);
  return {"peer_routes", Level::kFail, reason,
          fix + (missing.empty() && wrong.empty() && stale.empty()
                     ? ""
                     : "; tartand repairs this on its next pass: if it persists, see its log")};
}

CheckResult CheckNeighbours(const std::string& dev, const std::vector<kernel::Neighbour>& desired,
                            const std::vector<kernel::Neighbour>& actual) {
  const auto plan = agent::PlanNeighbours(desired, actual);
  if (plan.empty()) {
    return Ok("neighbours", std::to_string(desired.size()) + " peer neighbour entries on " + dev +
                                ", none stale");
  }
  std::map<net::Ip4, const kernel::Neighbour*> have;
  for (const auto& n : actual) have.emplace(n.ip, &n);
  std::string missing, wrong, stale, fix;
  for (const auto& n : plan.replace) {
    auto it = have.find(n.ip);
    if (it == have.end()) {
      Append(missing, n.ToString(dev));
    } else {
      Append(wrong, it->second->ToString(dev) + " (want " + n.ToString(dev) + ")");
    }
    if (fix.empty()) {
      fix = "ip neigh replace " + n.ip.ToString() + " lladdr " + n.mac.ToString() + " dev " + dev +
            " nud permanent";
    }
  }
  for (const auto& n : plan.remove) {
    Append(stale, n.ToString(dev));
    if (fix.empty()) fix = "ip neigh del " + n.ip.ToString() + " dev " + dev;
  }
  std::string reason;
  if (!missing.empty()) reason = "missing for peer lease(s): " + missing;
  if (!wrong.empty()) reason += (reason.empty() ? "" : "; ") + std::string("wrong: ") + wrong;
  if (!stale.empty()) {
    reason +=
        (reason.empty() ? "" : "; ") + std::string("stale (no lease in etcd wants it): ") + stale;
  }
  return {"neighbours", Level::kFail, reason, fix};
}

CheckResult CheckFdb(const std::string& dev, const std::vector<kernel::FdbEntry>& desired,
                     const std::vector<kernel::FdbEntry>& actual) {
  const auto plan = agent::PlanFdb(desired, actual);
  if (plan.empty()) {
    return Ok("fdb",
              std::to_string(desired.size()) + " peer FDB entries on " + dev + ", none stale");
  }
  std::string missing, stale, fix;
  for (const auto& e : plan.replace) {
    Append(missing, e.ToString(dev));
    if (fix.empty()) {
      fix = "bridge fdb replace " + e.mac.ToString() + " dev " + dev + " dst " + e.dst.ToString() +
            " self permanent";
    }
  }
  for (const auto& e : plan.remove) {
    Append(stale, e.ToString(dev));
    if (fix.empty()) {
      fix = "bridge fdb del " + e.mac.ToString() + " dev " + dev + " dst " + e.dst.ToString() +
            " self";
    }
  }
  std::string reason;
  if (!missing.empty()) reason = "missing for peer lease(s): " + missing;
  if (!stale.empty()) {
    reason += (reason.empty() ? "" : "; ") +
              std::string("stale (a peer gone from etcd, or its old VTEP/MAC): ") + stale;
  }
  return {"fdb", Level::kFail, reason, fix};
}

CheckResult CheckTxChecksum(const TxChecksumFacts& f) {
  using Setting = backend::VxlanConfig::TxChecksumOffload;
  const std::string off = "ethtool -K " + f.dev + " tx-checksum-ip-generic off";
  if (!f.offload_on) {
    return {"tx_checksum", Level::kWarn,
            "cannot read TX checksum offload of " + f.dev + ": " + f.error,
            "run tartanctl doctor as root on the host; ethtool -k " + f.dev};
  }
  const bool old_kernel = backend::KernelNeedsTxChecksumWorkaround(f.kernel_release);
  if (!*f.offload_on) {
    return Ok("tx_checksum",
              "TX checksum offload is off on " + f.dev +
                  (old_kernel ? " (kernel " + f.kernel_release + " < 5.7 needs it off)" : ""));
  }
  if (f.setting == Setting::kOff) {
    return {"tx_checksum", Level::kFail,
            "TX checksum offload is on on " + f.dev +
                " although the config's Backend.TxChecksumOffload is false (tartan turns it off "
                "only when it creates the device: one made by flanneld or by hand keeps it)",
            off};
  }
  if (old_kernel) {
    if (f.setting == Setting::kOn) {
      return {"tx_checksum", Level::kWarn,
              "TX checksum offload is on on " + f.dev + " and kernel " + f.kernel_release +
                  " is older than 5.7, where double-NATed vxlan packets (kube-proxy) leave with a "
                  "bad checksum; Backend.TxChecksumOffload is true, so this is intended only if "
                  "the kernel has the fix backported",
              off};
    }
    return {"tx_checksum", Level::kFail,
            "TX checksum offload is on on " + f.dev + " and kernel " + f.kernel_release +
                " is older than 5.7: double-NATed vxlan packets (kube-proxy) leave with a bad "
                "checksum and connections stall (63 s)",
            off + " (tartan does it itself on devices it creates: delete " + f.dev +
                " and let tartand recreate it)"};
  }
  if (f.behind_nat) {
    return {"tx_checksum", Level::kWarn,
            "TX checksum offload is on on " + f.dev +
                " and the public IP is not the interface's own address: behind NAT, the outer "
                "UDP checksum of vxlan packets can arrive corrupted (\"UDP: bad checksum\" in the "
                "peers' dmesg)",
            off + " if peers log bad checksums"};
  }
  return Ok("tx_checksum", "TX checksum offload is on on " + f.dev + "; kernel " +
                               f.kernel_release + " >= 5.7 has the vxlan checksum fix");
}

}  // namespace tartan::ctl
