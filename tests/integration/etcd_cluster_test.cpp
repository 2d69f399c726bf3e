// Failover: a 3-member etcd loses the member tartan talks to; watch and renewal carry on. A
// member restarted between calls. The v3 API; etcd2_cluster_test.cpp runs the same on v2.
#include <gtest/gtest.h>

#include "integration/cluster_scenarios.hpp"

namespace tartan::testing {
namespace {

TEST(EtcdMember, RestartBetweenCallsIsTransparentAndEndsTheWatch) {
  RestartBetweenCallsIsTransparentAndEndsTheWatch<V3>();
}

TEST(EtcdCluster, WatchAndRenewalSurviveTheLossOfTheMemberInUse) {
  WatchAndRenewalSurviveTheLossOfTheMemberInUse<V3>();
}

}  // namespace
}  // namespace tartan::testing
