#include "agent/route_plan.hpp"

#include <gtest/gtest.h>

namespace tartan::agent {
namespace {

using kernel::Route;

net::Ip4Net N(const char* s) { return *net::Ip4Net::Parse(s); }
net::Ip4 A(const char* s) { return *net::Ip4::Parse(s); }

Route Foreign(Route r, uint8_t proto = kernel::kRouteProtocolBoot) {
  r.protocol = proto;
  return r;
}

TEST(PlanRoutes, AddsMissingKeepsPresentRemovesDeparted) {
  Route a = Route::Via(N("10.244.1.0/24"), A("192.0.2.11"), 2);
  Route b = Route::Via(N("10.244.2.0/24"), A("192.0.2.12"), 2);
  Route gone = Route::Via(N("10.244.3.0/24"), A("192.0.2.13"), 2);
  RoutePlan plan = PlanRoutes({a, b}, {a, gone});
  EXPECT_EQ(plan.replace, std::vector<Route>{b});
  EXPECT_EQ(plan.remove, std::vector<Route>{gone});
  EXPECT_TRUE(PlanRoutes({a, b}, {b, a}).empty());
}

TEST(PlanRoutes, ARouteAnotherProgramPutAtAPeersDestinationIsLeftAlone) {
  Route want = Route::Via(N("10.244.1.0/24"), A("192.0.2.11"), 2);
  // Changed by hand (`ip route replace`, proto boot) or by a routing daemon: not ours.
  for (const Route& other : {Foreign(Route::Via(N("10.244.1.0/24"), A("192.0.2.99"), 2)),
                             Foreign(Route::Via(N("10.244.1.0/24"), A("192.0.2.11"), 2), 4),
                             Foreign(Route::Via(N("10.244.1.0/24"), A("192.0.2.11"), 3))}) {
    RoutePlan plan = PlanRoutes({want}, {other});
    EXPECT_TRUE(plan.empty()) << other.ToString();
    EXPECT_EQ(plan.conflicts, (std::vector<RouteConflict>{{want, other, false}}));
  }
}

TEST(PlanRoutes, NeverTakesTheDefaultOrAConnectedRoute) {
  const Route dflt = Foreign(Route::Via(N("0.0.0.0/0"), A("192.0.2.1"), 2));
  Route dhcp_default = Foreign(Route::Via(N("0.0.0.0/0"), A("192.0.2.1"), 2), 16);
  dhcp_default.metric = 100;
  const Route underlay = Foreign(Route::Direct(N("192.0.2.0/24"), 2), kernel::kRouteProtocolKernel);
  const std::vector<Route> actual = {dflt, dhcp_default, underlay};

  // A peer announcing 0.0.0.0/0: the default route would be replaced (metric 0) or shadowed
  // (when the only default has metric 100).
  Route over_default = Route::Via(N("0.0.0.0/0"), A("192.0.2.12"), 2);
  RoutePlan plan = PlanRoutes({over_default}, actual);
  EXPECT_TRUE(plan.empty());
  ASSERT_EQ(plan.conflicts.size(), 1u);
  EXPECT_EQ(plan.conflicts[0].existing, dflt);
  plan = PlanRoutes({over_default}, {dhcp_default});
  EXPECT_TRUE(plan.empty()) << "a route beside another program's default would shadow it";
  EXPECT_EQ(plan.conflicts, (std::vector<RouteConflict>{{over_default, dhcp_default, false}}));

  // The underlay's own network, any part of it, or any network containing it.
  for (const char* dst : {"192.0.2.0/24", "192.0.2.128/25", "192.0.0.0/16"}) {
    Route peer = Route::Via(N(dst), A("192.0.2.12"), 2);
    plan = PlanRoutes({peer}, actual);
    EXPECT_TRUE(plan.empty()) << dst;
    EXPECT_EQ(plan.conflicts, (std::vector<RouteConflict>{{peer, underlay, true}})) << dst;
  }
  // Less specific routes of others (the default, udp's whole network) are not in the way.
  Route peer = Route::Via(N("10.244.1.0/24"), A("192.0.2.11"), 2);
  Route udp = Foreign(Route::Direct(N("10.244.0.0/16"), 7));
  plan = PlanRoutes({peer}, {dflt, dhcp_default, underlay, udp});
  EXPECT_EQ(plan.replace, std::vector<Route>{peer});
  EXPECT_TRUE(plan.conflicts.empty());
}

TEST(PlanRoutes, AnOperatorsBlackholeIsLeftAlone) {
  Route want = Route::Via(N("10.244.1.0/24"), A("192.0.2.11"), 2);
  Route blackhole;
  blackhole.dst = N("10.244.1.0/24");
  blackhole.type = kernel::kRouteTypeBlackhole;
  blackhole.protocol = kernel::kRouteProtocolBoot;
  RoutePlan plan = PlanRoutes({want}, {blackhole});
  EXPECT_TRUE(plan.empty());
  EXPECT_EQ(plan.conflicts, (std::vector<RouteConflict>{{want, blackhole, false}}));
}

TEST(PlanRoutes, NeverDeletesRoutesItDidNotCreate) {
  std::vector<Route> actual = {
      Foreign(Route::Via(N("0.0.0.0/0"), A("192.0.2.1"), 2)),
      Foreign(Route::Direct(N("192.0.2.0/24"), 2), kernel::kRouteProtocolKernel),
      Foreign(Route::Via(N("10.244.9.0/24"), A("192.0.2.19"), 2)),  // flanneld's leftover
  };
  EXPECT_TRUE(PlanRoutes({}, actual).empty());
}

TEST(PlanRoutes, AdoptsFlanneldsRouteForTheSamePeerInPlace) {
  Route want = Route::Via(N("10.244.1.0/24"), A("192.0.2.11"), 2);
  Route vxlan = Route::ViaOnlink(N("10.244.2.0/24"), A("10.244.2.0"), 5);
  // Same path, installed by flanneld (proto boot): replaced in place so that it is marked ours
  // and cleaned up when the peer leaves. Flags such as onlink are not part of the path.
  Route flannel_vxlan = Foreign(vxlan);
  flannel_vxlan.onlink = false;
  RoutePlan plan = PlanRoutes({want, vxlan}, {Foreign(want), flannel_vxlan});
  EXPECT_EQ(plan.replace, (std::vector<Route>{want, vxlan}));
  EXPECT_EQ(plan.adopted, (std::vector<Route>{Foreign(want), flannel_vxlan}));
  EXPECT_TRUE(plan.remove.empty());
  EXPECT_TRUE(plan.conflicts.empty());
}

TEST(PlanRoutes, AdoptsOnlyTheSamePathFromFlanneld) {
  const Route want = Route::Via(N("10.244.1.0/24"), A("192.0.2.11"), 2);
  EXPECT_TRUE(IsAdoptable(Foreign(want), want));
  Route other_metric = Foreign(want);
  other_metric.metric = 50;
  const Route not_adoptable[] = {
      Foreign(Route::Via(N("10.244.1.0/24"), A("192.0.2.12"), 2)),  // another gateway
      Foreign(Route::Via(N("10.244.1.0/24"), A("192.0.2.11"), 3)),  // another device
      Foreign(want, 4),                                             // proto static: an operator's
      Foreign(want, kernel::kRouteProtocolKernel),
      other_metric,
  };
  for (const Route& r : not_adoptable) {
    EXPECT_FALSE(IsAdoptable(r, want)) << r.ToString();
    RoutePlan plan = PlanRoutes({want}, {r});
    EXPECT_TRUE(plan.replace.empty()) << r.ToString();
    EXPECT_TRUE(plan.adopted.empty()) << r.ToString();
    EXPECT_EQ(plan.conflicts.size(), 1u) << r.ToString();
  }
}

TEST(PlanRoutes, ARouteAddedBesideOursIsLeftAndOursKept) {
  Route want = Route::Via(N("10.244.1.0/24"), A("192.0.2.11"), 2);
  Route backup = Foreign(Route::Via(N("10.244.1.0/24"), A("192.0.2.99"), 2));
  backup.metric = 200;
  RoutePlan plan = PlanRoutes({want}, {want, backup});
  EXPECT_TRUE(plan.empty());
  EXPECT_TRUE(plan.conflicts.empty());
  // Ours changed (the peer moved): still repaired, the other stays.
  Route moved = Route::Via(N("10.244.1.0/24"), A("192.0.2.21"), 2);
  plan = PlanRoutes({moved}, {want, backup});
  EXPECT_EQ(plan.replace, std::vector<Route>{moved});
  EXPECT_TRUE(plan.remove.empty());
}

TEST(PlanRoutes, OurRouteIsWithdrawnWhenAConnectedNetworkOverlapsIt) {
  Route ours = Route::Via(N("10.244.1.0/24"), A("192.0.2.11"), 2);
  Route cni0 = Foreign(Route::Direct(N("10.244.1.0/24"), 9), kernel::kRouteProtocolKernel);
  RoutePlan plan = PlanRoutes({ours}, {ours, cni0});
  EXPECT_TRUE(plan.replace.empty());
  EXPECT_EQ(plan.remove, std::vector<Route>{ours});
  EXPECT_EQ(plan.conflicts, (std::vector<RouteConflict>{{ours, cni0, true}}));
}

TEST(PlanRoutes, UdpsNetworkRouteMayCoverThePodBridgeButNotSitInsideALink) {
  // udp: the whole Network into flannel0 around this host's own cni0 subnet.
  Route network = Route::Direct(N("10.244.0.0/16"), 7);
  Route cni0 = Foreign(Route::Direct(N("10.244.1.0/24"), 9), kernel::kRouteProtocolKernel);
  RoutePlan plan = PlanRoutes({network}, {cni0});
  EXPECT_EQ(plan.replace, std::vector<Route>{network});
  EXPECT_TRUE(plan.conflicts.empty());
  // The same network on a link of the host, or a larger one, still wins.
  for (const char* link : {"10.244.0.0/16", "10.0.0.0/8"}) {
    Route eth = Foreign(Route::Direct(N(link), 2), kernel::kRouteProtocolKernel);
    plan = PlanRoutes({network}, {eth});
    EXPECT_TRUE(plan.replace.empty()) << link;
    EXPECT_EQ(plan.conflicts.size(), 1u) << link;
  }
}

TEST(PlanRoutes, GatewayDeviceOnlinkAndScopeChangesAreRepaired) {
  Route want = Route::ViaOnlink(N("10.244.1.0/24"), A("10.244.1.0"), 5);
  Route other_dev = want;
  other_dev.link_index = 6;
  Route not_onlink = want;
  not_onlink.onlink = false;
  Route other_gw = want;
  other_gw.gateway = A("10.244.1.1");
  for (const Route& have : {other_dev, not_onlink, other_gw}) {
    RoutePlan plan = PlanRoutes({want}, {have});
    EXPECT_EQ(plan.replace, std::vector<Route>{want}) << have.ToString();
    EXPECT_TRUE(plan.remove.empty());
  }
}

TEST(PlanRoutes, OurRouteAtAnotherMetricIsRemoved) {
  Route want = Route::Via(N("10.244.1.0/24"), A("192.0.2.11"), 2);
  Route other_metric = want;
  other_metric.metric = 100;
  RoutePlan plan = PlanRoutes({want}, {other_metric});
  EXPECT_EQ(plan.replace, std::vector<Route>{want});
  EXPECT_EQ(plan.remove, std::vector<Route>{other_metric});
}

TEST(PlanNeighbours, ReplacesChangedAndRemovesStale) {
  auto mac1 = *net::Mac::Parse("42:08:00:00:00:01");
  auto mac2 = *net::Mac::Parse("42:08:00:00:00:02");
  kernel::Neighbour n1{A("10.244.1.0"), mac1, 5};
  kernel::Neighbour n1_new{A("10.244.1.0"), mac2, 5};
  kernel::Neighbour stale{A("10.244.3.0"), mac1, 5};
  kernel::Neighbour reachable = n1;
  reachable.state = 0x02;  // NUD_REACHABLE: learned, not ours
  auto plan = PlanNeighbours({n1_new}, {n1, stale});
  EXPECT_EQ(plan.replace, std::vector<kernel::Neighbour>{n1_new});
  EXPECT_EQ(plan.remove, std::vector<kernel::Neighbour>{stale});
  EXPECT_EQ(PlanNeighbours({n1}, {reachable}).replace, std::vector<kernel::Neighbour>{n1});
  EXPECT_TRUE(PlanNeighbours({n1}, {n1}).empty());
}

TEST(PlanFdb, MovedPeerLosesItsOldEntry) {
  auto mac = *net::Mac::Parse("42:08:00:00:00:01");
  auto old_mac = *net::Mac::Parse("42:08:00:00:00:09");
  kernel::FdbEntry want{mac, A("192.0.2.12"), 5};
  kernel::FdbEntry moved{mac, A("192.0.2.99"), 5};
  kernel::FdbEntry old_mac_entry{old_mac, A("192.0.2.12"), 5};
  auto plan = PlanFdb({want}, {moved, old_mac_entry});
  EXPECT_EQ(plan.replace, std::vector<kernel::FdbEntry>{want});
  EXPECT_EQ(plan.remove, (std::vector<kernel::FdbEntry>{moved, old_mac_entry}));
  EXPECT_TRUE(PlanFdb({want}, {want}).empty());
}

}  // namespace
}  // namespace tartan::agent
