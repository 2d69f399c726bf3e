// etcd wiped or restored from an older snapshot under a running lease watch (v3 and v2): the
// store goes back in revision (or is another cluster). The watch must notice it from response
// headers and list again at once, flagging the batch store_reset, instead of waiting silently
// until the new store reaches the old revision (docs/adr/0014).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <future>
#include <set>

#include "fixtures/etcd_fixture.hpp"
#include "integration/integration_util.hpp"
#include "store/etcd2/client.hpp"
#include "store/etcd3/client.hpp"
#include "store/subnet_store.hpp"

namespace tartan::testing {
namespace {

// Waits for `pending`, a Next() started before etcd was reset under the watch. When it does
// not come, stops the watch and shuts the client down so that the pending Next returns and the
// test ends.
// `*took`: how long it took to come.
bool ReadyWithin(std::future<Result<store::LeaseBatch>>& pending, std::stop_source& stop,
                 store::Registry& client, std::chrono::milliseconds* took = nullptr) {
  const auto start = std::chrono::steady_clock::now();
  const bool ready = pending.wait_for(std::chrono::seconds(15)) == std::future_status::ready;
  if (!ready) {
    stop.request_stop();
    client.Shutdown();
  }
  if (took != nullptr) {
    *took = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                                  start);
  }
  return ready;
}

// The watch's first batch: the listing, of `leases` leases.
void ExpectSnapshotOf(store::LeaseWatch& watch, size_t leases) {
  auto snap = watch.Next();
  ASSERT_TRUE(snap.ok()) << snap.error().message;
  ASSERT_EQ(snap->snapshot.size(), leases);
}

// A store under `prefix` and its lease watch, what the tests below reset etcd under.
struct Watched {
  Watched(std::shared_ptr<store::Registry> client, const std::string& prefix)
      : store(store::NewSubnetStore(std::move(client), FastOptions(prefix, log.Fn()))),
        watch(store->WatchLeases(stop.get_token())) {}
  LogSink log;
  std::unique_ptr<store::SubnetStore> store;
  std::stop_source stop;
  std::unique_ptr<store::LeaseWatch> watch;
};

// A one-member etcd with `options` and a client of it with 2 s per request.
template <typename Client>
void StartWithClient(const EtcdOptions& options, std::unique_ptr<EtcdCluster>* cluster,
                     std::shared_ptr<Client>* client) {
  auto c = EtcdCluster::Start(options);
  ASSERT_TRUE(c.ok()) << c.error().message;
  auto cl = Client::Create(OptionsFor(**c, std::chrono::seconds(2)));
  ASSERT_TRUE(cl.ok()) << cl.error().message;
  *cluster = std::move(c).value();
  *client = *cl;
}

TEST(EtcdReset, AWipedStoreIsListedAgainWithinSeconds) {
  auto cluster = EtcdCluster::Start();
  ASSERT_TRUE(cluster.ok()) << cluster.error().message;
  store::etcd3::ClientOptions o;
  o.endpoints = (*cluster)->Endpoints();
  auto client = store::etcd3::Client::Create(o);
  ASSERT_TRUE(client.ok()) << client.error().message;
  const std::string prefix = "/t/reset";
  auto key = [&](const std::string& seg) { return prefix + "/subnets/" + seg; };
  LogSink log;
  auto store = store::NewSubnetStore(*client, FastOptions(prefix, log.Fn()));
  // Enough writes that the old revision is well ahead of the wiped store's.
  for (int i = 1; i <= 3; ++i) {
    for (int round = 0; round < 3; ++round) {
      ASSERT_TRUE(
          (*client)
              ->Put(key("10.5." + std::to_string(i) + ".0-24"),
                    VxlanAttrs("192.0.2." + std::to_string(i), "02:00:00:00:00:01").ToJson())
              .ok());
    }
  }
  std::stop_source stop;
  auto watch = store->WatchLeases(stop.get_token());
  ASSERT_NO_FATAL_FAILURE(ExpectSnapshotOf(*watch, 3));

  auto pending = std::async(std::launch::async, [&] { return watch->Next(); });
  ASSERT_TRUE((*cluster)->Wipe(0).ok()) << (*cluster)->Logs();
  ASSERT_TRUE((*client)
                  ->Put(key("10.5.2.0-24"), VxlanAttrs("192.0.2.22", "02:00:00:00:00:01").ToJson())
                  .ok());
  ASSERT_TRUE(ReadyWithin(pending, stop, **client)) << "the watch did not notice the wiped store";
  auto b = pending.get();
  ASSERT_TRUE(b.ok()) << b.error().message;
  // The re-list may run before or after the new store's first write: both are right, as long
  // as the removals come at once and the rewrite follows.
  std::set<std::string> removed;
  bool rewritten = false;
  for (int batches = 0; batches < 2 && !rewritten; ++batches) {
    if (batches > 0) {
      auto more = std::async(std::launch::async, [&] { return watch->Next(); });
      ASSERT_EQ(more.wait_for(std::chrono::seconds(15)), std::future_status::ready);
      b = more.get();
      ASSERT_TRUE(b.ok()) << b.error().message;
    }
    for (const auto& e : b->events) {
      if (e.type == store::LeaseEvent::Type::kRemoved) removed.insert(e.lease.subnet.ToString());
      if (e.type != store::LeaseEvent::Type::kRemoved && e.lease.subnet.ToString() == "10.5.2.0-24")
        rewritten = e.lease.attrs.public_ip->ToString() == "192.0.2.22";
    }
  }
  EXPECT_TRUE(removed.count("10.5.1.0-24"));
  EXPECT_TRUE(removed.count("10.5.3.0-24"));
  EXPECT_TRUE(rewritten);
  EXPECT_TRUE(log.Contains("restored from a backup or wiped"));
  stop.request_stop();
}

// What the tests below read from a lease watch: the next batch within `timeout`, or an error.
Result<store::LeaseBatch> NextWithin(store::LeaseWatch& watch, std::stop_source& stop,
                                     std::chrono::seconds timeout) {
  auto pending = std::async(std::launch::async, [&] { return watch.Next(); });
  if (pending.wait_for(timeout) != std::future_status::ready) {
    stop.request_stop();  // lets the pending Next return, so the test ends
    (void)pending.get();
    return Error::Unavailable("no batch within " + std::to_string(timeout.count()) + " s");
  }
  return pending.get();
}

std::vector<std::string> Describe(const store::LeaseBatch& b) {
  std::vector<std::string> out;
  for (const auto& e : b.events) {
    const char* t = e.type == store::LeaseEvent::Type::kAdded     ? "+ "
                    : e.type == store::LeaseEvent::Type::kChanged ? "~ "
                                                                  : "- ";
    out.push_back(t + e.lease.subnet.ToString() + " " + e.lease.attrs.public_ip->ToString());
  }
  std::sort(out.begin(), out.end());
  return out;
}

using V = std::vector<std::string>;

// etcdctl snapshot save, more changes, etcdctl snapshot restore with the cluster's own flags
// (so the same cluster ID): only the revision going back tells. The restored store is listed
// again within seconds of etcd answering, and only what differs is reported.
TEST(EtcdReset, ARestoredSnapshotIsListedAgainWithinSeconds) {
  std::unique_ptr<EtcdCluster> cluster;
  std::shared_ptr<store::etcd3::Client> client;
  ASSERT_NO_FATAL_FAILURE(StartWithClient({}, &cluster, &client));
  const std::string prefix = "/t/restore";
  auto key = [&](const std::string& seg) { return prefix + "/subnets/" + seg; };
  auto put = [&](const std::string& seg, const std::string& ip) {
    return client->Put(key(seg), VxlanAttrs(ip, "02:00:00:00:00:01").ToJson()).ok();
  };
  ASSERT_TRUE(client->Put(prefix + "/config", R"({"Network":"10.5.0.0/16"})").ok());
  ASSERT_TRUE(put("10.5.1.0-24", "192.0.2.1"));
  ASSERT_TRUE(put("10.5.2.0-24", "192.0.2.2"));
  const std::string backup = cluster->dir() + "/backup.db";
  ASSERT_TRUE(cluster->Etcdctl({"snapshot", "save", backup}).ok());
  ASSERT_TRUE(put("10.5.3.0-24", "192.0.2.3"));
  ASSERT_TRUE(put("10.5.2.0-24", "192.0.2.22"));
  ASSERT_TRUE(put("10.5.2.0-24", "192.0.2.23"));

  Watched w(client, prefix);
  ASSERT_NO_FATAL_FAILURE(ExpectSnapshotOf(*w.watch, 3));

  auto pending = std::async(std::launch::async, [&] { return w.watch->Next(); });
  ASSERT_TRUE(cluster->RestoreSnapshot(0, backup).ok()) << cluster->Logs();
  std::chrono::milliseconds delay{0};  // from etcd answering again
  ASSERT_TRUE(ReadyWithin(pending, w.stop, *client, &delay))
      << "the watch did not notice the restored store";
  auto b = pending.get();
  ASSERT_TRUE(b.ok()) << b.error().message;
  EXPECT_TRUE(b->store_reset);
  EXPECT_EQ(Describe(*b), (V{"- 10.5.3.0-24 192.0.2.3", "~ 10.5.2.0-24 192.0.2.2"}));
  EXPECT_TRUE(w.log.Contains("behind revision")) << "expected the revision to tell";
  EXPECT_LT(delay, std::chrono::seconds(5));
  std::printf("restore noticed and listed again %lld ms after etcd answered\n",
              static_cast<long long>(delay.count()));
  // The watch goes on in the restored store.
  ASSERT_TRUE(put("10.5.4.0-24", "192.0.2.4"));
  b = NextWithin(*w.watch, w.stop, std::chrono::seconds(10));
  ASSERT_TRUE(b.ok()) << b.error().message;
  EXPECT_FALSE(b->store_reset);
  EXPECT_EQ(Describe(*b), (V{"+ 10.5.4.0-24 192.0.2.4"}));
  w.stop.request_stop();
}

// The same snapshot restored under another cluster token: another cluster ID. Told apart by
// the ID even though nothing else differs.
TEST(EtcdReset, AnotherClusterIdIsAReset) {
  std::unique_ptr<EtcdCluster> cluster;
  std::shared_ptr<store::etcd3::Client> client;
  ASSERT_NO_FATAL_FAILURE(StartWithClient({}, &cluster, &client));
  const std::string prefix = "/t/cid";
  ASSERT_TRUE(client->Put(prefix + "/config", R"({"Network":"10.5.0.0/16"})").ok());
  ASSERT_TRUE(client
                  ->Put(prefix + "/subnets/10.5.1.0-24",
                        VxlanAttrs("192.0.2.1", "02:00:00:00:00:01").ToJson())
                  .ok());
  const std::string backup = cluster->dir() + "/backup.db";
  ASSERT_TRUE(cluster->Etcdctl({"snapshot", "save", backup}).ok());
  auto before = client->Probe(prefix + "/config");
  ASSERT_TRUE(before.ok()) << before.error().message;
  ASSERT_FALSE(before->cluster_id.empty());

  Watched w(client, prefix);
  ASSERT_TRUE(w.watch->Next().ok());
  auto pending = std::async(std::launch::async, [&] { return w.watch->Next(); });
  ASSERT_TRUE(cluster->RestoreSnapshot(0, backup, "another-cluster").ok()) << cluster->Logs();
  ASSERT_TRUE(ReadyWithin(pending, w.stop, *client))
      << "the watch did not notice the other cluster";
  auto b = pending.get();
  ASSERT_TRUE(b.ok()) << b.error().message;
  EXPECT_TRUE(b->store_reset);
  EXPECT_TRUE(b->events.empty()) << "nothing differs but the cluster";
  auto after = client->Probe(prefix + "/config");
  ASSERT_TRUE(after.ok());
  EXPECT_NE(after->cluster_id, before->cluster_id);
  EXPECT_TRUE(w.log.Contains("cluster ID changed from " + before->cluster_id));
  w.stop.request_stop();
}

// etcd v2 (--enable-v2) wiped under a running long-poll: the poll breaks with the restart and
// the look at the store when it answers again (X-Etcd-Index) finds it behind.
TEST(EtcdReset, V2AWipedStoreIsListedAgainWithinSeconds) {
  std::unique_ptr<EtcdCluster> cluster;
  std::shared_ptr<store::etcd2::Client> client;
  ASSERT_NO_FATAL_FAILURE(StartWithClient({.enable_v2 = true}, &cluster, &client));
  const std::string prefix = "/coreos.com/network";
  auto key = [&](const std::string& seg) { return prefix + "/subnets/" + seg; };
  auto set = [&](const std::string& seg, const std::string& ip) {
    return client
        ->Set(key(seg), VxlanAttrs(ip, "02:00:00:00:00:01").ToJson(), std::chrono::seconds(600))
        .ok();
  };
  ASSERT_TRUE(client->Set(prefix + "/config", R"({"Network":"10.5.0.0/16"})").ok());
  for (int round = 0; round < 3; ++round) {
    ASSERT_TRUE(set("10.5.1.0-24", "192.0.2.1"));
    ASSERT_TRUE(set("10.5.2.0-24", "192.0.2.2"));
    ASSERT_TRUE(set("10.5.3.0-24", "192.0.2.3"));
  }
  Watched w(client, prefix);
  ASSERT_NO_FATAL_FAILURE(ExpectSnapshotOf(*w.watch, 3));

  auto pending = std::async(std::launch::async, [&] { return w.watch->Next(); });
  ASSERT_TRUE(cluster->Wipe(0).ok()) << cluster->Logs();
  std::chrono::milliseconds delay{0};  // from etcd answering again
  ASSERT_TRUE(ReadyWithin(pending, w.stop, *client, &delay))
      << "the v2 watch did not notice the wiped store";
  auto b = pending.get();
  ASSERT_TRUE(b.ok()) << b.error().message;
  EXPECT_TRUE(b->store_reset);
  EXPECT_EQ(Describe(*b),
            (V{"- 10.5.1.0-24 192.0.2.1", "- 10.5.2.0-24 192.0.2.2", "- 10.5.3.0-24 192.0.2.3"}));
  // And the watch goes on in the new store.
  ASSERT_TRUE(client->Set(prefix + "/config", R"({"Network":"10.5.0.0/16"})").ok());
  ASSERT_TRUE(set("10.5.2.0-24", "192.0.2.22"));
  b = NextWithin(*w.watch, w.stop, std::chrono::seconds(10));
  ASSERT_TRUE(b.ok()) << b.error().message;
  EXPECT_FALSE(b->store_reset);
  EXPECT_EQ(Describe(*b), (V{"+ 10.5.2.0-24 192.0.2.22"}));
  EXPECT_TRUE(w.log.Contains("restored from a backup or wiped"));
  EXPECT_LT(delay, std::chrono::seconds(5));
  std::printf("v2 wipe noticed and listed again %lld ms after etcd answered\n",
              static_cast<long long>(delay.count()));
  w.stop.request_stop();
}

// A v2 long-poll that sits idle is bounded: the probe between polls sees the store, and an
// idle watch still delivers the next event (no event lost between bounded polls).
TEST(EtcdReset, V2IdleWatchStillDeliversEvents) {
  std::unique_ptr<EtcdCluster> cluster;
  std::shared_ptr<store::etcd2::Client> client;
  ASSERT_NO_FATAL_FAILURE(StartWithClient({.enable_v2 = true}, &cluster, &client));
  const std::string prefix = "/coreos.com/network";
  ASSERT_TRUE(client->Set(prefix + "/config", R"({"Network":"10.5.0.0/16"})").ok());
  LogSink log;
  auto options = FastOptions(prefix, log.Fn());
  options.store_check = std::chrono::milliseconds(100);
  auto store = store::NewSubnetStore(client, options);
  std::stop_source stop;
  auto watch = store->WatchLeases(stop.get_token());
  ASSERT_TRUE(watch->Next().ok());
  auto pending = std::async(std::launch::async, [&] { return watch->Next(); });
  ASSERT_EQ(pending.wait_for(std::chrono::milliseconds(700)), std::future_status::timeout);
  ASSERT_TRUE(client
                  ->Set(prefix + "/subnets/10.5.7.0-24",
                        VxlanAttrs("192.0.2.7", "02:00:00:00:00:01").ToJson(),
                        std::chrono::seconds(600))
                  .ok());
  ASSERT_EQ(pending.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  auto b = pending.get();
  ASSERT_TRUE(b.ok()) << b.error().message;
  EXPECT_FALSE(b->store_reset);
  EXPECT_EQ(Describe(*b), (V{"+ 10.5.7.0-24 192.0.2.7"}));
  EXPECT_FALSE(log.Contains("wiped"));
  stop.request_stop();
}

}  // namespace
}  // namespace tartan::testing
