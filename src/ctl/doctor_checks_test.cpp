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

  const auto a = net::Ip4Net::Parse("10.244.2.0/24").value();
  const auto b = net::Ip4Net::Parse("10.244.3.0/24").value();
  EXPECT_EQ(CheckPeerRoutes({a}, {{a, "10.244.2.0/24 via 192.0.2.12 dev eth0"}}).level, Level::kOk);
  auto missing = CheckPeerRoutes({a, b}, {{a, "x"}});
  EXPECT_EQ(missing.level, Level::kFail);
  EXPECT_TRUE(Has(missing.reason, "no route for peer subnet(s) 10.244.3.0/24"));
  auto stale = CheckPeerRoutes({a}, {{a, "x"}, {b, "10.244.3.0/24 via 192.0.2.13 dev eth0"}});
  EXPECT_EQ(stale.level, Level::kFail);
  EXPECT_TRUE(Has(stale.reason, "stale tartan route(s): 10.244.3.0/24 via 192.0.2.13"));
}

TEST(Doctor, LineFormat) {
  EXPECT_EQ(FormatCheck({"ip_forward", Level::kFail, "off", "sysctl -w x=1"}),
            "FAIL ip_forward: off\n      fix: sysctl -w x=1\n");
  EXPECT_EQ(FormatCheck({"agent", Level::kOk, "ready", ""}), "OK   agent: ready\n");
}

}  // namespace
}  // namespace tartan::ctl
