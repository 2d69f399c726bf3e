#include "backend/hostgw/hostgw.hpp"

#include <gtest/gtest.h>

namespace tartan::backend {
namespace {

net::Ip4 A(const char* s) { return *net::Ip4::Parse(s); }

model::Lease L(const char* subnet, const char* ip, const char* type) {
  model::Lease l;
  l.subnet = *model::SubnetKey::Parse(subnet);
  if (ip) l.attrs.public_ip = A(ip);
  l.attrs.backend_type = type;
  return l;
}

ExternalInterface Eth0() {
  ExternalInterface e;
  e.index = 2;
  e.name = "eth0";
  e.mtu = 1500;
  e.iface_addr = A("192.0.2.11");
  e.public_ip = e.iface_addr;
  e.connected = {*net::Ip4Net::Parse("192.0.2.0/24")};
  return e;
}

TEST(HostGw, RoutesEveryOnLinkHostGwPeerViaItsPublicIp) {
  auto be = HostGwBackend::Create(Eth0());
  ASSERT_TRUE(be.ok()) << be.error().message;
  EXPECT_EQ((*be)->lease_type(), "host-gw");
  EXPECT_EQ((*be)->mtu(), 1500u);
  EXPECT_EQ((*be)->backend_data(), "");

  model::Lease own = L("10.244.1.0-24", "192.0.2.11", "host-gw");
  std::vector<model::Lease> peers = {
      own,
      L("10.244.2.0-24", "192.0.2.12", "host-gw"),
      L("10.244.3.0-24", "192.0.2.13", "host-gw"),
      L("10.244.4.0-24", "192.0.2.14", "vxlan"),      // other backend: ignored
      L("10.244.5.0-24", "192.0.2.15", ""),           // udp: ignored
      L("10.244.6.0-24", "198.51.100.7", "host-gw"),  // routed, not on-link
      L("10.244.7.0-24", nullptr, "host-gw"),         // no PublicIP
      L("10.244.8.0-24", "192.0.2.11", "host-gw"),    // our IP on another subnet
  };
  DesiredState d = (*be)->Desired(own, peers);
  ASSERT_EQ(d.routes.size(), 2u);
  EXPECT_EQ(d.routes[0].ToString("eth0"),
            kernel::Route::Via(*net::Ip4Net::Parse("10.244.2.0/24"), A("192.0.2.12"), 2)
                .ToString("eth0"));
  EXPECT_EQ(d.routes[0].protocol, kernel::kTartanRouteProtocol);
  EXPECT_EQ(d.routes[0].link_index, 2);
  EXPECT_EQ(d.routes[1].dst.ToString(), "10.244.3.0/24");
  EXPECT_TRUE(d.neighbours.empty());
  EXPECT_TRUE(d.fdb.empty());
  ASSERT_EQ(d.problems.size(), 3u);
  EXPECT_NE(d.problems[0].find("10.244.6.0/24 at 198.51.100.7 is not on-link from eth0"),
            std::string::npos)
      << d.problems[0];
  EXPECT_NE(d.problems[1].find("no PublicIP"), std::string::npos);
  EXPECT_NE(d.problems[2].find("our own public IP"), std::string::npos);
}

TEST(HostGw, RefusesAPublicIpThatIsNotTheInterfaceAddress) {
  ExternalInterface e = Eth0();
  e.public_ip = A("203.0.113.5");
  auto be = HostGwBackend::Create(e);
  ASSERT_FALSE(be.ok());
  EXPECT_NE(be.error().message.find("203.0.113.5 is not an address of eth0"), std::string::npos)
      << be.error().message;
}

// The interface made again (new index) or readdressed: the routes follow at the next pass.
TEST(HostGw, RebindMovesTheRoutesToTheNewInterface) {
  auto be = HostGwBackend::Create(Eth0());
  ASSERT_TRUE(be.ok());
  ExternalInterface now = Eth0();
  now.index = 9;
  ASSERT_TRUE((*be)->Rebind(now).ok());
  auto d = (*be)->Desired(L("10.244.1.0-24", "192.0.2.11", "host-gw"),
                          {L("10.244.2.0-24", "192.0.2.12", "host-gw")});
  ASSERT_EQ(d.routes.size(), 1u);
  EXPECT_EQ(d.routes[0].link_index, 9);

  now.public_ip = A("203.0.113.5");
  EXPECT_FALSE((*be)->Rebind(now).ok()) << "refused as at start";
}

}  // namespace
}  // namespace tartan::backend
