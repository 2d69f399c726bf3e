#include "kernel/types.hpp"

#include <gtest/gtest.h>

#include <set>

namespace tartan::kernel {
namespace {

net::Ip4Net Net(const char* s) { return net::Ip4Net::Parse(s).value(); }
net::Ip4 Ip(const char* s) { return net::Ip4::Parse(s).value(); }
net::Mac MacOf(const char* s) { return net::Mac::Parse(s).value(); }

TEST(RouteValue, FactoriesMatchFlannelShapes) {
  Route hostgw = Route::Via(Net("10.244.76.5/24"), Ip("192.0.2.2"), 2);
  EXPECT_EQ(hostgw.dst, Net("10.244.76.0/24"));  // canonical, as the kernel reports it
  EXPECT_EQ(hostgw.scope, RouteScope::kUniverse);
  EXPECT_EQ(hostgw.protocol, kTartanRouteProtocol);
  EXPECT_EQ(hostgw.table, kMainTable);
  EXPECT_FALSE(hostgw.onlink);

  Route vxlan = Route::ViaOnlink(Net("10.244.1.0/24"), Ip("10.244.1.0"), 5);
  EXPECT_TRUE(vxlan.onlink);

  Route udp = Route::Direct(Net("10.244.0.0/16"), 7);
  EXPECT_EQ(udp.scope, RouteScope::kLink);
  EXPECT_FALSE(udp.gateway.has_value());
}

TEST(RouteValue, ToStringReadsLikeIproute2) {
  struct Case {
    Route route;
    const char* dev;
    const char* want;
  };
  Route boot = Route::Via(Net("10.244.3.0/24"), Ip("192.0.2.3"), 2);
  boot.protocol = kRouteProtocolBoot;
  boot.metric = 10;
  const Case cases[] = {
      {Route::Via(Net("10.244.3.0/24"), Ip("192.0.2.3"), 2), "eth0",
       "10.244.3.0/24 via 192.0.2.3 dev eth0"},
      {Route::ViaOnlink(Net("10.244.1.0/24"), Ip("10.244.1.0"), 5), "",
       "10.244.1.0/24 via 10.244.1.0 dev #5 onlink"},
      {Route::Direct(Net("10.244.0.0/16"), 7), "flannel0", "10.244.0.0/16 dev flannel0 scope link"},
      {boot, "eth0", "10.244.3.0/24 via 192.0.2.3 dev eth0 metric 10 proto boot"},
  };
  for (const Case& c : cases) EXPECT_EQ(c.route.ToString(c.dev), c.want);
}

TEST(RouteValue, OrderingAndEqualityDriveSetDiffs) {
  Route a = Route::Via(Net("10.244.1.0/24"), Ip("192.0.2.1"), 2);
  Route b = Route::Via(Net("10.244.2.0/24"), Ip("192.0.2.2"), 2);
  Route a_other_gw = Route::Via(Net("10.244.1.0/24"), Ip("192.0.2.9"), 2);
  std::set<Route> want{a, b};
  std::set<Route> have{a_other_gw, b};
  std::vector<Route> missing;
  for (const Route& r : want) {
    if (have.count(r) == 0) missing.push_back(r);
  }
  ASSERT_EQ(missing.size(), 1u);
  EXPECT_EQ(missing[0], a);
  EXPECT_NE(a, a_other_gw);
  EXPECT_LT(a, b);
}

TEST(KernelValues, FdbAddressLinkToString) {
  Neighbour n{Ip("10.244.1.0"), MacOf("42:08:00:00:00:01"), 5, kNudPermanent};
  EXPECT_EQ(n.ToString("flannel.1"), "10.244.1.0 lladdr 42:08:00:00:00:01 dev flannel.1 permanent");
  FdbEntry f{MacOf("42:08:00:00:00:01"), Ip("192.0.2.2"), 5, true, true};
  EXPECT_EQ(f.ToString("flannel.1"),
            "42:08:00:00:00:01 dst 192.0.2.2 dev flannel.1 self permanent");
  Address a{Net("10.244.38.0/32"), 5};
  EXPECT_EQ(a.ToString(), "10.244.38.0/32 dev #5");
  Link l;
  l.index = 5;
  l.name = "flannel.1";
  l.mtu = 1450;
  l.kind = "vxlan";
  l.vxlan = VxlanAttrs{};
  EXPECT_EQ(l.ToString(), "flannel.1 (#5, vxlan vni 1, mtu 1450)");
}

TEST(VxlanAttrs, DefaultsAreFlannels) {
  VxlanAttrs v;
  EXPECT_EQ(v.vni, 1u);
  EXPECT_EQ(v.port, 8472);
  EXPECT_FALSE(v.learning);
  EXPECT_FALSE(v.gbp);
}

}  // namespace
}  // namespace tartan::kernel
