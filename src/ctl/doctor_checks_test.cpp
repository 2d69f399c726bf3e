#include "ctl/doctor_checks.hpp"

#include <gtest/gtest.h>

namespace tartan::ctl {
namespace {

const net::Ip4Net kNet = *net::Ip4Net::Parse("10.244.0.0/16");

firewall::TableDump Dump(const std::string& text, const std::string& table) {
  auto d = firewall::ParseIptablesSave(text, table);
  EXPECT_TRUE(d.ok()) << (d.ok() ? "" : d.error().message);
  return d.ok() ? *d : firewall::TableDump{};
}

bool Has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

TEST(Doctor, MasqueradeOfPodTrafficFailsUnlessTartansExemptionIsInFront) {
  // docker's rule with --bip on the pod subnet (the deployment guide's section 3).
  const std::string docker = "-A POSTROUTING -s 10.244.7.0/24 ! -o docker0 -j MASQUERADE\n";
  const std::string keep =
      "-A POSTROUTING -s 10.244.0.0/16 -d 10.244.0.0/16 -m mark ! --mark 0x4000/0x4000 -m comment "
      "--comment \"tartan: keep pod source addresses\" -j ACCEPT\n";
  const std::string head = "*nat\n:PREROUTING ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n";
  auto r = CheckMasquerade(Dump(head + docker + "COMMIT\n", "nat"), kNet);
  EXPECT_EQ(r.level, Level::kFail);
  EXPECT_TRUE(Has(r.reason, "10.244.7.0/24 ! -o docker0")) << r.reason;
  EXPECT_TRUE(Has(r.fix, "iptables -t nat -I POSTROUTING 1 -s 10.244.0.0/16 -d 10.244.0.0/16"));
  EXPECT_EQ(CheckMasquerade(Dump(head + keep + docker + "COMMIT\n", "nat"), kNet).level,
            Level::kOk);
  EXPECT_EQ(CheckMasquerade(Dump(head + docker + keep + "COMMIT\n", "nat"), kNet).level,
            Level::kFail);
  // docker's default network elsewhere, and flannel's own rule that excludes the network.
  EXPECT_EQ(CheckMasquerade(
                Dump(head + "-A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE\n"
                            "-A POSTROUTING -s 10.244.0.0/16 ! -d 10.244.0.0/16 -j MASQUERADE\n"
                            "COMMIT\n",
                     "nat"),
                kNet)
                .level,
            Level::kOk);
  // A catch-all MASQUERADE hits pod traffic too.
  EXPECT_EQ(
      CheckMasquerade(Dump(head + "-A POSTROUTING -o eth0 -j MASQUERADE\nCOMMIT\n", "nat"), kNet)
          .level,
      Level::kFail);
  EXPECT_EQ(CheckMasquerade(firewall::TableDump{}, kNet).level, Level::kOk);
}

TEST(Doctor, ForwardPolicyDrop) {
  const std::string head =
      "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\n";
  auto r = CheckForward(Dump(head + "COMMIT\n", "filter"), kNet);
  EXPECT_EQ(r.level, Level::kFail);
  EXPECT_TRUE(Has(r.fix, "iptables -A FORWARD -s 10.244.0.0/16 -j ACCEPT"));
  EXPECT_EQ(CheckForward(firewall::TableDump{}, kNet).level, Level::kOk);
  EXPECT_EQ(
      CheckForward(Dump("*filter\n:FORWARD DROP [0:0]\n:FLANNEL-FWD - [0:0]\n"
                        "-A FORWARD -m comment --comment \"flanneld forward\" -j FLANNEL-FWD\n"
                        "COMMIT\n",
                        "filter"),
                   kNet)
          .level,
      Level::kOk);
  EXPECT_EQ(
      CheckForward(Dump(head + "-A FORWARD -s 10.244.0.0/16 -j ACCEPT\nCOMMIT\n", "filter"), kNet)
          .level,
      Level::kOk);
  // Accepting only docker's own bridge does not cover traffic between hosts.
  EXPECT_EQ(
      CheckForward(Dump(head + "-A FORWARD -o docker0 -j ACCEPT\nCOMMIT\n", "filter"), kNet).level,
      Level::kFail);
  EXPECT_EQ(CheckForward(Dump("*filter\n:FORWARD ACCEPT [0:0]\nCOMMIT\n", "filter"), kNet).level,
            Level::kOk);
}

TEST(Doctor, Sysctls) {
  EXPECT_EQ(CheckIpForward("1").level, Level::kOk);
  EXPECT_EQ(CheckIpForward("0").level, Level::kFail);
  EXPECT_TRUE(Has(CheckIpForward("0").fix, "sysctl -w net.ipv4.ip_forward=1"));
  EXPECT_EQ(CheckRpFilter("eth0", "0", "1").level, Level::kWarn);
  EXPECT_EQ(CheckRpFilter("eth0", "1", "0").level, Level::kWarn);
  EXPECT_EQ(CheckRpFilter("eth0", "1", "2").level, Level::kOk);  // the larger value applies
  EXPECT_EQ(CheckRpFilter("eth0", "0", "0").level, Level::kOk);
}

TEST(Doctor, BridgeMtuAndSubnetEnv) {
  EXPECT_EQ(CheckBridgeMtu("cni0", 1500, 1450).level, Level::kFail);
  EXPECT_TRUE(Has(CheckBridgeMtu("cni0", 1500, 1450).fix, "ip link set cni0 mtu 1450"));
  EXPECT_EQ(CheckBridgeMtu("cni0", 1450, 1450).level, Level::kOk);
  EXPECT_EQ(CheckBridgeMtu("cni0", std::nullopt, 1450).level, Level::kOk);
  const auto lease = net::Ip4Net::Parse("10.244.7.0/24").value();
  EXPECT_EQ(CheckSubnetEnv("s.env", net::Ip4Net::Parse("10.244.7.1/24").value(), lease).level,
            Level::kOk);
  EXPECT_EQ(CheckSubnetEnv("s.env", net::Ip4Net::Parse("10.244.9.1/24").value(), lease).level,
            Level::kFail);
  EXPECT_EQ(CheckSubnetEnv("s.env", std::nullopt, lease).level, Level::kFail);
  EXPECT_EQ(CheckSubnetEnv("s.env", std::nullopt, std::nullopt).level, Level::kWarn);
}

TEST(Doctor, AgentPeersAndRoutes) {
  EXPECT_EQ(CheckAgent(true, "", true, "").level, Level::kOk);
  EXPECT_EQ(CheckAgent(true, "", false, "acquiring a lease").level, Level::kFail);
  EXPECT_TRUE(Has(CheckAgent(false, "connection refused", false, "").reason, "connection refused"));
  EXPECT_EQ(CheckPeers({{"10.244.2.0/24", "host-gw", ""}}).level, Level::kOk);
  EXPECT_EQ(CheckPeers({{"10.244.2.0/24", "unreachable", "no PublicIP"}}).level, Level::kWarn);
}

model::Lease MakeLease(const std::string& subnet, const std::string& json) {
  model::Lease l;
  l.subnet.ipv4 = net::Ip4Net::Parse(subnet).value();
  l.attrs = model::LeaseAttrs::Parse(json).value();
  l.etcd_lease_id = 7;
  return l;
}

model::NetworkConfig Config(const std::string& json) {
  return model::NetworkConfig::Parse(json).value();
}

backend::ExternalInterface Eth0() {
  backend::ExternalInterface ext;
  ext.index = 2;
  ext.name = "eth0";
  ext.mtu = 1500;
  ext.iface_addr = net::Ip4::Parse("192.0.2.11").value();
  ext.public_ip = ext.iface_addr;
  ext.connected = {net::Ip4Net::Parse("192.0.2.0/24").value()};
  return ext;
}

constexpr int kVtep = 5;
const LinkNames kLinks{{2, "eth0"}, {kVtep, "flannel.1"}};
const char kMac2[] = "42:00:00:00:00:02";
const char kMac3[] = "42:00:00:00:00:03";

// h1 (10.244.1.0/24) with peers h2 and h3 in etcd, and a garbage key the agent skips too.
std::vector<model::Lease> Leases(const std::string& type) {
  auto data = [&](const char* mac) {
    return type == "vxlan" ? std::string(",\"BackendData\":{\"VNI\":1,\"VtepMAC\":\"") + mac + "\"}"
                           : std::string();
  };
  return {MakeLease("10.244.1.0/24", R"({"PublicIP":"192.0.2.11","BackendType":")" + type + "\"" +
                                         data(kMac2) + "}"),
          MakeLease("10.244.2.0/24", R"({"PublicIP":"192.0.2.12","BackendType":")" + type + "\"" +
                                         data(kMac2) + "}"),
          MakeLease("10.244.3.0/24", R"({"PublicIP":"192.0.2.13","BackendType":")" + type + "\"" +
                                         data(kMac3) + "}"),
          MakeLease("10.99.0.0/24", R"({"PublicIP":"192.0.2.14","BackendType":")" + type + "\"}")};
}

kernel::Route Connected() {
  kernel::Route r = kernel::Route::Direct(net::Ip4Net::Parse("192.0.2.0/24").value(), 2);
  r.protocol = kernel::kRouteProtocolKernel;
  return r;
}

TEST(Doctor, DesiredComesFromTheBackendsOwnFunctions) {
  const auto leases = Leases("host-gw");
  auto hostgw = DesiredFor(Config(R"({"Network":"10.244.0.0/16","Backend":{"Type":"host-gw"}})"),
                           Eth0(), 0, leases[0], leases);
  ASSERT_TRUE(hostgw.ok());
  ASSERT_EQ(hostgw->routes.size(), 2u);  // h2, h3; not ourselves, not the key outside Network
  EXPECT_EQ(hostgw->routes[0].ToString("eth0"), "10.244.2.0/24 via 192.0.2.12 dev eth0");

  const auto vx = Leases("vxlan");
  auto vxlan = DesiredFor(Config(R"({"Network":"10.244.0.0/16","Backend":{"Type":"vxlan"}})"),
                          Eth0(), kVtep, vx[0], vx);
  ASSERT_TRUE(vxlan.ok());
  ASSERT_EQ(vxlan->routes.size(), 2u);
  EXPECT_EQ(vxlan->routes[1].ToString("flannel.1"),
            "10.244.3.0/24 via 10.244.3.0 dev flannel.1 onlink");
  ASSERT_EQ(vxlan->fdb.size(), 2u);
  EXPECT_EQ(vxlan->fdb[1].ToString("flannel.1"),
            "42:00:00:00:00:03 dst 192.0.2.13 dev flannel.1 self permanent");
  ASSERT_EQ(vxlan->neighbours.size(), 2u);
  EXPECT_EQ(vxlan->neighbours[0].ip.ToString(), "10.244.2.0");

  // DirectRouting: on-link peers get plain routes, no entries.
  auto direct = DesiredFor(
      Config(R"({"Network":"10.244.0.0/16","Backend":{"Type":"vxlan","DirectRouting":true}})"),
      Eth0(), kVtep, vx[0], vx);
  ASSERT_TRUE(direct.ok());
  EXPECT_TRUE(direct->fdb.empty());
  EXPECT_EQ(direct->routes.size(), 2u);

  auto udp = DesiredFor(Config(R"({"Network":"10.244.0.0/16","Backend":{"Type":"udp"}})"), Eth0(),
                        9, vx[0], vx);
  ASSERT_TRUE(udp.ok());
  ASSERT_EQ(udp->routes.size(), 1u);
  EXPECT_EQ(udp->routes[0].ToString("flannel0"), "10.244.0.0/16 dev flannel0 scope link");
  EXPECT_FALSE(DesiredFor(Config(R"({"Network":"10.244.0.0/16","Backend":{"Type":"ipip"}})"),
                          Eth0(), 0, vx[0], vx)
                   .ok());
}

TEST(Doctor, PeerRoutesMissingWrongStaleBlocked) {
  const auto leases = Leases("host-gw");
  const auto desired =
      DesiredFor(Config(R"({"Network":"10.244.0.0/16","Backend":{"Type":"host-gw"}})"), Eth0(), 0,
                 leases[0], leases)
          ->routes;
  std::vector<kernel::Route> kernel = {Connected()};
  kernel.insert(kernel.end(), desired.begin(), desired.end());
  // A blackhole for our own subnet (--ip-blackhole-route) is not a stale peer route.
  kernel.push_back(kernel::Route::Blackhole(net::Ip4Net::Parse("10.244.1.0/24").value(), 100));
  EXPECT_EQ(CheckPeerRoutes(desired, kernel, kLinks).level, Level::kOk);

  auto missing = kernel;
  missing.erase(missing.begin() + 2);  // h3's route deleted by hand
  auto r = CheckPeerRoutes(desired, missing, kLinks);
  EXPECT_EQ(r.level, Level::kFail);
  EXPECT_TRUE(Has(r.reason, "missing route(s): 10.244.3.0/24 via 192.0.2.13 dev eth0")) << r.reason;
  EXPECT_EQ(r.fix.rfind("ip route replace 10.244.3.0/24 via 192.0.2.13 dev eth0 proto 84", 0), 0u)
      << r.fix;

  auto stale = kernel;  // a tartan route for a subnet no lease has
  stale.push_back(kernel::Route::Via(net::Ip4Net::Parse("10.244.9.0/24").value(),
                                     net::Ip4::Parse("192.0.2.19").value(), 2));
  r = CheckPeerRoutes(desired, stale, kLinks);
  EXPECT_EQ(r.level, Level::kFail);
  EXPECT_TRUE(Has(r.reason,
                  "stale tartan route(s) for subnets no lease has: 10.244.9.0/24 via "
                  "192.0.2.19 dev eth0"))
      << r.reason;
  EXPECT_TRUE(Has(r.fix, "ip route del 10.244.9.0/24 via 192.0.2.19 dev eth0 proto 84"));

  auto wrong = kernel;  // h2's route through the wrong gateway
  wrong[1].gateway = net::Ip4::Parse("192.0.2.99").value();
  r = CheckPeerRoutes(desired, wrong, kLinks);
  EXPECT_EQ(r.level, Level::kFail);
  EXPECT_TRUE(Has(r.reason,
                  "wrong route(s): 10.244.2.0/24 via 192.0.2.99 dev eth0 (want "
                  "10.244.2.0/24 via 192.0.2.12 dev eth0)"))
      << r.reason;

  auto blocked = missing;  // an operator's route where h3's would go
  kernel::Route theirs = kernel::Route::Via(net::Ip4Net::Parse("10.244.3.0/24").value(),
                                            net::Ip4::Parse("192.0.2.1").value(), 2);
  theirs.protocol = kernel::kRouteProtocolBoot;
  blocked.push_back(theirs);
  r = CheckPeerRoutes(desired, blocked, kLinks);
  EXPECT_EQ(r.level, Level::kFail);
  EXPECT_TRUE(Has(r.reason,
                  "not installable: 10.244.3.0/24 via 192.0.2.13 dev eth0 (blocked by "
                  "10.244.3.0/24 via 192.0.2.1 dev eth0 proto boot)"))
      << r.reason;
  EXPECT_TRUE(Has(r.fix, "ip route del 10.244.3.0/24 via 192.0.2.1 dev eth0 proto boot")) << r.fix;
}

TEST(Doctor, VxlanNeighboursAndFdb) {
  const auto vx = Leases("vxlan");
  const auto d = DesiredFor(Config(R"({"Network":"10.244.0.0/16","Backend":{"Type":"vxlan"}})"),
                            Eth0(), kVtep, vx[0], vx)
                     .value();
  EXPECT_EQ(CheckNeighbours("flannel.1", d.neighbours, d.neighbours).level, Level::kOk);
  EXPECT_EQ(CheckFdb("flannel.1", d.fdb, d.fdb).level, Level::kOk);

  // h3's entries deleted by hand.
  auto r = CheckNeighbours("flannel.1", d.neighbours, {d.neighbours[0]});
  EXPECT_EQ(r.level, Level::kFail);
  EXPECT_TRUE(Has(r.reason, "missing for peer lease(s): 10.244.3.0 lladdr 42:00:00:00:00:03"))
      << r.reason;
  EXPECT_EQ(r.fix,
            "ip neigh replace 10.244.3.0 lladdr 42:00:00:00:00:03 dev flannel.1 nud "
            "permanent");
  r = CheckFdb("flannel.1", d.fdb, {d.fdb[0]});
  EXPECT_EQ(r.level, Level::kFail);
  EXPECT_EQ(r.fix,
            "bridge fdb replace 42:00:00:00:00:03 dev flannel.1 dst 192.0.2.13 self permanent");

  // Entries for a peer no longer in etcd.
  const net::Mac gone = net::Mac::Parse("42:00:00:00:00:09").value();
  auto neigh = d.neighbours;
  neigh.push_back({net::Ip4::Parse("10.244.9.0").value(), gone, kVtep});
  r = CheckNeighbours("flannel.1", d.neighbours, neigh);
  EXPECT_EQ(r.level, Level::kFail);
  EXPECT_TRUE(Has(r.reason, "stale (no lease in etcd wants it): 10.244.9.0 lladdr")) << r.reason;
  EXPECT_EQ(r.fix, "ip neigh del 10.244.9.0 dev flannel.1");
  auto fdb = d.fdb;
  fdb.push_back({gone, net::Ip4::Parse("192.0.2.19").value(), kVtep});
  r = CheckFdb("flannel.1", d.fdb, fdb);
  EXPECT_EQ(r.level, Level::kFail);
  EXPECT_TRUE(Has(r.reason,
                  "stale (a peer gone from etcd, or its old VTEP/MAC): "
                  "42:00:00:00:00:09 dst 192.0.2.19"))
      << r.reason;
  EXPECT_EQ(r.fix, "bridge fdb del 42:00:00:00:00:09 dev flannel.1 dst 192.0.2.19 self");

  // A wrong VTEP (h3's MAC pointing at an old address), a wrong MAC for h2's VTEP address.
  fdb = d.fdb;
  fdb[1].dst = net::Ip4::Parse("192.0.2.99").value();
  r = CheckFdb("flannel.1", d.fdb, fdb);
  EXPECT_EQ(r.level, Level::kFail);
  EXPECT_TRUE(Has(r.reason, "missing for peer lease(s): 42:00:00:00:00:03 dst 192.0.2.13"));
  EXPECT_TRUE(Has(r.reason, "42:00:00:00:00:03 dst 192.0.2.99"));
  neigh = d.neighbours;
  neigh[0].mac = gone;
  r = CheckNeighbours("flannel.1", d.neighbours, neigh);
  EXPECT_EQ(r.level, Level::kFail);
  EXPECT_TRUE(Has(r.reason, "wrong: 10.244.2.0 lladdr 42:00:00:00:00:09")) << r.reason;
  // A learned (not permanent) entry is not what tartan installs.
  neigh = d.neighbours;
  neigh[0].state = 0x02;  // NUD_REACHABLE
  EXPECT_EQ(CheckNeighbours("flannel.1", d.neighbours, neigh).level, Level::kFail);
}

TEST(Doctor, TxChecksumOffload) {
  using Setting = backend::VxlanConfig::TxChecksumOffload;
  TxChecksumFacts f;
  f.dev = "flannel.1";
  f.offload_on = true;
  f.kernel_release = "4.19.0-27-amd64";
  auto r = CheckTxChecksum(f);
  EXPECT_EQ(r.level, Level::kFail);
  EXPECT_TRUE(Has(r.reason, "older than 5.7")) << r.reason;
  EXPECT_EQ(r.fix.rfind("ethtool -K flannel.1 tx-checksum-ip-generic off", 0), 0u) << r.fix;
  f.offload_on = false;
  EXPECT_EQ(CheckTxChecksum(f).level, Level::kOk);
  // Asked on explicitly (a backported fix): a warning only.
  f.offload_on = true;
  f.setting = Setting::kOn;
  EXPECT_EQ(CheckTxChecksum(f).level, Level::kWarn);
  // A fixed kernel keeps offload on.
  f.setting = Setting::kAuto;
  f.kernel_release = "5.10.0-28-amd64";
  EXPECT_EQ(CheckTxChecksum(f).level, Level::kOk);
  f.kernel_release = "6.1.0";
  EXPECT_EQ(CheckTxChecksum(f).level, Level::kOk);
  // ... unless the config asks for it off (a device tartan did not create keeps it on).
  f.setting = Setting::kOff;
  r = CheckTxChecksum(f);
  EXPECT_EQ(r.level, Level::kFail);
  EXPECT_TRUE(Has(r.reason, "TxChecksumOffload is false")) << r.reason;
  EXPECT_EQ(r.fix, "ethtool -K flannel.1 tx-checksum-ip-generic off");
  // Behind NAT, on any kernel.
  f.setting = Setting::kAuto;
  f.behind_nat = true;
  EXPECT_EQ(CheckTxChecksum(f).level, Level::kWarn);
  f.offload_on = std::nullopt;
  f.error = "Operation not permitted";
  EXPECT_EQ(CheckTxChecksum(f).level, Level::kWarn);
}

TEST(Doctor, LineFormat) {
  EXPECT_EQ(FormatCheck({"ip_forward", Level::kFail, "off", "sysctl -w x=1"}),
            "FAIL ip_forward: off\n      fix: sysctl -w x=1\n");
  EXPECT_EQ(FormatCheck({"agent", Level::kOk, "ready", ""}), "OK   agent: ready\n");
}

}  // namespace
}  // namespace tartan::ctl
