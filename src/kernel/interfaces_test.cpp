#include "kernel/interfaces.hpp"

#include <gtest/gtest.h>

#include "kernel/fake_rtnl.hpp"

namespace tartan::kernel {
namespace {

net::Ip4Net Net(const char* s) { return net::Ip4Net::Parse(s).value(); }
net::Ip4 Ip(const char* s) { return net::Ip4::Parse(s).value(); }

Link Named(const char* name, uint32_t mtu = 1500) {
  Link l;
  l.name = name;
  l.mtu = mtu;
  l.up = true;
  return l;
}

// lo, eth0 192.0.2.1/24 (default via 192.0.2.254), eth1 198.51.100.1/24 (default, metric 100),
// docker0 172.17.0.1/16.
class InterfaceChoiceTwoUplinks : public ::testing::Test {
 protected:
  void SetUp() override {
    lo_ = fake_.AddLinkForTest(Named("lo", 65536));
    eth0_ = fake_.AddLinkForTest(Named("eth0"));
    eth1_ = fake_.AddLinkForTest(Named("eth1", 9000));
    docker_ = fake_.AddLinkForTest(Named("docker0"));
    ASSERT_TRUE(fake_.AddAddress({Net("127.0.0.1/8"), lo_}).ok());
    ASSERT_TRUE(fake_.AddAddress({Net("192.0.2.1/24"), eth0_}).ok());
    ASSERT_TRUE(fake_.AddAddress({Net("198.51.100.1/24"), eth1_}).ok());
    ASSERT_TRUE(fake_.AddAddress({Net("172.17.0.1/16"), docker_}).ok());
    Route slow = Route::Via(Net("0.0.0.0/0"), Ip("198.51.100.254"), eth1_);
    slow.metric = 100;
    slow.protocol = kRouteProtocolBoot;
    Route fast = Route::Via(Net("0.0.0.0/0"), Ip("192.0.2.254"), eth0_);
    fast.metric = 10;
    fast.protocol = kRouteProtocolBoot;
    ASSERT_TRUE(fake_.AddRoute(slow).ok());
    ASSERT_TRUE(fake_.AddRoute(fast).ok());
  }
  FakeRtnl fake_;
  int lo_ = 0, eth0_ = 0, eth1_ = 0, docker_ = 0;
};

TEST_F(InterfaceChoiceTwoUplinks, DefaultRouteLinkPicksLowestMetric) {
  auto l = DefaultRouteLink(fake_);
  ASSERT_TRUE(l.ok()) << l.error().message;
  EXPECT_EQ(l->name, "eth0");
}

TEST(InterfaceChoice, NoDefaultRouteIsNotFound) {
  FakeRtnl fake;
  fake.AddLinkForTest(Named("eth0"));
  auto l = DefaultRouteLink(fake);
  ASSERT_FALSE(l.ok());
  EXPECT_EQ(l.error().code, Error::Code::kNotFound);
}

TEST_F(InterfaceChoiceTwoUplinks, ByIp) {
  auto l = LinkByIp(fake_, Ip("198.51.100.1"));
  ASSERT_TRUE(l.ok());
  EXPECT_EQ(l->index, eth1_);
  EXPECT_EQ(LinkByIp(fake_, Ip("203.0.113.1")).error().code, Error::Code::kNotFound);
}

TEST_F(InterfaceChoiceTwoUplinks, ByRegexTriesAddressesBeforeNames) {
  struct Case {
    const char* pattern;
    const char* want;  // nullptr: error
    Error::Code code = Error::Code::kNotFound;
  };
  const Case cases[] = {
      {"^eth1$", "eth1"},
      {"docker", "docker0"},
      {"198\\.51\\.", "eth1"},
      // "1" occurs in every address; the first link in kernel order whose address matches wins
      // before any name is looked at.
      {"1", "lo"},
      {"^wlan", nullptr},
      {"eth(", nullptr, Error::Code::kInvalidArgument},
  };
  for (const Case& c : cases) {
    auto l = LinkByRegex(fake_, c.pattern);
    if (c.want == nullptr) {
      ASSERT_FALSE(l.ok()) << c.pattern;
      EXPECT_EQ(l.error().code, c.code) << c.pattern;
    } else {
      ASSERT_TRUE(l.ok()) << c.pattern << ": " << l.error().message;
      EXPECT_EQ(l->name, c.want) << c.pattern;
    }
  }
}

TEST_F(InterfaceChoiceTwoUplinks, CanReachAndOnLink) {
  auto l = LinkThatReaches(fake_, Ip("198.51.100.77"));
  ASSERT_TRUE(l.ok());
  EXPECT_EQ(l->name, "eth1");
  l = LinkThatReaches(fake_, Ip("8.8.8.8"));
  ASSERT_TRUE(l.ok());
  EXPECT_EQ(l->name, "eth0");
  EXPECT_TRUE(*IsOnLink(fake_, Ip("192.0.2.77")));
  EXPECT_FALSE(*IsOnLink(fake_, Ip("203.0.113.5")));
}

TEST_F(InterfaceChoiceTwoUplinks, MtuOf) {
  EXPECT_EQ(MtuOf(fake_, eth1_).value(), 9000u);
  EXPECT_EQ(MtuOf(fake_, 99).error().code, Error::Code::kNotFound);
}

TEST_F(InterfaceChoiceTwoUplinks, AddressesOfLink) {
  ASSERT_TRUE(fake_.AddAddress({Net("192.0.2.100/32"), eth0_}).ok());
  auto a = Ip4AddressesOf(fake_, eth0_);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(*a, (std::vector<net::Ip4Net>{Net("192.0.2.1/24"), Net("192.0.2.100/32")}));
}

TEST_F(InterfaceChoiceTwoUplinks, ErrorsFromTheKernelPropagate) {
  fake_.FailNext("ListRoutes", Error::Unavailable("listing routes: Device or resource busy"));
  auto l = DefaultRouteLink(fake_);
  ASSERT_FALSE(l.ok());
  EXPECT_EQ(l.error().code, Error::Code::kUnavailable);
  EXPECT_NE(l.error().message.find("Device or resource busy"), std::string::npos);
}

TEST(FakeRtnl, FollowsKernelRulesForRoutes) {
  FakeRtnl fake;
  int eth0 = fake.AddLinkForTest(Named("eth0"));
  Route r = Route::Via(Net("10.244.3.0/24"), Ip("192.0.2.3"), eth0);
  ASSERT_TRUE(fake.AddRoute(r).ok());
  EXPECT_EQ(fake.AddRoute(r).error().code, Error::Code::kAlreadyExists);
  Route other = r;
  other.protocol = kRouteProtocolBoot;
  EXPECT_EQ(fake.DeleteRoute(other).error().code, Error::Code::kNotFound);
  EXPECT_EQ(fake.AddRoute(Route::Via(Net("10.1.0.0/16"), Ip("192.0.2.3"), 99)).error().code,
            Error::Code::kNotFound);
  ASSERT_TRUE(fake.DeleteLink(eth0).ok());
  EXPECT_TRUE(fake.ListRoutes({})->empty());
}

}  // namespace
}  // namespace tartan::kernel
