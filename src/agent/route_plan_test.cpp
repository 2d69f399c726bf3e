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

TEST(PlanRoutes, RepairsARouteChangedByHand) {
  Route want = Route::Via(N("10.244.1.0/24"), A("192.0.2.11"), 2);
  Route changed = Foreign(Route::Via(N("10.244.1.0/24"), A("192.0.2.99"), 2));
  RoutePlan plan = PlanRoutes({want}, {changed});
  EXPECT_EQ(plan.replace, std::vector<Route>{want});
  EXPECT_TRUE(plan.remove.empty()) << "a foreign route is overwritten, never deleted";
}

TEST(PlanRoutes, NeverDeletesRoutesItDidNotCreate) {
  std::vector<Route> actual = {
      Foreign(Route::Via(N("0.0.0.0/0"), A("192.0.2.1"), 2)),
      Foreign(Route::Direct(N("192.0.2.0/24"), 2), kernel::kRouteProtocolKernel),
      Foreign(Route::Via(N("10.244.9.0/24"), A("192.0.2.19"), 2)),  // flanneld's leftover
  };
  EXPECT_TRUE(PlanRoutes({}, actual).empty());
}

TEST(PlanRoutes, AdoptsAnIdenticalRouteOnlyWhenItIsMarkedOurs) {
  Route want = Route::Via(N("10.244.1.0/24"), A("192.0.2.11"), 2);
  // Same path but installed by flanneld (proto boot): replaced so that it is marked ours and
  // cleaned up when the peer leaves.
  RoutePlan plan = PlanRoutes({want}, {Foreign(want)});
  EXPECT_EQ(plan.replace, std::vector<Route>{want});
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
