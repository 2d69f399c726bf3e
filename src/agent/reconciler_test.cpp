#include "agent/reconciler.hpp"

#include <gtest/gtest.h>

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

TEST_F(ReconcilerTest, UnreadableKernelStateIsAnError) {
  Reconciler rec(rtnl_);
  rtnl_.FailNext("ListRoutes", Error::Unavailable("netlink: No buffer space available"));
  auto stats = rec.Apply({}, {});
  ASSERT_FALSE(stats.ok());
  EXPECT_NE(stats.error().message.find("reading the kernel's routes"), std::string::npos);
}

}  // namespace
}  // namespace tartan::agent
