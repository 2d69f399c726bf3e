#include "store/lease_logic.hpp"

#include <gtest/gtest.h>

#include <thread>

#include "store/memory/memory_registry.hpp"
#include "store/store_test_util.hpp"
#include "store/subnet_store.hpp"

namespace tartan::store {
namespace {

using testing::Attrs;
using testing::Config;
using testing::Subnet;

constexpr char kPrefix[] = "/coreos.com/network";
constexpr char kDir[] = "/coreos.com/network/subnets/";

struct Fixture {
  std::shared_ptr<MemoryRegistry> reg = MemoryRegistry::Create();
  std::vector<std::string> log;
  std::unique_ptr<SubnetStore> store;

  Fixture() {
    StoreOptions o;
    o.log = [this](std::string_view l) { log.emplace_back(l); };
    o.backoff = {std::chrono::milliseconds(10), std::chrono::milliseconds(50)};
    store = NewSubnetStore(reg, o);
  }
  std::string Value(const std::string& seg) {
    auto kv = reg->Get(kDir + seg);
    return kv.ok() && *kv ? (*kv)->value : "<absent>";
  }
  int64_t LeaseOf(const std::string& seg) {
    auto kv = reg->Get(kDir + seg);
    return kv.ok() && *kv ? (*kv)->lease : -1;
  }
};

const char kNet16[] = R"({"Network":"10.5.0.0/16","Backend":{"Type":"vxlan"}})";
// Hands out exactly 10.5.1.0/24, 10.5.2.0/24 and 10.5.3.0/24 (the first subnet never).
const char kNet22[] = R"({"Network":"10.5.0.0/22","SubnetLen":24,"Backend":{"Type":"vxlan"}})";

TEST(AcquireLease, NewLeaseIsFlannelsKeyAndJsonOnATtlLease) {
  Fixture f;
  AcquireRequest req{Attrs("192.0.2.1", "c6:d2:32:6f:8f:44"), std::nullopt};
  auto lease = f.store->AcquireLease(Config(kNet16), req, {});
  ASSERT_TRUE(lease.ok()) << lease.error().message;
  const std::string seg = lease->subnet.ToString();
  EXPECT_EQ(lease->subnet.ipv4.prefix_len(), 24);
  EXPECT_EQ(f.Value(seg), R"({"PublicIP":"192.0.2.1","PublicIPv6":null,"BackendType":"vxlan",)"
                          R"("BackendData":{"VNI":1,"VtepMAC":"c6:d2:32:6f:8f:44"}})");
  EXPECT_NE(lease->etcd_lease_id, 0);
  EXPECT_EQ(f.LeaseOf(seg), lease->etcd_lease_id);
  ASSERT_TRUE(lease->expiration.has_value());
  EXPECT_GT(*lease->expiration, std::chrono::system_clock::now() + std::chrono::hours(23));
  EXPECT_NE(seg, "10.5.0.0-24") << "the first subnet is never handed out";
  EXPECT_EQ(f.reg->lease_count(), 1u) << "no stray etcd leases";
}

TEST(AcquireLease, ReusesOurLeaseByPublicIpWithAFreshTtl) {
  Fixture f;
  int64_t old_rev = f.reg->Put(std::string(kDir) + "10.5.7.0-24",
                               Attrs("192.0.2.1", "aa:aa:aa:aa:aa:aa").ToJson(), 77);
  f.reg->Put(std::string(kDir) + "10.5.8.0-24", Attrs("192.0.2.2").ToJson(), 78);
  AcquireRequest req{Attrs("192.0.2.1", "c6:d2:32:6f:8f:44"), Subnet("10.5.9.0-24")};
  auto lease = f.store->AcquireLease(Config(kNet16), req, {});
  ASSERT_TRUE(lease.ok()) << lease.error().message;
  EXPECT_EQ(lease->subnet.ToString(), "10.5.7.0-24");
  EXPECT_GT(lease->revision, old_rev);
  EXPECT_NE(f.LeaseOf("10.5.7.0-24"), 77);
  EXPECT_EQ(f.Value("10.5.7.0-24"), req.attrs.ToJson()) << "new VtepMAC published";
  EXPECT_EQ(f.Value("10.5.9.0-24"), "<absent>");
  EXPECT_EQ(f.LeaseOf("10.5.8.0-24"), 78) << "a peer's lease is untouched";
}

TEST(AcquireLease, ReservationIsReusedAndNeverGivenATtl) {
  Fixture f;
  f.reg->Put(std::string(kDir) + "10.5.42.0-24", R"({"PublicIP":"192.0.2.1"})", 0);
  AcquireRequest req{Attrs("192.0.2.1", "c6:d2:32:6f:8f:44"), std::nullopt};
  auto lease = f.store->AcquireLease(Config(kNet16), req, {});
  ASSERT_TRUE(lease.ok()) << lease.error().message;
  EXPECT_EQ(lease->subnet.ToString(), "10.5.42.0-24");
  EXPECT_TRUE(lease->is_reservation());
  EXPECT_FALSE(lease->expiration.has_value());
  EXPECT_EQ(f.LeaseOf("10.5.42.0-24"), 0);
  EXPECT_EQ(f.Value("10.5.42.0-24"), req.attrs.ToJson());
  EXPECT_EQ(f.reg->lease_count(), 0u);
  // Renewing a reservation is a no-op that still sees it exists.
  auto renewed = f.store->RenewLease(*lease);
  ASSERT_TRUE(renewed.ok()) << renewed.error().message;
  EXPECT_EQ(f.LeaseOf("10.5.42.0-24"), 0);
}

TEST(AcquireLease, WritesTheRegistrysLeaseShape) {
  Fixture f;
  f.reg->SetLeaseValueShape(model::LeaseShape::kV011);
  AcquireRequest req{Attrs("192.0.2.1", "c6:d2:32:6f:8f:44"), std::nullopt};
  auto lease = f.store->AcquireLease(Config(kNet16), req, {});
  ASSERT_TRUE(lease.ok()) << lease.error().message;
  EXPECT_EQ(
      f.Value(lease->subnet.ToString()),
      R"({"PublicIP":"192.0.2.1","BackendType":"vxlan","BackendData":{"VtepMAC":"c6:d2:32:6f:8f:44"}})");
}

TEST(AcquireLease, AReservationInTheRegistrysShapeIsNotRewritten) {
  Fixture f;
  f.reg->SetLeaseValueShape(model::LeaseShape::kV011);
  const std::string key = std::string(kDir) + "10.5.42.0-24";
  // As an operator (or flanneld v0.11) pinned it, with spaces; no VNI, no PublicIPv6.
  const std::string pinned =
      R"({"PublicIP": "192.0.2.1", "BackendType": "vxlan", "BackendData": {"VtepMAC": "c6:d2:32:6f:8f:44"}})";
  const int64_t rev = f.reg->Put(key, pinned, 0);
  AcquireRequest req{Attrs("192.0.2.1", "c6:d2:32:6f:8f:44"), std::nullopt};
  auto lease = f.store->AcquireLease(Config(kNet16), req, {});
  ASSERT_TRUE(lease.ok()) << lease.error().message;
  EXPECT_TRUE(lease->is_reservation());
  EXPECT_EQ(f.Value("10.5.42.0-24"), pinned);
  EXPECT_EQ(lease->revision, rev) << "not rewritten";

  // A new MAC is news: rewritten, in the registry's shape, still without a TTL.
  AcquireRequest moved{Attrs("192.0.2.1", "02:00:00:00:00:09"), std::nullopt};
  auto again = f.store->AcquireLease(Config(kNet16), moved, {});
  ASSERT_TRUE(again.ok()) << again.error().message;
  EXPECT_EQ(
      f.Value("10.5.42.0-24"),
      R"({"PublicIP":"192.0.2.1","BackendType":"vxlan","BackendData":{"VtepMAC":"02:00:00:00:00:09"}})");
  EXPECT_EQ(f.LeaseOf("10.5.42.0-24"), 0);
}

TEST(AcquireLease, OthersReservationsAreNeverHandedOut) {
  Fixture f;
  f.reg->Put(std::string(kDir) + "10.5.1.0-24", R"({"PublicIP":"192.0.2.101"})", 0);
  f.reg->Put(std::string(kDir) + "10.5.2.0-24", R"({"PublicIP":"192.0.2.102"})", 0);
  auto a = f.store->AcquireLease(Config(kNet22), {Attrs("192.0.2.1"), std::nullopt}, {});
  ASSERT_TRUE(a.ok()) << a.error().message;
  EXPECT_EQ(a->subnet.ToString(), "10.5.3.0-24");
  auto b = f.store->AcquireLease(Config(kNet22), {Attrs("192.0.2.2"), Subnet("10.5.1.0-24")}, {});
  ASSERT_FALSE(b.ok());
  EXPECT_EQ(b.error().code, Error::Code::kExhausted) << b.error().message;
  EXPECT_EQ(f.Value("10.5.1.0-24"), R"({"PublicIP":"192.0.2.101"})");
  EXPECT_EQ(f.LeaseOf("10.5.1.0-24"), 0);
  EXPECT_EQ(f.reg->lease_count(), 1u) << "the failed attempt revoked its grant";
}

TEST(AcquireLease, PreviousSubnetIsUsedWhenFreeElseANewOne) {
  struct Case {
    const char* name;
    const char* taken_by_peer;  // nullptr: free
    const char* previous;
    bool expect_previous;
  };
  const Case cases[] = {
      {"free", nullptr, "10.5.33.0-24", true},
      {"taken", "10.5.33.0-24", "10.5.33.0-24", false},
      {"outside network", nullptr, "10.6.33.0-24", false},
      {"first subnet", nullptr, "10.5.0.0-24", false},
  };
  for (const Case& c : cases) {
    Fixture f;
    if (c.taken_by_peer)
      f.reg->Put(std::string(kDir) + c.taken_by_peer, Attrs("192.0.2.9").ToJson(), 5);
    auto lease =
        f.store->AcquireLease(Config(kNet16), {Attrs("192.0.2.1"), Subnet(c.previous)}, {});
    ASSERT_TRUE(lease.ok()) << c.name << ": " << lease.error().message;
    EXPECT_EQ(lease->subnet.ToString() == c.previous, c.expect_previous) << c.name;
    if (c.taken_by_peer) {
      EXPECT_EQ(f.Value(c.taken_by_peer), Attrs("192.0.2.9").ToJson()) << c.name;
    }
  }
}

TEST(AcquireLease, OwnLeaseThatNoLongerFitsIsIgnored) {
  Fixture f;
  f.reg->Put(std::string(kDir) + "10.9.7.0-24", Attrs("192.0.2.1").ToJson(), 5);
  auto lease = f.store->AcquireLease(Config(kNet16), {Attrs("192.0.2.1"), std::nullopt}, {});
  ASSERT_TRUE(lease.ok()) << lease.error().message;
  EXPECT_TRUE(Config(kNet16).Fits(lease->subnet.ipv4));
  EXPECT_NE(lease->subnet.ToString(), "10.9.7.0-24");
}

// Another node creates the chosen key between our listing and our transaction.
class Racer : public Registry {
 public:
  explicit Racer(std::shared_ptr<MemoryRegistry> inner, int races)
      : inner_(std::move(inner)), races_(races) {}
  Result<std::optional<KeyValue>> Get(const std::string& k) override { return inner_->Get(k); }
  Result<RangeResult> List(const std::string& p) override { return inner_->List(p); }
  Result<LeaseGrant> GrantLease(std::chrono::seconds t) override { return inner_->GrantLease(t); }
  Status RevokeLease(int64_t id) override { return inner_->RevokeLease(id); }
  Result<std::chrono::seconds> KeepAlive(int64_t id) override { return inner_->KeepAlive(id); }
  Result<std::optional<int64_t>> PutIf(const std::string& k, const std::string& v, int64_t l,
                                       int64_t e) override {
    if (e == 0 && races_-- > 0) {
      inner_->Put(k, Attrs("198.51.100.1").ToJson(), 999);
      lost.push_back(k);
    }
    return inner_->PutIf(k, v, l, e);
  }
  Result<std::unique_ptr<RegistryWatch>> Watch(const std::string& p, int64_t r) override {
    return inner_->Watch(p, r);
  }
  std::string Describe() const override { return "racer"; }
  std::vector<std::string> lost;

 private:
  std::shared_ptr<MemoryRegistry> inner_;
  int races_;
};

TEST(AcquireLease, LostCreateRaceIsRetriedWithAnotherSubnet) {
  auto mem = MemoryRegistry::Create();
  auto racer = std::make_shared<Racer>(mem, 3);
  StoreOptions o;
  o.log = [](std::string_view) {};
  auto store = NewSubnetStore(racer, o);
  auto lease = store->AcquireLease(Config(kNet16), {Attrs("192.0.2.1"), std::nullopt}, {});
  ASSERT_TRUE(lease.ok()) << lease.error().message;
  ASSERT_EQ(racer->lost.size(), 3u);
  for (const auto& k : racer->lost) {
    EXPECT_NE(k, std::string(kDir) + lease->subnet.ToString());
    auto kv = mem->Get(k);
    ASSERT_TRUE(kv.ok() && *kv);
    EXPECT_EQ((*kv)->value, Attrs("198.51.100.1").ToJson()) << "the winner's lease stays";
  }
}

TEST(AcquireLease, GarbageEntriesNeitherStopUsNorFreeTheirSubnet) {
  Fixture f;
  f.reg->Put(std::string(kDir) + "not-a-subnet", Attrs("192.0.2.1").ToJson(), 0);
  f.reg->Put(std::string(kDir) + "10.5.1.0-24", "{garbage", 5);
  f.reg->Put(std::string(kDir) + "10.5.2.0-24", Attrs("192.0.2.2").ToJson(), 6);
  auto lease =
      f.store->AcquireLease(Config(kNet22), {Attrs("192.0.2.1"), Subnet("10.5.1.0-24")}, {});
  ASSERT_TRUE(lease.ok()) << lease.error().message;
  EXPECT_EQ(lease->subnet.ToString(), "10.5.3.0-24");
  EXPECT_EQ(f.Value("10.5.1.0-24"), "{garbage");
  size_t mentions = 0;
  for (const auto& l : f.log) mentions += l.find("10.5.1.0-24") != std::string::npos;
  EXPECT_GE(mentions, 1u);
  auto again = f.store->ListLeases();
  ASSERT_TRUE(again.ok());
  size_t after = 0;
  for (const auto& l : f.log)
    after += l.find("{garbage") != std::string::npos ||
             l.find("value of \"/coreos.com/network/subnets/10.5.1.0-24") != std::string::npos;
  EXPECT_EQ(after, 1u) << "logged once";
  ASSERT_EQ(again->leases.size(), 2u);
}

// Keys no lease of the network can have (the default route, the underlay, the whole Network,
// a wrong size) must not stop allocation; a reservation smaller than a subnet keeps that subnet.
TEST(AcquireLease, InvalidKeysHoldNoSpace) {
  Fixture f;
  const std::string v = Attrs("192.0.2.9").ToJson();
  // Leases (etcd lease 5) and reservations (none) alike.
  for (const auto& [k, lease] : std::vector<std::pair<const char*, int64_t>>{{"0.0.0.0-0", 5},
                                                                             {"192.0.2.0-24", 0},
                                                                             {"10.5.0.0-16", 5},
                                                                             {"10.0.0.0-8", 0},
                                                                             {"10.5.0.0-22", 0},
                                                                             {"10.5.0.0-23", 0}}) {
    f.reg->Put(std::string(kDir) + k, v, lease);
  }
  f.reg->Put(std::string(kDir) + "10.5.1.128-25", v, 5);  // wrong-size lease: holds nothing
  f.reg->Put(std::string(kDir) + "10.5.2.128-25", v,
             0);  // wrong-size reservation: holds 10.5.2.0/24
  // The previous subnet overlaps only the wrong-size lease: it is free.
  auto a = f.store->AcquireLease(Config(kNet22), {Attrs("192.0.2.1"), Subnet("10.5.1.0-24")}, {});
  ASSERT_TRUE(a.ok()) << a.error().message;
  EXPECT_EQ(a->subnet.ToString(), "10.5.1.0-24");
  auto b = f.store->AcquireLease(Config(kNet22), {Attrs("192.0.2.2"), std::nullopt}, {});
  ASSERT_TRUE(b.ok()) << b.error().message;
  EXPECT_EQ(b->subnet.ToString(), "10.5.3.0-24");
  auto c = f.store->AcquireLease(Config(kNet22), {Attrs("192.0.2.3"), Subnet("10.5.2.0-24")}, {});
  ASSERT_FALSE(c.ok()) << c->subnet.ToString();
  EXPECT_EQ(c.error().code, Error::Code::kExhausted) << c.error().message;
}

TEST(RenewLease, RefreshesAndNoticesRevocation) {
  Fixture f;
  auto lease = f.store->AcquireLease(Config(kNet16), {Attrs("192.0.2.1"), std::nullopt}, {});
  ASSERT_TRUE(lease.ok());
  auto renewed = f.store->RenewLease(*lease);
  ASSERT_TRUE(renewed.ok()) << renewed.error().message;
  EXPECT_GE(*renewed->expiration, *lease->expiration);

  f.reg->Delete(std::string(kDir) + lease->subnet.ToString());
  auto gone = f.store->RenewLease(*lease);
  ASSERT_FALSE(gone.ok());
  EXPECT_EQ(gone.error().code, Error::Code::kNotFound);
  EXPECT_NE(gone.error().message.find("revoked"), std::string::npos);

  auto other = f.store->AcquireLease(Config(kNet16), {Attrs("192.0.2.1"), std::nullopt}, {});
  ASSERT_TRUE(other.ok());
  ASSERT_TRUE(f.reg->RevokeLease(other->etcd_lease_id).ok());
  auto expired = f.store->RenewLease(*other);
  ASSERT_FALSE(expired.ok());
  EXPECT_EQ(expired.error().code, Error::Code::kNotFound);
}

TEST(AcquireLease, WaitsOutAnOutageWithoutSpinningAndStopsOnRequest) {
  Fixture f;
  f.reg->SetAvailable(false);
  std::stop_source stop;
  Result<model::Lease> result = Error::Internal("not run");
  std::thread t([&] {
    result =
        f.store->AcquireLease(Config(kNet16), {Attrs("192.0.2.1"), std::nullopt}, stop.get_token());
  });
  // Backoff caps at 50 ms here: over >= 500 ms a spinning loop would make thousands of calls.
  const auto start = std::chrono::steady_clock::now();
  ASSERT_TRUE(testing::WaitUntil([&] { return f.reg->call_count() >= 8; }));
  const auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_GE(elapsed, std::chrono::milliseconds(200));
  stop.request_stop();
  t.join();
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error().code, Error::Code::kCancelled);

  f.reg->SetAvailable(true);
  auto ok = f.store->AcquireLease(Config(kNet16), {Attrs("192.0.2.1"), std::nullopt}, {});
  EXPECT_TRUE(ok.ok());
}

TEST(GetNetworkConfig, WaitsForTheConfigAndHintsAtV2) {
  Fixture f;
  std::stop_source stop;
  Result<model::NetworkConfig> result = Error::Internal("not run");
  std::thread t(
      [&] { result = f.store->GetNetworkConfig(stop.get_token(), std::chrono::milliseconds(10)); });
  ASSERT_TRUE(testing::WaitUntil([&] { return f.reg->call_count() >= 2; }));
  f.reg->Put("/coreos.com/network/config", kNet16);
  t.join();
  ASSERT_TRUE(result.ok()) << result.error().message;
  EXPECT_EQ(result->network->ToString(), "10.5.0.0/16");
  ASSERT_FALSE(f.log.empty());
  EXPECT_NE(f.log.front().find("ETCDCTL_API=2"), std::string::npos) << f.log.front();

  Fixture g;
  std::stop_source stop2;
  std::thread t2([&] {
    result = g.store->GetNetworkConfig(stop2.get_token(), std::chrono::milliseconds(10));
  });
  ASSERT_TRUE(testing::WaitUntil([&] { return g.reg->call_count() >= 2; }));
  stop2.request_stop();
  t2.join();
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error().code, Error::Code::kCancelled);
}

}  // namespace
}  // namespace tartan::store
