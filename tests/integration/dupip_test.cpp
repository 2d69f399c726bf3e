// Telling a running holder of a lease from a gone one against real etcd (issue #10,
// docs/adr/0013), in both key spaces: the remaining TTL a holder's heartbeat resets, and two
// stores with one public IP -- the second refused while the first renews, the lease taken once
// it stops, a restart with the owner record reusing at once.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "fixtures/etcd_fixture.hpp"
#include "integration/etcd_suite.hpp"
#include "integration/integration_util.hpp"
#include "store/etcd2/client.hpp"
#include "store/etcd3/client.hpp"
#include "store/subnet_store.hpp"

namespace tartan::testing {
namespace {

using namespace std::chrono_literals;
using SteadyClock = std::chrono::steady_clock;

const char kNet[] = R"({"Network":"10.5.0.0/16","Backend":{"Type":"vxlan"}})";
constexpr auto kHeartbeat = 3s;

model::LeaseAttrs Attrs(const std::string& mac) { return VxlanAttrs("192.0.2.9", mac); }

store::AcquireRequest Guarded(const std::string& mac,
                              std::optional<store::OwnerRecord> owner = std::nullopt) {
  store::AcquireRequest r{Attrs(mac), std::nullopt};
  r.guard_shared_ip = true;
  r.owner = owner;
  return r;
}

class DupIpTest : public EtcdSuite<DupIpTest, ::testing::TestWithParam<bool /*v2*/>> {
 protected:
  static void SetUpTestSuite() { StartEtcd({.enable_v2 = true}); }
  std::string PrefixRoot() const override { return "/dupip/"; }
  std::shared_ptr<store::Registry> NewRegistry() {
    if (GetParam()) return Connect<store::etcd2::Client>();
    return Connect<store::etcd3::Client>();
  }
  std::unique_ptr<store::SubnetStore> NewStore(std::shared_ptr<store::Registry> reg) {
    auto o = FastOptions(prefix_, log_.Fn());
    o.heartbeat = kHeartbeat;
    return store::NewSubnetStore(std::move(reg), o);
  }
  std::string Key(const model::Lease& l) const { return EtcdSuite::Key(l.subnet.ToString()); }

  LogSink log_;
};

TEST_P(DupIpTest, RemainingTtlCountsDownAndARenewalResetsIt) {
  auto reg = NewRegistry();
  auto store = NewStore(reg);
  auto lease = store->AcquireLease(ParseConfig(kNet), Guarded("02:00:00:00:00:01"), {});
  ASSERT_TRUE(lease.ok()) << lease.error().message;
  auto kv = reg->Get(Key(*lease));
  ASSERT_TRUE(kv.ok() && *kv);
  EXPECT_EQ(reg->OwnerToken(**kv), lease->owner_token);
  auto ttl = reg->RemainingTtl(**kv);
  ASSERT_TRUE(ttl.ok() && *ttl) << (ttl.ok() ? "no ttl" : ttl.error().message);
  EXPECT_GT(**ttl, 86400s - 5s);
  std::chrono::seconds left{0};
  ASSERT_TRUE(WaitUntil([&] {
    auto t = reg->RemainingTtl(**kv);
    left = t.ok() && *t ? **t : 0s;
    return left > 0s && left <= 86400s - 2s;
  }));
  auto renewed = store->RenewLease(*lease);
  ASSERT_TRUE(renewed.ok()) << renewed.error().message;
  auto again = reg->Get(Key(*lease));
  ASSERT_TRUE(again.ok() && *again);
  EXPECT_EQ(reg->OwnerToken(**again), lease->owner_token) << "a renewal keeps the identity";
  auto after = reg->RemainingTtl(**again);
  ASSERT_TRUE(after.ok() && *after);
  EXPECT_GT(**after, left) << "the renewal reset the TTL";
}

TEST_P(DupIpTest, SecondHostWithOurIpIsRefusedWhileTheFirstRenewsThenTakesOver) {
  const auto cfg = ParseConfig(kNet);
  auto a = NewStore(NewRegistry());
  auto lease = a->AcquireLease(cfg, Guarded("02:00:00:00:00:0a"), {});
  ASSERT_TRUE(lease.ok()) << lease.error().message;
  std::stop_source a_stop;
  std::jthread keeper([&] {
    (void)store::KeepLeaseAlive(*a, *lease, 60min, a_stop.get_token(), {}, {}, {}, kHeartbeat);
  });

  auto b_reg = NewRegistry();
  auto b = NewStore(b_reg);
  auto refused = b->AcquireLease(cfg, Guarded("02:00:00:00:00:0b"), {});
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, Error::Code::kAlreadyExists) << refused.error().message;
  EXPECT_NE(refused.error().message.find("another host renews it"), std::string::npos);
  auto listing = b_reg->List(prefix_ + "/subnets/");
  ASSERT_TRUE(listing.ok());
  ASSERT_EQ(listing->kvs.size(), 1u) << "no second subnet for the same public IP";
  EXPECT_NE(listing->kvs[0].value.find("02:00:00:00:00:0a"), std::string::npos) << "A's value";

  // A restarts (same host, record kept): its lease at once, even while B is watching.
  a_stop.request_stop();
  keeper.join();
  auto a2 = NewStore(NewRegistry());
  const auto t_restart = SteadyClock::now();
  auto again = a2->AcquireLease(
      cfg, Guarded("02:00:00:00:00:0a", store::OwnerRecord{lease->subnet, lease->owner_token}), {});
  ASSERT_TRUE(again.ok()) << again.error().message;
  EXPECT_EQ(again->subnet, lease->subnet);
  EXPECT_LT(SteadyClock::now() - t_restart, 2s);

  // A stops for good (never renews again): B takes the subnet after the window.
  const auto stopped = SteadyClock::now();
  Result<model::Lease> taken = Error::Internal("not yet");
  ASSERT_TRUE(WaitUntil(
      [&] {
        taken = b->AcquireLease(cfg, Guarded("02:00:00:00:00:0b"), {});
        if (!taken.ok()) std::this_thread::sleep_for(1s);  // the agent's retry, shortened
        return taken.ok();
      },
      30s));
  EXPECT_EQ(taken->subnet, lease->subnet);
  EXPECT_LE(SteadyClock::now() - stopped, store::DupIpWindow(kHeartbeat) + 3s);
  EXPECT_TRUE(log_.Contains("its previous holder is gone"));
}

INSTANTIATE_TEST_SUITE_P(BothApis, DupIpTest, ::testing::Values(false, true),
                         [](const auto& info) { return info.param ? "v2" : "v3"; });

}  // namespace
}  // namespace tartan::testing
