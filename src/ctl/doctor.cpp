#include "ctl/doctor.hpp"

#include <nlohmann/json.hpp>

#include "ctl/local.hpp"
#include "firewall/command.hpp"
#include "kernel/netlink_rtnl.hpp"
#include "kernel/sysctl.hpp"
#include "model/subnet_env.hpp"

namespace tartan::ctl {
namespace {

Result<firewall::TableDump> ReadTable(firewall::CommandRunner& runner, const std::string& table) {
  auto out = runner.Run({"iptables-save", "-t", table}, "");
  if (!out.ok()) return out.error();
  if (out->exit_code != 0) {
    return Error::Unavailable("iptables-save -t " + table + " failed: " + out->err);
  }
  return firewall::ParseIptablesSave(out->out, table);
}

}  // namespace

std::vector<CheckResult> RunDoctor(const cmd::Options& options) {
  std::vector<CheckResult> out;

  // The agent first: what it holds is what the host is checked against.
  auto body = FetchFromAgent(options, "/status");
  nlohmann::json status =
      body.ok() ? nlohmann::json::parse(*body, nullptr, false) : nlohmann::json();
  const bool reachable = body.ok() && status.is_object();
  out.push_back(CheckAgent(reachable, body.ok() ? "/status is not JSON" : body.error().message,
                           reachable && status.value("ready", false),
                           reachable ? status.value("reason", "") : ""));
  const nlohmann::json agent =
      reachable && status.contains("agent") ? status["agent"] : nlohmann::json();
  std::optional<net::Ip4Net> lease;
  std::string iface;
  std::vector<PeerState> peers;
  if (agent.is_object()) {
    if (auto l = net::Ip4Net::Parse(agent["lease"].value("subnet", "")); l.ok()) lease = *l;
    iface = agent.value("interface", "");
    for (const auto& p : agent.value("peers", nlohmann::json::array())) {
      peers.push_back({p.value("subnet", ""), p.value("path", ""), p.value("why", "")});
    }
  }
  if (iface.empty() && !options.iface.empty()) iface = options.iface.front();

  auto env = model::ReadSubnetEnv(options.subnet_file);
  std::optional<net::Ip4Net> network = env.ok() ? env->network : std::nullopt;
  std::optional<net::Ip4Net> env_subnet;
  if (env.ok() && env->subnet) {
    env_subnet = net::Ip4Net(net::Ip4(env->subnet->ip().value() + 1), env->subnet->prefix_len());
  }
  out.push_back(CheckSubnetEnv(options.subnet_file, env_subnet, lease));

  firewall::SpawnCommandRunner runner(std::chrono::seconds(10));
  if (!network) {
    out.push_back(
        {"masquerade", Level::kWarn,
         "no FLANNEL_NETWORK in " + options.subnet_file + " to check the firewall against",
         "start tartand, or give --subnet-file"});
  } else {
    auto nat = ReadTable(runner, "nat");
    if (nat.ok()) {
      out.push_back(CheckMasquerade(*nat, *network));
    } else {
      out.push_back({"masquerade", Level::kWarn, "reading nat: " + nat.error().message,
                     "run tartanctl doctor as root with iptables installed"});
    }
    auto filter = ReadTable(runner, "filter");
    if (filter.ok()) {
      out.push_back(CheckForward(*filter, *network));
    } else {
      out.push_back({"forward", Level::kWarn, "reading filter: " + filter.error().message,
                     "run tartanctl doctor as root with iptables installed"});
    }
  }

  const kernel::Sysctl sysctl;
  auto fwd = sysctl.Read("net.ipv4.ip_forward");
  out.push_back(CheckIpForward(fwd.ok() ? *fwd : ""));
  if (!iface.empty()) {
    auto all = sysctl.Read("net/ipv4/conf/all/rp_filter");
    auto dev = sysctl.Read("net/ipv4/conf/" + iface + "/rp_filter");
    out.push_back(CheckRpFilter(iface, all.ok() ? *all : "?", dev.ok() ? *dev : "?"));
  }

  auto rtnl = kernel::NetlinkRtnl::Open();
  if (!rtnl.ok()) {
    out.push_back({"kernel", Level::kWarn, "netlink: " + rtnl.error().message,
                   "run tartanctl doctor as root"});
    return out;
  }
  bool bridge_seen = false;
  for (const char* bridge : {"cni0", "docker0"}) {
    auto link = rtnl->GetLinkByName(bridge);
    if (!link.ok()) continue;
    bridge_seen = true;
    out.push_back(
        CheckBridgeMtu(bridge, static_cast<int>(link->mtu),
                       env.ok() && env->mtu > 0 ? std::optional<int>(env->mtu) : std::nullopt));
  }
  if (!bridge_seen) out.push_back(CheckBridgeMtu("cni0/docker0", std::nullopt, std::nullopt));

  if (agent.is_object()) {
    out.push_back(CheckPeers(peers));
    kernel::RouteFilter filter;
    filter.protocol = kernel::kTartanRouteProtocol;
    auto routes = rtnl->ListRoutes(filter);
    if (routes.ok()) {
      std::vector<net::Ip4Net> wanted;
      for (const auto& p : peers) {
        if (p.path == "unreachable") continue;
        if (auto n = net::Ip4Net::Parse(p.subnet); n.ok()) wanted.push_back(*n);
      }
      std::vector<RouteFact> have;
      for (const auto& r : *routes) {
        if (r.type != kernel::kRouteTypeUnicast) continue;  // the --ip-blackhole-route route
        std::string dev = "#" + std::to_string(r.link_index);
        if (auto l = rtnl->GetLink(r.link_index); l.ok()) dev = l->name;
        have.push_back({r.dst, r.ToString(dev)});
      }
      out.push_back(CheckPeerRoutes(wanted, have));
    }
  }
  return out;
}

}  // namespace tartan::ctl
