// The etcd v2 client with TLS client certificates, v2 user/password auth, against an etcd
// that does not serve v2, and stopped while a member never answers.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <chrono>
#include <future>
#include <thread>

#include "common/unique_fd.hpp"
#include "fixtures/etcd_fixture.hpp"
#include "integration/integration_util.hpp"
#include "store/etcd2/client.hpp"

namespace tartan::testing {
namespace {

using store::etcd2::Client;
using store::etcd2::ClientOptions;

const char kNet[] = R"({"Network":"10.5.0.0/16","Backend":{"Type":"vxlan"}})";

TEST(Etcd2Tls, WorksWithTheRightCaAndClientCertificateAndIsRefusedOtherwise) {
  auto cluster = EtcdCluster::Start({.tls = true, .enable_v2 = true});
  ASSERT_TRUE(cluster.ok()) << cluster.error().message;
  auto& c = **cluster;
  ASSERT_EQ(c.Endpoints().rfind("https://", 0), 0u);
  struct Case {
    const char* name;
    std::string ca, cert, key;
    bool works;
  };
  const Case cases[] = {
      {"right CA and client certificate", c.ca_file(), c.cert_file(), c.key_file(), true},
      {"wrong CA", c.wrong_ca_file(), c.cert_file(), c.key_file(), false},
      {"no client certificate", c.ca_file(), "", "", false},
  };
  for (const Case& k : cases) {
    ClientOptions o;
    o.endpoints = c.Endpoints();
    o.ca_file = k.ca;
    o.cert_file = k.cert;
    o.key_file = k.key;
    o.request_timeout = std::chrono::milliseconds(3000);
    auto client = Client::Create(o);
    ASSERT_TRUE(client.ok()) << k.name << ": " << client.error().message;
    auto set = (*client)->Set("/coreos.com/network/config", kNet);
    if (k.works) {
      ASSERT_TRUE(set.ok()) << k.name << ": " << set.error().message;
      auto store = store::NewSubnetStore(*client, FastOptions("/coreos.com/network", {}));
      auto cfg = store->GetNetworkConfig({});
      ASSERT_TRUE(cfg.ok()) << cfg.error().message;
      auto lease = store->AcquireLease(
          *cfg, {VxlanAttrs("192.0.2.1", "02:00:00:00:00:01"), std::nullopt}, {});
      ASSERT_TRUE(lease.ok()) << lease.error().message;
    } else {
      ASSERT_FALSE(set.ok()) << k.name;
      EXPECT_NE(set.error().message.find(c.Endpoints()), std::string::npos)
          << k.name << ": " << set.error().message;
    }
  }
}

TEST(Etcd2Auth, UserAndPasswordWorkWrongOnesAreAClearPermissionError) {
  auto cluster = EtcdCluster::Start({.v2_auth = true});
  ASSERT_TRUE(cluster.ok()) << cluster.error().message;
  auto& c = **cluster;
  ASSERT_TRUE(c.EtcdctlV2({"set", "/coreos.com/network/config", kNet}).ok());
  auto make = [&](const std::string& user, const std::string& pw) {
    ClientOptions o;
    o.endpoints = c.Endpoints();
    o.username = user;
    o.password = pw;
    return *Client::Create(o);
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

// A loopback listener that never accepts: the kernel completes the TCP handshake, nothing
// ever speaks HTTP.
struct SilentListener {
  UniqueFd fd{::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)};
  uint16_t port = 0;
  SilentListener() {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) return;
    if (::listen(fd.get(), 16) != 0) return;
    socklen_t len = sizeof a;
    ::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&a), &len);
    port = ntohs(a.sin_port);
  }
};

TEST(Etcd2ClientShutdown, CancelsACallToAHungMemberAndRefusesLaterOnes) {
  SilentListener hung;
  ASSERT_NE(hung.port, 0);
  ClientOptions opts;
  opts.endpoints = "http://127.0.0.1:" + std::to_string(hung.port);
  opts.request_timeout = std::chrono::seconds(20);
  auto client = Client::Create(opts);
  ASSERT_TRUE(client.ok()) << client.error().message;

  const auto t0 = std::chrono::steady_clock::now();
  std::thread stopper([&] {
    // Once the client's connection is queued at the listener, the call is under way (waiting
    // for the member, then in flight): stop then.
    pollfd pfd{hung.fd.get(), POLLIN, 0};
    ::poll(&pfd, 1, 10000);
    (*client)->Shutdown();
  });
  auto got = (*client)->Get("/coreos.com/network/config");
  stopper.join();
  const auto took = std::chrono::steady_clock::now() - t0;
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.error().code, Error::Code::kCancelled) << got.error().message;
  EXPECT_LT(took, std::chrono::seconds(5)) << "waited for the 20 s deadline instead";

  auto later = (*client)->Get("/coreos.com/network/config");
  ASSERT_FALSE(later.ok());
  EXPECT_EQ(later.error().code, Error::Code::kCancelled);
  auto w = (*client)->Watch("/coreos.com/network/subnets/", 1);
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
