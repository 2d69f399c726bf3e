// The etcd v2 client with TLS client certificates, v2 user/password auth, against an etcd
// that does not serve v2, and stopped while a member never answers.
#include <gtest/gtest.h>

#include <chrono>
#include <future>

#include "fixtures/etcd_fixture.hpp"
#include "integration/cluster_scenarios.hpp"
#include "integration/hung_member.hpp"
#include "integration/integration_util.hpp"
#include "store/etcd2/client.hpp"

namespace tartan::testing {
namespace {

using store::etcd2::Client;

const char kNet[] = R"({"Network":"10.5.0.0/16","Backend":{"Type":"vxlan"}})";

TEST(Etcd2Tls, WorksWithTheRightCaAndClientCertificateAndIsRefusedOtherwise) {
  TlsWorksOnlyWithTheRightCaAndCertificate<V2>(kNet, [](const std::shared_ptr<Client>& client) {
    auto store = store::NewSubnetStore(client, FastOptions("/coreos.com/network", {}));
    auto cfg = store->GetNetworkConfig({});
    ASSERT_TRUE(cfg.ok()) << cfg.error().message;
    auto lease =
        store->AcquireLease(*cfg, {VxlanAttrs("192.0.2.1", "02:00:00:00:00:01"), std::nullopt}, {});
    ASSERT_TRUE(lease.ok()) << lease.error().message;
  });
}

TEST(Etcd2Auth, UserAndPasswordWorkWrongOnesAreAClearPermissionError) {
  auto cluster = EtcdCluster::Start({.v2_auth = true});
  ASSERT_TRUE(cluster.ok()) << cluster.error().message;
  auto& c = **cluster;
  ASSERT_TRUE(c.EtcdctlV2({"set", "/coreos.com/network/config", kNet}).ok());
  auto make = [&](const std::string& user, const std::string& pw) {
    return *Client::Create(UserOptions(c, user, pw));
  };
  auto good = make(EtcdCluster::kUser, EtcdCluster::kUserPassword);
  LogSink log;
  auto store = store::NewSubnetStore(good, FastOptions("/coreos.com/network", log.Fn()));
  auto cfg = store->GetNetworkConfig({});
  ASSERT_TRUE(cfg.ok()) << cfg.error().message;
  auto lease =
      store->AcquireLease(*cfg, {VxlanAttrs("192.0.2.1", "02:00:00:00:00:01"), std::nullopt}, {});
  ASSERT_TRUE(lease.ok()) << lease.error().message;
  auto renewed = store->RenewLease(*lease);
  ASSERT_TRUE(renewed.ok()) << renewed.error().message;
  std::stop_source stop;
  auto watch = store->WatchLeases(stop.get_token());
  auto snap = watch->Next();
  ASSERT_TRUE(snap.ok()) << snap.error().message;
  EXPECT_EQ(snap->snapshot.size(), 1u);

  auto wrong = make(EtcdCluster::kUser, "nope");
  auto r = wrong->List("/coreos.com/network/subnets/");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Error::Code::kPermissionDenied) << r.error().message;
  EXPECT_NE(r.error().message.find(c.Endpoints()), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find("wrong password"), std::string::npos) << r.error().message;

  auto anonymous = make("", "");
  auto a = anonymous->Get("/coreos.com/network/config");
  ASSERT_FALSE(a.ok());
  EXPECT_EQ(a.error().code, Error::Code::kPermissionDenied) << a.error().message;
  EXPECT_NE(a.error().message.find("--etcd-username"), std::string::npos) << a.error().message;

  auto outside = good->Set("/elsewhere", "x");
  ASSERT_FALSE(outside.ok());
  EXPECT_EQ(outside.error().code, Error::Code::kPermissionDenied) << outside.error().message;

  // A watch refused for the credentials says so, and is not retried as an outage.
  auto w = wrong->Watch("/coreos.com/network/subnets/", 1);
  ASSERT_TRUE(w.ok());
  auto ev = (*w)->Next();
  ASSERT_FALSE(ev.ok());
  EXPECT_EQ(ev.error().code, Error::Code::kPermissionDenied) << ev.error().message;
  stop.request_stop();
}

// The API selection relies on this: an etcd that does not serve v2 is kFailedPrecondition,
// whose message tells the operator what to change.
TEST(Etcd2Api, AMemberWithoutV2IsAFailedPreconditionNamingEnableV2) {
  auto cluster = EtcdCluster::Start();
  ASSERT_TRUE(cluster.ok()) << cluster.error().message;
  auto client = Client::Create(OptionsFor(**cluster, std::chrono::milliseconds(3000)));
  ASSERT_TRUE(client.ok());
  auto get = (*client)->Get("/coreos.com/network/config");
  ASSERT_FALSE(get.ok());
  EXPECT_EQ(get.error().code, Error::Code::kFailedPrecondition) << get.error().message;
  EXPECT_NE(get.error().message.find("--enable-v2"), std::string::npos) << get.error().message;
  EXPECT_NE(get.error().message.find((*cluster)->Endpoints()), std::string::npos)
      << get.error().message;
  auto list = (*client)->List("/coreos.com/network/subnets/");
  ASSERT_FALSE(list.ok());
  EXPECT_EQ(list.error().code, Error::Code::kFailedPrecondition) << list.error().message;
  auto w = (*client)->Watch("/coreos.com/network/subnets/", 1);
  ASSERT_TRUE(w.ok());
  auto ev = (*w)->Next();
  ASSERT_FALSE(ev.ok());
  EXPECT_EQ(ev.error().code, Error::Code::kFailedPrecondition) << ev.error().message;
}

TEST(Etcd2ClientShutdown, CancelsACallToAHungMemberAndRefusesLaterOnes) {
  std::shared_ptr<Client> client;
  ASSERT_NO_FATAL_FAILURE(ShutdownCancelsACallToAHungMemberAndRefusesLaterOnes(&client));
  auto w = client->Watch("/coreos.com/network/subnets/", 1);
  ASSERT_FALSE(w.ok());
  EXPECT_EQ(w.error().code, Error::Code::kCancelled);
}

TEST(Etcd2ClientShutdown, EndsAWatchWaitingForEvents) {
  auto cluster = EtcdCluster::Start({.enable_v2 = true});
  ASSERT_TRUE(cluster.ok()) << cluster.error().message;
  auto client = Client::Create(OptionsFor(**cluster, std::chrono::milliseconds(3000)));
  ASSERT_TRUE(client.ok());
  auto list = (*client)->List("/coreos.com/network/subnets/");
  ASSERT_TRUE(list.ok()) << list.error().message;
  auto w = (*client)->Watch("/coreos.com/network/subnets/", list->revision + 1);
  ASSERT_TRUE(w.ok());
  auto pending = std::async(std::launch::async, [&] { return (*w)->Next(); });
  // The long-poll is open (nothing will come); a stop must end it at once.
  ASSERT_EQ(pending.wait_for(std::chrono::milliseconds(300)), std::future_status::timeout);
  (*client)->Shutdown();
  ASSERT_EQ(pending.wait_for(std::chrono::seconds(5)), std::future_status::ready);
  auto r = pending.get();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Error::Code::kCancelled) << r.error().message;
}

}  // namespace
}  // namespace tartan::testing
