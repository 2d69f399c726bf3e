// Member restarts and failover, one scenario for both etcd APIs: `Api` (V3 or V2 below) says
// what differs between etcd3::Client and etcd2::Client, the scenario is the same.
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <functional>
#include <future>
#include <mutex>
#include <set>
#include <string>

#include "fixtures/etcd_fixture.hpp"
#include "integration/integration_util.hpp"
#include "store/etcd2/client.hpp"
#include "store/etcd3/client.hpp"

namespace tartan::testing {

struct V3 {
  using Client = store::etcd3::Client;
  static EtcdOptions Cluster(EtcdOptions o) { return o; }
  // The watch stream is opened by Watch(): a Next() after the restart reads the broken one.
  static constexpr bool kNextBeforeRestart = false;
  static Result<int64_t> Write(Client& c, const std::string& key, const std::string& value) {
    return c.Put(key, value);
  }
  // A peer's lease as flanneld v0.20 writes it (on an etcd lease of its own, none here).
  static Result<int64_t> WritePeerLease(Client& c, const std::string& key,
                                        const model::LeaseAttrs& a) {
    return c.Put(key, a.ToJson());
  }
  static void ExpectKeyHeld(Client& c, const std::string& key, const model::Lease&) {
    auto kv = c.Get(key);
    ASSERT_TRUE(kv.ok() && *kv);
  }
};

struct V2 {
  using Client = store::etcd2::Client;
  static EtcdOptions Cluster(EtcdOptions o) {
    o.enable_v2 = true;
    return o;
  }
  // The watch is a long-poll that Next() opens: it must be open when the member restarts.
  static constexpr bool kNextBeforeRestart = true;
  static Result<int64_t> Write(Client& c, const std::string& key, const std::string& value) {
    return c.Set(key, value);
  }
  // A peer's lease as flanneld v0.11 writes it: its shape, with a TTL.
  static Result<int64_t> WritePeerLease(Client& c, const std::string& key,
                                        const model::LeaseAttrs& a) {
    return c.Set(key, a.ToJson(model::LeaseShape::kV011), std::chrono::seconds(600));
  }
  // Still the key we created (refreshed in place, never re-created by someone else).
  static void ExpectKeyHeld(Client& c, const std::string& key, const model::Lease& lease) {
    auto node = c.GetNode(key);
    ASSERT_TRUE(node.ok() && *node);
    EXPECT_EQ((*node)->created_index, lease.revision);
  }
};

// The client keeps a connection alive between calls. A member restarted meanwhile has closed
// it: the next call must go through on a fresh connection (one member: there is nowhere else
// to fail over to), and an open watch must end with an error rather than hang.
template <typename Api>
void RestartBetweenCallsIsTransparentAndEndsTheWatch() {
  for (bool tls : {false, true}) {
    SCOPED_TRACE(tls ? "https" : "http");
    auto cluster = EtcdCluster::Start(Api::Cluster({.tls = tls}));
    ASSERT_TRUE(cluster.ok()) << cluster.error().message;
    auto& c = **cluster;
    auto client = Api::Client::Create(OptionsFor(c, std::chrono::milliseconds(3000)));
    ASSERT_TRUE(client.ok()) << client.error().message;
    auto put = Api::Write(**client, "/coreos.com/network/config", "before");
    ASSERT_TRUE(put.ok()) << put.error().message;
    auto watch = (*client)->Watch("/coreos.com/network/", *put + 1);
    ASSERT_TRUE(watch.ok()) << watch.error().message;
    std::future<Result<store::WatchBatch>> pending;
    auto next = [&] { return std::async(std::launch::async, [&] { return (*watch)->Next(); }); };
    if (Api::kNextBeforeRestart) pending = next();

    ASSERT_TRUE(c.Restart(0).ok()) << c.Logs();

    auto got = (*client)->Get("/coreos.com/network/config");
    ASSERT_TRUE(got.ok()) << got.error().message;
    ASSERT_TRUE(got->has_value());
    EXPECT_EQ((*got)->value, "before");

    if (!Api::kNextBeforeRestart) pending = next();
    ASSERT_EQ(pending.wait_for(std::chrono::seconds(10)), std::future_status::ready)
        << "the watch on the restarted member hangs";
    auto ended = pending.get();
    ASSERT_FALSE(ended.ok());
    EXPECT_EQ(ended.error().code, Error::Code::kUnavailable) << ended.error().message;
  }
}

// Failover: a 3-member etcd loses the member tartan talks to; watch and renewal carry on.
template <typename Api>
void WatchAndRenewalSurviveTheLossOfTheMemberInUse() {
  using Client = typename Api::Client;
  auto cluster = EtcdCluster::Start(Api::Cluster({.members = 3}));
  ASSERT_TRUE(cluster.ok()) << cluster.error().message;
  auto& c = **cluster;
  const std::string prefix = "/coreos.com/network";

  store::etcd_http::ClientOptions o;
  o.endpoints = c.Endpoints();
  o.request_timeout = std::chrono::milliseconds(2000);
  auto client = Client::Create(o);
  ASSERT_TRUE(client.ok());
  LogSink log;
  auto store = store::NewSubnetStore(*client, FastOptions(prefix, log.Fn()));

  const auto cfg = ParseConfig(R"({"Network":"10.5.0.0/16","Backend":{"Type":"vxlan"}})");
  store::AcquireRequest req{VxlanAttrs("192.0.2.1", "02:00:00:00:00:01"), std::nullopt,
                            std::chrono::seconds(8)};
  auto lease = store->AcquireLease(cfg, req, {});
  ASSERT_TRUE(lease.ok()) << lease.error().message;

  std::stop_source stop;
  std::atomic<int> renewals{0};
  auto keeper = std::async(std::launch::async, [&] {
    return store::KeepLeaseAlive(*store, *lease, std::chrono::seconds(6), stop.get_token(),
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
  store::etcd_http::ClientOptions other;
  other.endpoints = c.ClientUrl((victim + 1) % 3);
  auto writer = Client::Create(other);
  ASSERT_TRUE(writer.ok());
  ASSERT_TRUE(WaitUntil([&] {
    return Api::WritePeerLease(**writer, prefix + "/subnets/10.5.99.0-24",
                               VxlanAttrs("192.0.2.99", "02:00:00:00:00:99"))
        .ok();
  }));
  EXPECT_TRUE(WaitUntil([&] { return seen("10.5.99.0-24"); }, std::chrono::seconds(10)))
      << c.Logs();
  // Renewal continues (every ~2 s with an 8 s TTL and 6 s margin) through another member, and
  // the key is still held. The TTL leaves the failover (a new leader, the client moving to
  // another member) 6 s before the key would expire: with 4 s it expired once in 17 runs on
  // a loaded 2-core machine.
  EXPECT_TRUE(
      WaitUntil([&] { return renewals >= renewals_at_kill + 3; }, std::chrono::seconds(15)));
  ASSERT_NO_FATAL_FAILURE(
      Api::ExpectKeyHeld(**writer, prefix + "/subnets/" + lease->subnet.ToString(), *lease));
  EXPECT_NE((*client)->CurrentEndpoint(), in_use);

  stop.request_stop();
  ASSERT_EQ(watcher.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  EXPECT_EQ(watcher.get().code, Error::Code::kCancelled);
  ASSERT_EQ(keeper.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  EXPECT_EQ(keeper.get().error().code, Error::Code::kCancelled);
}

// Against etcd with TLS and client certificates, a client with the right CA and certificate
// writes `value` as the config (and `then` goes on with it); with a wrong CA or without a
// certificate it is refused, and the error names the endpoint. `after` has the cluster last.
template <typename Api>
void TlsWorksOnlyWithTheRightCaAndCertificate(
    const std::string& value,
    const std::function<void(const std::shared_ptr<typename Api::Client>&)>& then,
    const std::function<void(const EtcdCluster&)>& after = [](const EtcdCluster&) {}) {
  auto cluster = EtcdCluster::Start(Api::Cluster({.tls = true}));
  ASSERT_TRUE(cluster.ok()) << cluster.error().message;
  auto& c = **cluster;
  ASSERT_EQ(c.Endpoints().rfind("https://", 0), 0u);
  for (const TlsCase& k : TlsCases(c)) {
    auto client = Api::Client::Create(k.options);
    ASSERT_TRUE(client.ok()) << k.name << ": " << client.error().message;
    auto put = Api::Write(**client, "/coreos.com/network/config", value);
    if (k.works) {
      ASSERT_TRUE(put.ok()) << k.name << ": " << put.error().message;
      ASSERT_NO_FATAL_FAILURE(then(*client)) << k.name;
    } else {
      ASSERT_FALSE(put.ok()) << k.name;
      EXPECT_NE(put.error().message.find(c.Endpoints()), std::string::npos)
          << k.name << ": " << put.error().message;
    }
  }
  after(c);
}

}  // namespace tartan::testing
