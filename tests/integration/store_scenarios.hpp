// Steps of the SubnetStore integration tests that are the same on both etcd APIs (v3 in
// etcd_store_test.cpp, v2 in etcd2_store_test.cpp); what differs (raw writes, what a key looks
// like in etcd) comes in as callbacks.
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <future>
#include <string>

#include "integration/etcd_suite.hpp"
#include "integration/integration_util.hpp"
#include "store/etcd_http/options.hpp"
#include "store/subnet_store.hpp"

namespace tartan::testing {

// One etcd per suite; per test a client of `ClientT`'s API and a SubnetStore on it under the
// test's own prefix.
template <typename Suite, typename ClientT>
class StoreSuite : public EtcdSuite<Suite> {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(EtcdSuite<Suite>::SetUp());
    client_ = NewClient();
    store_ = store::NewSubnetStore(client_, FastOptions(this->prefix_, log_.Fn()));
  }
  std::shared_ptr<ClientT> NewClient() { return this->template Connect<ClientT>(); }

  LogSink log_;
  std::shared_ptr<ClientT> client_;
  std::unique_ptr<store::SubnetStore> store_;
};

// A client of an address where nothing listens: the error is kUnavailable and names the
// endpoint. The error goes to `*out` for checks of its own.
template <typename Client>
void ExpectAClosedPortNamed(Error* out) {
  store::etcd_http::ClientOptions o;
  o.endpoints = "http://127.0.0.1:1";
  o.request_timeout = std::chrono::milliseconds(1000);
  auto c = Client::Create(o);
  ASSERT_TRUE(c.ok());
  auto r = (*c)->Get("/x");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Error::Code::kUnavailable);
  EXPECT_NE(r.error().message.find("http://127.0.0.1:1"), std::string::npos) << r.error().message;
  *out = r.error();
}

// The store waits for a missing config, saying `hint` in its log, and returns the config
// once `write` has put it in etcd.
inline void ExpectTheConfigOnceWritten(store::SubnetStore& store, LogSink& log,
                                       const std::string& hint,
                                       const std::function<bool()>& write) {
  std::stop_source stop;
  auto cfg = std::async(std::launch::async, [&] {
    return store.GetNetworkConfig(stop.get_token(), std::chrono::milliseconds(50));
  });
  ASSERT_TRUE(WaitUntil([&] { return log.Contains(hint); }));
  ASSERT_TRUE(write());
  ASSERT_EQ(cfg.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  auto c = cfg.get();
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->network->ToString(), "10.5.0.0/16");
  EXPECT_EQ(c->backend_type, "vxlan");
}

// Another host naming a free previous subnet (from its subnet.env) gets exactly that one; a
// third naming the same one gets a new one, different from `first`'s too.
inline void ExpectAPreviousSubnetGivenOnce(store::SubnetStore& store,
                                           const model::NetworkConfig& cfg,
                                           const model::Lease& first) {
  auto prev = model::SubnetKey::Parse("10.5.200.0-24");
  ASSERT_TRUE(prev.ok());
  auto second = store.AcquireLease(cfg, {VxlanAttrs("192.0.2.2", "02:00:00:00:00:03"), *prev}, {});
  ASSERT_TRUE(second.ok()) << second.error().message;
  EXPECT_EQ(second->subnet.ToString(), "10.5.200.0-24");
  auto third = store.AcquireLease(cfg, {VxlanAttrs("192.0.2.3", "02:00:00:00:00:04"), *prev}, {});
  ASSERT_TRUE(third.ok()) << third.error().message;
  EXPECT_NE(third->subnet, second->subnet);
  EXPECT_NE(third->subnet, first.subnet);
}

// A lease with a 3 s TTL, renewed about every second, outlives the TTL (`check_alive` looks at
// its key then). Deleted by someone else (`remove`), the watch reports it removed and the
// renewal ends, saying it was revoked.
inline void ExpectRenewalUntilRevoked(store::SubnetStore& store, const model::NetworkConfig& cfg,
                                      const std::function<void(const model::Lease&)>& check_alive,
                                      const std::function<bool(const model::Lease&)>& remove) {
  store::AcquireRequest req{VxlanAttrs("192.0.2.1", "02:00:00:00:00:01"), std::nullopt,
                            std::chrono::seconds(3)};
  auto lease = store.AcquireLease(cfg, req, {});
  ASSERT_TRUE(lease.ok()) << lease.error().message;
  std::atomic<int> renewals{0};
  std::stop_source stop;
  auto keeper = std::async(std::launch::async, [&] {
    return store::KeepLeaseAlive(store, *lease, std::chrono::seconds(2), stop.get_token(),
                                 [&](const model::Lease&) { ++renewals; });
  });
  // Renewed about every second; outliving the 3 s TTL proves renewal works.
  ASSERT_TRUE(WaitUntil([&] { return renewals >= 4; }, std::chrono::seconds(20)));
  ASSERT_NO_FATAL_FAILURE(check_alive(*lease));

  auto watch = store.WatchLeases(stop.get_token());
  auto snap = watch->Next();
  ASSERT_TRUE(snap.ok()) << snap.error().message;
  ASSERT_EQ(snap->snapshot.size(), 1u);

  ASSERT_TRUE(remove(*lease));
  auto ev = watch->Next();
  ASSERT_TRUE(ev.ok()) << ev.error().message;
  ASSERT_EQ(ev->events.size(), 1u) << "refreshes wake no watcher; the delete does";
  EXPECT_EQ(ev->events[0].type, store::LeaseEvent::Type::kRemoved);
  EXPECT_EQ(ev->events[0].lease.subnet, lease->subnet);

  ASSERT_EQ(keeper.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  auto status = keeper.get();
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.error().code, Error::Code::kNotFound);
  EXPECT_NE(status.error().message.find("revoked"), std::string::npos) << status.error().message;
  stop.request_stop();
}

}  // namespace tartan::testing
