#include "agent/iface_select.hpp"

#include <gtest/gtest.h>

#include "kernel/fake_rtnl.hpp"

namespace tartan::agent {
namespace {

net::Ip4 A(const char* s) { return *net::Ip4::Parse(s); }
net::Ip4Net N(const char* s) { return *net::Ip4Net::Parse(s); }

IfaceChoice WithIface(std::vector<std::string> v) {
  IfaceChoice c;
  c.iface = std::move(v);
  return c;
}
IfaceChoice WithRegex(std::vector<std::string> v) {
  IfaceChoice c;
  c.iface_regex = std::move(v);
  return c;
}
IfaceChoice WithReach(net::Ip4 ip) {
  IfaceChoice c;
  c.can_reach = ip;
  return c;
}
IfaceChoice WithPublicIp(IfaceChoice c, net::Ip4 ip) {
  c.public_ip = ip;
  return c;
}

// lo, eth0 (192.0.2.11/24, default route), eth1 (198.51.100.5/24 + 198.51.100.6/24), mtu 9000.
class IfaceSelectTest : public ::testing::Test {
 protected:
  void SetUp() override {
    lo_ = Add("lo", 65536);
    eth0_ = Add("eth0", 1500);
    eth1_ = Add("eth1", 9000);
    ASSERT_TRUE(rtnl_.AddAddress({N("127.0.0.1/8"), lo_}).ok());
    ASSERT_TRUE(rtnl_.AddAddress({N("192.0.2.11/24"), eth0_}).ok());
    ASSERT_TRUE(rtnl_.AddAddress({N("198.51.100.5/24"), eth1_}).ok());
    ASSERT_TRUE(rtnl_.AddAddress({N("198.51.100.6/24"), eth1_}).ok());
    kernel::Route def = kernel::Route::Via(N("0.0.0.0/0"), A("192.0.2.1"), eth0_);
    def.protocol = kernel::kRouteProtocolBoot;
    ASSERT_TRUE(rtnl_.AddRoute(def).ok());
  }
  int Add(const char* name, uint32_t mtu) {
    kernel::Link l;
    l.name = name;
    l.mtu = mtu;
    l.up = true;
    return rtnl_.AddLinkForTest(l);
  }
  Result<backend::ExternalInterface> Select(IfaceChoice c) {
    return SelectExternalInterface(rtnl_, c);
  }

  kernel::FakeRtnl rtnl_;
  int lo_ = 0, eth0_ = 0, eth1_ = 0;
};

TEST_F(IfaceSelectTest, DefaultRouteInterfaceWhenNothingIsGiven) {
  auto ext = Select({});
  ASSERT_TRUE(ext.ok()) << ext.error().message;
  EXPECT_EQ(ext->name, "eth0");
  EXPECT_EQ(ext->index, eth0_);
  EXPECT_EQ(ext->iface_addr, A("192.0.2.11"));
  EXPECT_EQ(ext->public_ip, A("192.0.2.11"));
  EXPECT_EQ(ext->mtu, 1500u);
  EXPECT_EQ(ext->connected, std::vector<net::Ip4Net>{N("192.0.2.0/24")});
}

TEST_F(IfaceSelectTest, IfaceByNameOrAddressInOrder) {
  auto by_name = Select(WithIface({"nosuch", "eth1"}));
  ASSERT_TRUE(by_name.ok()) << by_name.error().message;
  EXPECT_EQ(by_name->name, "eth1");
  EXPECT_EQ(by_name->iface_addr, A("198.51.100.5")) << "the primary address";
  EXPECT_EQ(by_name->mtu, 9000u);

  auto by_addr = Select(WithIface({"198.51.100.6"}));
  ASSERT_TRUE(by_addr.ok());
  EXPECT_EQ(by_addr->name, "eth1");
  EXPECT_EQ(by_addr->iface_addr, A("198.51.100.6")) << "the address asked for";

  auto none = Select(WithIface({"eth9", "10.9.9.9"}));
  ASSERT_FALSE(none.ok());
  EXPECT_NE(none.error().message.find("no interface matches --iface eth9, 10.9.9.9"),
            std::string::npos)
      << none.error().message;
}

TEST_F(IfaceSelectTest, IfaceRegexMatchesAddressesThenNames) {
  auto by_addr = Select(WithRegex({"^198\\.51\\."}));
  ASSERT_TRUE(by_addr.ok()) << by_addr.error().message;
  EXPECT_EQ(by_addr->name, "eth1");
  auto by_name = Select(WithRegex({"nomatch", "^eth0$"}));
  ASSERT_TRUE(by_name.ok());
  EXPECT_EQ(by_name->name, "eth0");
  auto bad = Select(WithRegex({"(["}));
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code, Error::Code::kInvalidArgument);
  EXPECT_FALSE(Select(WithRegex({"^wlan"})).ok());
}

TEST_F(IfaceSelectTest, CanReachUsesTheRouteToThatAddress) {
  auto ext = Select(WithReach(A("198.51.100.77")));
  ASSERT_TRUE(ext.ok()) << ext.error().message;
  EXPECT_EQ(ext->name, "eth1");
  auto via_default = Select(WithReach(A("203.0.113.9")));
  ASSERT_TRUE(via_default.ok());
  EXPECT_EQ(via_default->name, "eth0");
}

TEST_F(IfaceSelectTest, PublicIpOverridesTheAdvertisedAddress) {
  auto ext = Select(WithPublicIp(WithIface({"eth0"}), A("203.0.113.50")));
  ASSERT_TRUE(ext.ok());
  EXPECT_EQ(ext->iface_addr, A("192.0.2.11"));
  EXPECT_EQ(ext->public_ip, A("203.0.113.50"));
}

TEST_F(IfaceSelectTest, NoDefaultRouteSaysWhatToDo) {
  auto routes = rtnl_.ListRoutes({});
  ASSERT_TRUE(routes.ok());
  for (const auto& r : *routes) ASSERT_TRUE(rtnl_.DeleteRoute(r).ok());
  auto ext = Select({});
  ASSERT_FALSE(ext.ok());
  EXPECT_NE(ext.error().message.find("name one with --iface"), std::string::npos)
      << ext.error().message;
}

TEST_F(IfaceSelectTest, InterfaceWithoutAnAddressIsRefused) {
  Add("eth2", 1500);
  auto ext = Select(WithIface({"eth2"}));
  ASSERT_FALSE(ext.ok());
  EXPECT_NE(ext.error().message.find("eth2 has no IPv4 address"), std::string::npos);
}

}  // namespace
}  // namespace tartan::agent
