// The etcd v2 store on a 3-member etcd that loses the member tartan talks to, and on a member
// restarted between calls: the scenarios of etcd_cluster_test.cpp on the v2 API.
#include <gtest/gtest.h>

#include "integration/cluster_scenarios.hpp"

namespace tartan::testing {
namespace {

TEST(Etcd2Member, RestartBetweenCallsIsTransparentAndEndsTheWatch) {
  RestartBetweenCallsIsTransparentAndEndsTheWatch<V2>();
}

TEST(Etcd2Cluster, WatchAndRenewalSurviveTheLossOfTheMemberInUse) {
  WatchAndRenewalSurviveTheLossOfTheMemberInUse<V2>();
}

}  // namespace
}  // namespace tartan::testing
