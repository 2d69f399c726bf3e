// A stopping agent must not wait for the deadline of a call to a member that accepted the
// connection but never answers (a hung etcd): Client::Shutdown() cancels calls in flight.
#include <gtest/gtest.h>

#include "integration/hung_member.hpp"
#include "store/etcd3/client.hpp"

namespace tartan::testing {
namespace {

TEST(EtcdClientShutdown, CancelsACallToAHungMemberAndRefusesLaterOnes) {
  std::shared_ptr<store::etcd3::Client> client;
  ShutdownCancelsACallToAHungMemberAndRefusesLaterOnes(&client);
}

}  // namespace
}  // namespace tartan::testing
