// etcd wiped under a running lease watch (v3): the store starts again at revision 1, far
// behind where the watch was. The watch must notice it from the "created" header and list
// again at once, instead of waiting silently until the new store reaches the old revision.
#include <gtest/gtest.h>

#include <algorithm>
#include <future>
#include <set>

#include "fixtures/etcd_fixture.hpp"
#include "integration/integration_util.hpp"
#include "store/etcd3/client.hpp"
#include "store/subnet_store.hpp"

namespace tartan::testing {
namespace {

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
  auto snap = watch->Next();
  ASSERT_TRUE(snap.ok()) << snap.error().message;
  ASSERT_EQ(snap->snapshot.size(), 3u);

  auto pending = std::async(std::launch::async, [&] { return watch->Next(); });
  ASSERT_TRUE((*cluster)->Wipe(0).ok()) << (*cluster)->Logs();
  ASSERT_TRUE((*client)
                  ->Put(key("10.5.2.0-24"), VxlanAttrs("192.0.2.22", "02:00:00:00:00:01").ToJson())
                  .ok());
  const bool ready = pending.wait_for(std::chrono::seconds(15)) == std::future_status::ready;
  if (!ready) {
    stop.request_stop();  // lets the pending Next return, so the test ends
    (*client)->Shutdown();
  }
  ASSERT_TRUE(ready) << "the watch did not notice the wiped store";
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

}  // namespace
}  // namespace tartan::testing
