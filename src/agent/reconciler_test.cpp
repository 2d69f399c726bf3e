#include "agent/reconciler.hpp"

#include <gtest/gtest.h>

#include <algorithm>

#include "kernel/fake_rtnl.hpp"

namespace tartan::agent {
namespace {

net::Ip4 A(const char* s) { return *net::Ip4::Parse(s); }
net::Ip4Net N(const char* s) { return *net::Ip4Net::Parse(s); }
net::Mac M(const char* s) { return *net::Mac::Parse(s); }

class ReconcilerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    kernel::Link eth0;
    eth0.name = "eth0";
    eth0.mtu = 1500;
    eth0_ = rtnl_.AddLinkForTest(eth0);
    ASSERT_TRUE(rtnl_.AddAddress({N("192.0.2.11/24"), eth0_}).ok());
    kernel::Link vx;
    vx.name = "flannel.1";
    vx.kind = "vxlan";
    vx_ = rtnl_.AddLinkForTest(vx);
  }
  std::vector<kernel::Route> Routes() { return *rtnl_.ListRoutes({}); }

  kernel::FakeRtnl rtnl_;
  int eth0_ = 0, vx_ = 0;
};

TEST_F(ReconcilerTest, ConvergesAndThenDoesNothing) {
  Reconciler rec(rtnl_);
  backend::DesiredState d;
  d.routes = {kernel::Route::Via(N("10.244.2.0/24"), A("192.0.2.12"), eth0_),
              kernel::Route::ViaOnlink(N("10.244.3.0/24"), A("10.244.3.0"), vx_)};
  d.neighbours = {{A("10.244.3.0"), M("42:00:00:00:00:03"), vx_}};
  d.fdb = {{M("42:00:00:00:00:03"), A("198.51.100.13"), vx_}};
  auto stats = rec.Apply(d, {vx_});
  ASSERT_TRUE(stats.ok()) << stats.error().message;
  EXPECT_EQ(stats->added, 4);
  EXPECT_EQ(stats->failed, 0);
  EXPECT_EQ(Routes().size(), 2u);
  EXPECT_EQ(*rtnl_.ListNeighbours(vx_), d.neighbours);
  EXPECT_EQ(*rtnl_.ListFdb(vx_), d.fdb);

  const int mutations = rtnl_.mutations();
  stats = rec.Apply(d, {vx_});
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->added + stats->repaired + stats->removed, 0);
  EXPECT_EQ(rtnl_.mutations(), mutations) << "a converged state costs no kernel writes";
}

TEST_F(ReconcilerTest, RepairsDeletedEntriesAndDropsStaleOnes) {
  Reconciler rec(rtnl_);
  backend::DesiredState d;
  d.routes = {kernel::Route::Via(N("10.244.2.0/24"), A("192.0.2.12"), eth0_)};
  d.neighbours = {{A("10.244.3.0"), M("42:00:00:00:00:03"), vx_}};
  ASSERT_TRUE(rec.Apply(d, {vx_}).ok());

  ASSERT_TRUE(rtnl_.DeleteRoute(d.routes[0]).ok());
  ASSERT_TRUE(rtnl_.ReplaceNeighbour({A("10.244.9.0"), M("42:00:00:00:00:09"), vx_}).ok());
  kernel::Route foreign = kernel::Route::Via(N("10.99.0.0/16"), A("192.0.2.1"), eth0_);
  foreign.protocol = kernel::kRouteProtocolBoot;
  ASSERT_TRUE(rtnl_.AddRoute(foreign).ok());

  auto stats = rec.Apply(d, {vx_});
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->added, 1);
  EXPECT_EQ(stats->removed, 1);
  EXPECT_EQ(*rtnl_.ListNeighbours(vx_), d.neighbours);
  auto routes = Routes();
  EXPECT_EQ(routes.size(), 2u);
  EXPECT_NE(std::find(routes.begin(), routes.end(), foreign), routes.end())
      << "a route tartan did not create stays";
}

TEST_F(ReconcilerTest, AFailedChangeIsCountedAndRetriedNextPass) {
  Reconciler rec(rtnl_);
  backend::DesiredState d;
  d.routes = {kernel::Route::Via(N("10.244.2.0/24"), A("192.0.2.12"), eth0_)};
  rtnl_.FailNext("ReplaceRoute", Error::Unavailable("Network is unreachable"));
  auto stats = rec.Apply(d, {});
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->failed, 1);
  EXPECT_TRUE(Routes().empty());
  stats = rec.Apply(d, {});
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->failed, 0);
  EXPECT_EQ(stats->added, 1);
}

size_t Count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

// A peer whose route would replace or shadow the host's own routes is not routed; the
// host's routes stay exactly as they were, and the problem is said once.
TEST_F(ReconcilerTest, RoutesOfOthersStayAndTheConflictIsSaidOnce) {
  kernel::Route dflt = kernel::Route::Via(N("0.0.0.0/0"), A("192.0.2.1"), eth0_);
  dflt.protocol = kernel::kRouteProtocolBoot;
  kernel::Route underlay = kernel::Route::Direct(N("192.0.2.0/24"), eth0_);
  underlay.protocol = kernel::kRouteProtocolKernel;
  kernel::Route by_hand = kernel::Route::Via(N("10.244.4.0/24"), A("192.0.2.99"), eth0_);
  by_hand.protocol = kernel::kRouteProtocolBoot;
  for (const auto& r : {dflt, underlay, by_hand}) ASSERT_TRUE(rtnl_.AddRoute(r).ok());
  const auto before = Routes();

  Reconciler rec(rtnl_);
  backend::DesiredState d;
  const kernel::Route good = kernel::Route::Via(N("10.244.2.0/24"), A("192.0.2.12"), eth0_);
  d.routes = {kernel::Route::Via(N("0.0.0.0/0"), A("192.0.2.12"), eth0_),
              kernel::Route::Via(N("192.0.2.0/24"), A("192.0.2.12"), eth0_),
              kernel::Route::Via(N("10.244.4.0/24"), A("192.0.2.14"), eth0_), good};
  ::testing::internal::CaptureStderr();
  for (int pass = 0; pass < 3; ++pass) {
    auto stats = rec.Apply(d, {});
    ASSERT_TRUE(stats.ok());
    EXPECT_EQ(stats->failed, 0);
  }
  const std::string log = ::testing::internal::GetCapturedStderr();
  std::vector<kernel::Route> want = before;
  want.push_back(good);
  std::sort(want.begin(), want.end());
  auto after = Routes();
  std::sort(after.begin(), after.end());
  EXPECT_EQ(after, want) << "only the peer route that collides with nothing was added";
  EXPECT_EQ(rec.problems().size(), 3u);
  EXPECT_EQ(Count(log,
                  " W route 0.0.0.0/0 via 192.0.2.12 dev eth0 not installed: the kernel has "
                  "0.0.0.0/0 via 192.0.2.1 dev eth0 proto boot"),
            1u)
      << log;
  EXPECT_EQ(Count(log,
                  " W route 192.0.2.0/24 via 192.0.2.12 dev eth0 not installed: it overlaps "
                  "192.0.2.0/24 dev eth0 proto kernel scope link"),
            1u)
      << log;
  EXPECT_EQ(Count(log, " W route 10.244.4.0/24"), 1u) << log;

  // The operator removes the route in the way: the peer is routed on the next pass.
  ASSERT_TRUE(rtnl_.DeleteRoute(by_hand).ok());
  auto stats = rec.Apply(d, {});
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->added, 1);
  EXPECT_EQ(rec.problems().size(), 2u);
}

// Migrating a host from flanneld: its route for the same peer is taken over by one in-place
// replace, never deleted first, so traffic never lacks a route.
TEST_F(ReconcilerTest, AdoptsFlanneldsRouteInPlace) {
  kernel::Route flannel = kernel::Route::Via(N("10.244.2.0/24"), A("192.0.2.12"), eth0_);
  flannel.protocol = kernel::kRouteProtocolBoot;
  ASSERT_TRUE(rtnl_.AddRoute(flannel).ok());
  const int mutations = rtnl_.mutations();
  Reconciler rec(rtnl_);
  backend::DesiredState d;
  d.routes = {kernel::Route::Via(N("10.244.2.0/24"), A("192.0.2.12"), eth0_)};
  ::testing::internal::CaptureStderr();
  auto stats = rec.Apply(d, {});
  const std::string log = ::testing::internal::GetCapturedStderr();
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->removed, 0);
  EXPECT_EQ(rtnl_.mutations(), mutations + 1) << "one replace, no delete";
  EXPECT_EQ(Routes(), d.routes) << "now marked as tartan's";
  EXPECT_TRUE(rec.problems().empty());
  EXPECT_NE(log.find("route adopted: 10.244.2.0/24 via 192.0.2.12 dev eth0 (was "),
            std::string::npos)
      << log;
  // From now on it is ours: when the peer leaves, it goes.
  stats = rec.Apply({}, {});
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->removed, 1);
  EXPECT_TRUE(Routes().empty());
}

TEST_F(ReconcilerTest, UnreadableKernelStateIsAnError) {
  Reconciler rec(rtnl_);
  rtnl_.FailNext("ListRoutes", Error::Unavailable("netlink: No buffer space available"));
  auto stats = rec.Apply({}, {});
  ASSERT_FALSE(stats.ok());
  EXPECT_NE(stats.error().message.find("reading the kernel's routes"), std::string::npos);
}

}  // namespace
}  // namespace tartan::agent
