#include "ctl/doctor_checks.hpp"

#include <algorithm>
#include <set>
#include <sstream>

#include "firewall/rules.hpp"

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
    fix += n + " -d " + n + " -j ACCEPT";
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

CheckResult CheckPeerRoutes(const std::vector<net::Ip4Net>& wanted,
                            const std::vector<RouteFact>& tartan_routes) {
  std::set<net::Ip4Net> have;
  for (const auto& r : tartan_routes) have.insert(r.dst);
  const std::set<net::Ip4Net> want(wanted.begin(), wanted.end());
  std::string missing, stale;
  for (const auto& w : want) {
    if (!have.count(w)) missing += (missing.empty() ? "" : ", ") + w.ToString();
  }
  for (const auto& r : tartan_routes) {
    if (!want.count(r.dst)) stale += (stale.empty() ? "" : ", ") + r.text;
  }
  if (missing.empty() && stale.empty()) {
    return Ok("peer_routes", std::to_string(want.size()) + " peer routes, none stale");
  }
  std::string reason;
  if (!missing.empty()) reason = "no route for peer subnet(s) " + missing;
  if (!stale.empty()) {
    reason += (reason.empty() ? "" : "; ") + std::string("stale tartan route(s): ") + stale;
  }
  return {"peer_routes", Level::kFail, reason,
          "check tartand's log for refused routes; a stale route: ip route del <subnet> proto 84"};
}

}  // namespace tartan::ctl
