// The etcd v2 store on a 3-member etcd that loses the member tartan talks to, and on a member
// restarted between calls.
#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <set>

#include "fixtures/etcd_fixture.hpp"
#include "integration/integration_util.hpp"
#include "store/etcd2/client.hpp"

namespace tartan::testing {
namespace {

using store::etcd2::Client;
using store::etcd2::ClientOptions;

TEST(Etcd2Member, RestartBetweenCallsIsTransparentAndEndsTheWatch) {
  for (bool tls : {false, true}) {
    SCOPED_TRACE(tls ? "https" : "http");
    auto cluster = EtcdCluster::Start({.tls = tls, .enable_v2 = true});
    ASSERT_TRUE(cluster.ok()) << cluster.error().message;
    auto& c = **cluster;
    auto client = Client::Create(OptionsFor(c, std::chrono::milliseconds(3000)));
    ASSERT_TRUE(client.ok()) << client.error().message;
    auto set = (*client)->Set("/coreos.com/network/config", "before");
    ASSERT_TRUE(set.ok()) << set.error().message;
    auto watch = (*client)->Watch("/coreos.com/network/", *set + 1);
    ASSERT_TRUE(watch.ok()) << watch.error().message;
    auto pending = std::async(std::launch::async, [&] { return (*watch)->Next(); });

    ASSERT_TRUE(c.Restart(0).ok()) << c.Logs();

    auto got = (*client)->Get("/coreos.com/network/config");
    ASSERT_TRUE(got.ok()) << got.error().message;
    ASSERT_TRUE(got->has_value());
    EXPECT_EQ((*got)->value, "before");

    ASSERT_EQ(pending.wait_for(std::chrono::seconds(10)), std::future_status::ready)
        << "the watch on the restarted member hangs";
    auto ended = pending.get();
    ASSERT_FALSE(ended.ok());
    EXPECT_EQ(ended.error().code, Error::Code::kUnavailable) << ended.error().message;
  }
}

TEST(Etcd2Cluster, WatchAndRenewalSurviveTheLossOfTheMemberInUse) {
  auto cluster = EtcdCluster::Start({.members = 3, .enable_v2 = true});
  ASSERT_TRUE(cluster.ok()) << cluster.error().message;
  auto& c = **cluster;
  const std::string prefix = "/coreos.com/network";

  ClientOptions o;
  o.endpoints = c.Endpoints();
  o.request_timeout = std::chrono::milliseconds(2000);
  auto client = Client::Create(o);
  ASSERT_TRUE(client.ok());
  LogSink log;
  auto store = store::NewSubnetStore(*client, FastOptions(prefix, log.Fn()));

  const auto cfg = ParseConfig(R"({"Network":"10.5.0.0/16","Backend":{"Type":"vxlan"}})");
  store::AcquireRequest req{VxlanAttrs("192.0.2.1", "02:00:00:00:00:01"), std::nullopt,
                            std::chrono::seconds(4)};
  auto lease = store->AcquireLease(cfg, req, {});
  ASSERT_TRUE(lease.ok()) << lease.error().message;

  std::stop_source stop;
  std::atomic<int> renewals{0};
  auto keeper = std::async(std::launch::async, [&] {
    return store::KeepLeaseAlive(*store, *lease, std::chrono::seconds(3), stop.get_token(),
                                 [&](const model::Lease&) { ++renewals; });
  });
  std::mutex seen_mu;
  std::set<std::string> added;
  auto watch = store->WatchLeases(stop.get_token());
  auto watcher = std::async(std::launch::async, [&] {
    while (true) {
      auto b = watch->Next();
      if (!b) return b.error();
      std::lock_guard lock(seen_mu);
      for (const auto& l : b->snapshot) added.insert(l.subnet.ToString());
      for (const auto& e : b->events) {
        if (e.type != store::LeaseEvent::Type::kRemoved) added.insert(e.lease.subnet.ToString());
      }
    }
  });
  auto seen = [&](const std::string& s) {
    std::lock_guard lock(seen_mu);
    return added.contains(s);
  };
  ASSERT_TRUE(WaitUntil([&] { return seen(lease->subnet.ToString()); }));
  ASSERT_TRUE(WaitUntil([&] { return renewals >= 1; }));

  // Kill the member our client talks to.
  const std::string in_use = (*client)->CurrentEndpoint();
  int victim = -1;
  for (int i = 0; i < c.size(); ++i) {
    if (c.ClientUrl(i) == in_use) victim = i;
  }
  ASSERT_GE(victim, 0) << in_use;
  c.Kill(victim);
  const int renewals_at_kill = renewals;

  // A peer writes through a surviving member; our watch must see it within seconds.
  ClientOptions other;
  other.endpoints = c.ClientUrl((victim + 1) % 3);
  auto writer = Client::Create(other);
  ASSERT_TRUE(writer.ok());
  ASSERT_TRUE(WaitUntil([&] {
    return (*writer)
        ->Set(prefix + "/subnets/10.5.99.0-24",
              VxlanAttrs("192.0.2.99", "02:00:00:00:00:99").ToJson(model::LeaseShape::kV011),
              std::chrono::seconds(600))
        .ok();
  }));
  EXPECT_TRUE(WaitUntil([&] { return seen("10.5.99.0-24"); }, std::chrono::seconds(10)))
      << c.Logs();
  // Renewal continues (every ~1 s with a 4 s TTL and 3 s margin) through another member, and
  // the key survives longer than its TTL, still the one we created.
  EXPECT_TRUE(
      WaitUntil([&] { return renewals >= renewals_at_kill + 3; }, std::chrono::seconds(15)));
  auto node = (*writer)->GetNode(prefix + "/subnets/" + lease->subnet.ToString());
  ASSERT_TRUE(node.ok() && *node);
  EXPECT_EQ((*node)->created_index, lease->revision);
  EXPECT_NE((*client)->CurrentEndpoint(), in_use);

  stop.request_stop();
  ASSERT_EQ(watcher.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  EXPECT_EQ(watcher.get().code, Error::Code::kCancelled);
  ASSERT_EQ(keeper.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  EXPECT_EQ(keeper.get().error().code, Error::Code::kCancelled);
}

}  // namespace
}  // namespace tartan::testing
