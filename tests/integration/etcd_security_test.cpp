// TLS with fixture-generated certificates and etcd user/password auth.
#include <gtest/gtest.h>

#include "fixtures/etcd_fixture.hpp"
#include "integration/cluster_scenarios.hpp"
#include "integration/integration_util.hpp"

namespace tartan::testing {
namespace {

using store::etcd3::Client;
using store::etcd3::ClientOptions;

TEST(EtcdTls, WorksWithTheRightCaAndIsRefusedOtherwise) {
  TlsWorksOnlyWithTheRightCaAndCertificate<V3>(
      R"({"Network":"10.5.0.0/16"})",
      [](const std::shared_ptr<Client>& client) {
        auto got = client->Get("/coreos.com/network/config");
        ASSERT_TRUE(got.ok() && *got);
      },
      [](const EtcdCluster& c) {
        ClientOptions missing;
        missing.endpoints = c.Endpoints();
        missing.ca_file = c.dir() + "/nonexistent.pem";
        auto bad = Client::Create(missing);
        ASSERT_FALSE(bad.ok());
        EXPECT_NE(bad.error().message.find("--etcd-cafile"), std::string::npos);
      });
}

// etcd 3.4's gateway calls etcd's own gRPC service presenting the server certificate as a
// client certificate; without clientAuth in that certificate every call fails with a transport
// error about etcd itself. The error must tell the operator what to change.
TEST(EtcdTls, AServerCertificateWithoutClientAuthIsDiagnosed) {
  auto cluster = EtcdCluster::Start({.tls = true, .server_cert_client_auth = false});
  ASSERT_TRUE(cluster.ok()) << cluster.error().message;
  auto& c = **cluster;
  auto client = Client::Create(OptionsFor(c, std::chrono::milliseconds(3000)));
  ASSERT_TRUE(client.ok()) << client.error().message;
  auto got = (*client)->Get("/coreos.com/network/config");
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.error().code, Error::Code::kUnavailable) << got.error().message;
  EXPECT_NE(got.error().message.find("clientAuth extended key usage"), std::string::npos)
      << got.error().message;
}

TEST(EtcdAuth, UserAndPasswordWorkWrongOnesAreRefusedTokensAreRenewed) {
  auto cluster = EtcdCluster::Start({.auth = true, .auth_token_ttl_seconds = 1});
  ASSERT_TRUE(cluster.ok()) << cluster.error().message;
  auto& c = **cluster;
  auto make = [&](const std::string& user, const std::string& pw) {
    return *Client::Create(UserOptions(c, user, pw));
  };
  auto good = make(EtcdCluster::kUser, EtcdCluster::kUserPassword);
  LogSink log;
  auto store = store::NewSubnetStore(good, FastOptions("/coreos.com/network", log.Fn()));
  auto cfg = ParseConfig(R"({"Network":"10.5.0.0/16","Backend":{"Type":"vxlan"}})");
  auto lease =
      store->AcquireLease(cfg, {VxlanAttrs("192.0.2.1", "02:00:00:00:00:01"), std::nullopt}, {});
  ASSERT_TRUE(lease.ok()) << lease.error().message;

  auto wrong = make(EtcdCluster::kUser, "nope");
  auto r = wrong->List("/coreos.com/network/");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Error::Code::kPermissionDenied) << r.error().message;
  EXPECT_NE(r.error().message.find(c.Endpoints()), std::string::npos) << r.error().message;

  auto anonymous = make("", "");
  auto a = anonymous->List("/coreos.com/network/");
  ASSERT_FALSE(a.ok());
  EXPECT_EQ(a.error().code, Error::Code::kPermissionDenied) << a.error().message;

  auto outside = good->Put("/elsewhere", "x");
  ASSERT_FALSE(outside.ok());
  EXPECT_EQ(outside.error().code, Error::Code::kPermissionDenied);

  // The simple token lives 1 s here; once it has certainly expired, calls still succeed
  // because the client authenticates again. (Waiting for a TTL, not synchronising.)
  std::this_thread::sleep_for(std::chrono::milliseconds(2500));
  auto renewed = store->RenewLease(*lease);
  ASSERT_TRUE(renewed.ok()) << renewed.error().message;
  auto list = store->ListLeases();
  ASSERT_TRUE(list.ok()) << list.error().message;
  EXPECT_EQ(list->leases.size(), 1u);
}

}  // namespace
}  // namespace tartan::testing
