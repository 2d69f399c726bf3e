// --ip-blackhole-route: the own-subnet blackhole is a route tartan owns beside the pod bridge's
// connected route, planned and reconciled like any other.
#include <gtest/gtest.h>

#include "agent/reconciler.hpp"
#include "agent/route_plan.hpp"
#include "kernel/fake_rtnl.hpp"

namespace tartan::agent {
namespace {

using kernel::Route;

net::Ip4Net N(const char* s) { return *net::Ip4Net::Parse(s); }

// cni0's route for the subnet, as the kernel adds it for the bridge's address.
Route Connected(int cni0) {
  Route r = Route::Direct(N("10.244.7.0/24"), cni0);
  r.protocol = kernel::kRouteProtocolKernel;
  return r;
}

TEST(BlackholeRoute, SitsBesideTheConnectedRouteAndNeverReplacesIt) {
  const Route blackhole = Route::Blackhole(N("10.244.7.0/24"), 1000000);
  const Route connected = Connected(3);
  RoutePlan plan = PlanRoutes({blackhole}, {connected});
  EXPECT_EQ(plan.replace, std::vector<Route>{blackhole});
  EXPECT_TRUE(plan.remove.empty());
  EXPECT_TRUE(PlanRoutes({blackhole}, {connected, blackhole}).empty());
  // A unicast route of ours at the blackhole's place is not it.
  Route unicast = blackhole;
  unicast.type = kernel::kRouteTypeUnicast;
  EXPECT_EQ(PlanRoutes({blackhole}, {unicast}).replace, std::vector<Route>{blackhole});
  // Turned off (a restart without the flag): ours, so it goes; the bridge's route stays.
  plan = PlanRoutes({}, {connected, blackhole});
  EXPECT_EQ(plan.remove, std::vector<Route>{blackhole});
}

TEST(BlackholeRoute, ReconciledOnceThenLeftAlone) {
  kernel::FakeRtnl rtnl;
  kernel::Link cni0;
  cni0.name = "cni0";
  cni0.mtu = 1500;
  const int cni0_index = rtnl.AddLinkForTest(cni0);
  ASSERT_TRUE(rtnl.AddRoute(Connected(cni0_index)).ok());

  Reconciler rec(rtnl);
  backend::DesiredState d;
  d.routes = {Route::Blackhole(N("10.244.7.0/24"), 1000000)};
  auto stats = rec.Apply(d, {});
  ASSERT_TRUE(stats.ok()) << stats.error().message;
  EXPECT_EQ(stats->added, 1);
  EXPECT_EQ(stats->repaired, 0) << "the bridge's route is not the one replaced";
  auto routes = rtnl.ListRoutes({});
  ASSERT_TRUE(routes.ok());
  EXPECT_EQ(routes->size(), 2u);

  const int mutations = rtnl.mutations();
  stats = rec.Apply(d, {});
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(rtnl.mutations(), mutations);
}

}  // namespace
}  // namespace tartan::agent
