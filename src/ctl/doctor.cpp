#include "ctl/doctor.hpp"

#include <nlohmann/json.hpp>

#include <sys/utsname.h>

#include "backend/vxlan/ethtool.hpp"
#include "ctl/local.hpp"
#include "ctl/status_read.hpp"
#include "firewall/command.hpp"
#include "kernel/netlink_rtnl.hpp"
#include "kernel/sysctl.hpp"
#include "model/subnet_env.hpp"
#include "store/lease_logic.hpp"

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

// The external interface as the agent uses it: the link named (or holding the address given)
// by /status's "interface" or --iface, its addresses and connected networks, the public IP.
Result<backend::ExternalInterface> ReadExternalInterface(kernel::Rtnl& rtnl,
                                                         const std::string& iface,
                                                         std::optional<net::Ip4> public_ip) {
  backend::ExternalInterface ext;
  auto link = rtnl.GetLinkByName(iface);
  if (!link.ok()) {
    auto ip = net::Ip4::Parse(iface);
    auto all = rtnl.ListAddresses(0);
    if (!ip.ok() || !all.ok()) return link.error();
    for (const auto& a : *all) {
      if (a.net.ip() == *ip) link = rtnl.GetLink(a.link_index);
    }
    if (!link.ok()) return link.error();
  }
  ext.index = link->index;
  ext.name = link->name;
  ext.mtu = link->mtu;
  auto addrs = rtnl.ListAddresses(ext.index);
  if (!addrs.ok()) return addrs.error();
  if (addrs->empty()) return Error::NotFound(ext.name + " has no IPv4 address");
  ext.iface_addr = addrs->front().net.ip();
  for (const auto& a : *addrs) {
    if (public_ip && a.net.ip() == *public_ip) ext.iface_addr = a.net.ip();
    ext.connected.push_back(a.net.Network());
  }
  ext.public_ip = public_ip.value_or(ext.iface_addr);
  return ext;
}

// The config and the leases etcd holds, parsed as the agent parses them (unparseable keys and
// expired ones left out, as the agent never sees them).
struct Cluster {
  model::NetworkConfig config;
  std::vector<model::Lease> leases;
};
Result<Cluster> ReadCluster(const cmd::Options& options) {
  auto in = ReadStatusInput(options);
  if (!in.ok()) return in.error();
  if (!in->config_text) return Error::NotFound(options.etcd_prefix + "/config is not in etcd");
  auto config = model::NetworkConfig::Parse(*in->config_text);
  if (!config.ok()) return config.error().Context(options.etcd_prefix + "/config");
  Cluster c{*config, {}};
  const std::string dir = store::SubnetsDir(options.etcd_prefix);
  for (const auto& e : in->entries) {
    if (e.has_ttl && e.ttl_seconds && *e.ttl_seconds <= 0) continue;
    auto lease = store::ParseLease(store::KeyValue{e.key, e.value}, dir);
    if (lease.ok()) c.leases.push_back(std::move(*lease));
  }
  return c;
}

// routes / neighbours / FDB / TX checksum: the kernel against what the leases in etcd want,
// computed with the backend's own functions. `own` is the agent's lease (or subnet.env's).
void CheckKernelAgainstCluster(const cmd::Options& options, kernel::Rtnl& rtnl,
                               std::optional<net::Ip4Net> own, const std::string& iface,
                               std::optional<net::Ip4> public_ip, std::vector<CheckResult>& out) {
  auto skip = [&](const std::string& why, const std::string& fix) {
    out.push_back({"peer_routes", Level::kWarn, "not checked: " + why, fix});
  };
  if (!own) return skip("no lease (agent or subnet.env) to check from", "see the agent check");
  if (iface.empty()) return skip("no external interface known", "give tartand's --iface");
  auto cluster = ReadCluster(options);
  if (!cluster.ok()) {
    return skip("reading etcd: " + cluster.error().message,
                "give tartanctl tartand's etcd flags (tartanctl status shows what it reads)");
  }
  auto ext = ReadExternalInterface(rtnl, iface, public_ip);
  if (!ext.ok()) return skip("interface " + iface + ": " + ext.error().message, "");

  const std::string type = cluster->config.backend_type;
  std::optional<backend::VxlanConfig> vxlan;
  std::string dev;
  if (type == "vxlan") {
    auto vc = backend::VxlanConfig::FromBackend(cluster->config.backend);
    if (!vc.ok()) return skip("the config's Backend: " + vc.error().message, "");
    vxlan = *vc;
    dev = "flannel." + std::to_string(vc->vni);
  } else if (type == "udp") {
    dev = "flannel0";
  }
  int dev_index = 0;
  if (!dev.empty()) {
    auto link = rtnl.GetLinkByName(dev);
    if (!link.ok()) {
      out.push_back({"peer_routes", Level::kFail,
                     "the " + type + " device " + dev + " does not exist: " + link.error().message,
                     "start tartand (it creates " + dev + ")"});
      return;
    }
    dev_index = link->index;
  }

  model::Lease self;
  self.subnet.ipv4 = own->Network();
  for (const auto& l : cluster->leases) {
    if (l.subnet.ipv4 == self.subnet.ipv4) self = l;
  }
  auto desired = DesiredFor(cluster->config, *ext, dev_index, self, cluster->leases);
  if (!desired.ok()) return skip(desired.error().message, "");

  LinkNames names{{ext->index, ext->name}};
  if (dev_index != 0) names[dev_index] = dev;
  auto routes = rtnl.ListRoutes({});
  if (routes.ok()) {
    for (const auto& r : *routes) {
      if (r.link_index != 0 && !names.count(r.link_index)) {
        if (auto l = rtnl.GetLink(r.link_index); l.ok()) names[r.link_index] = l->name;
      }
    }
    out.push_back(CheckPeerRoutes(desired->routes, *routes, names));
  } else {
    skip("listing routes: " + routes.error().message, "run tartanctl doctor as root");
  }
  if (!vxlan) return;

  auto neighbours = rtnl.ListNeighbours(dev_index);
  if (neighbours.ok()) {
    out.push_back(CheckNeighbours(dev, desired->neighbours, *neighbours));
  } else {
    out.push_back({"neighbours", Level::kWarn, "listing " + dev + ": " + neighbours.error().message,
                   "run tartanctl doctor as root"});
  }
  auto fdb = rtnl.ListFdb(dev_index);
  if (fdb.ok()) {
    out.push_back(CheckFdb(dev, desired->fdb, *fdb));
  } else {
    out.push_back({"fdb", Level::kWarn, "listing " + dev + ": " + fdb.error().message,
                   "run tartanctl doctor as root"});
  }

  TxChecksumFacts tx;
  tx.dev = dev;
  if (auto on = backend::GetTxChecksumOffload(dev); on.ok()) {
    tx.offload_on = *on;
  } else {
    tx.error = on.error().message;
  }
  utsname uts{};
  if (::uname(&uts) == 0) tx.kernel_release = uts.release;
  tx.setting = vxlan->tx_checksum_offload;
  tx.behind_nat = ext->public_ip != ext->iface_addr;
  out.push_back(CheckTxChecksum(tx));
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
  std::optional<net::Ip4> public_ip = options.public_ip;
  std::vector<PeerState> peers;
  if (agent.is_object()) {
    if (auto l = net::Ip4Net::Parse(agent["lease"].value("subnet", "")); l.ok()) lease = *l;
    iface = agent.value("interface", "");
    if (auto ip = net::Ip4::Parse(agent.value("publicIP", "")); ip.ok()) public_ip = *ip;
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

  if (agent.is_object()) out.push_back(CheckPeers(peers));
  // Without the agent, its lease is the one subnet.env names.
  if (!lease && env_subnet) lease = env_subnet->Network();
  CheckKernelAgainstCluster(options, *rtnl, lease, iface, public_ip, out);
  return out;
}

}  // namespace tartan::ctl
