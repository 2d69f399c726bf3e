#include "store/api_select.hpp"

#include <gtest/gtest.h>

#include <mutex>
#include <thread>

#include "store/memory/memory_registry.hpp"
#include "store/store_test_util.hpp"

namespace tartan::store {
namespace {

using testing::Attrs;

constexpr char kKey[] = "/coreos.com/network/config";
constexpr char kSubnets[] = "/coreos.com/network/subnets/";
const char kNetV2[] = R"({"Network":"10.2.0.0/16","Backend":{"Type":"host-gw"}})";
const char kNetV3[] = R"({"Network":"10.3.0.0/16","Backend":{"Type":"host-gw"}})";
constexpr auto kRetry = std::chrono::milliseconds(1);

// The v2 client's answer when etcd runs without --enable-v2: every call refused.
class DisabledV2Registry : public Registry {
 public:
  Result<std::optional<KeyValue>> Get(const std::string&) override {
    ++calls;
    return Refused();
  }
  Result<RangeResult> List(const std::string&) override { return Refused(); }
  Result<LeaseGrant> GrantLease(std::chrono::seconds) override { return Refused(); }
  Status RevokeLease(int64_t) override { return Refused(); }
  Result<std::chrono::seconds> KeepAlive(int64_t) override { return Refused(); }
  Result<std::optional<int64_t>> PutIf(const std::string&, const std::string&, int64_t,
                                       int64_t) override {
    return Refused();
  }
  Result<std::unique_ptr<RegistryWatch>> Watch(const std::string&, int64_t) override {
    return Refused();
  }
  std::string Describe() const override { return "etcd v2 (disabled)"; }
  std::atomic<int> calls{0};

 private:
  static Error Refused() { return Error::FailedPrecondition("etcd v2 API disabled (404)"); }
};

struct Fixture {
  std::shared_ptr<MemoryRegistry> v2 = MemoryRegistry::Create();
  std::shared_ptr<MemoryRegistry> v3 = MemoryRegistry::Create();
  std::mutex mu;
  std::vector<std::string> log;

  StoreOptions Options() {
    StoreOptions o;
    o.log = [this](std::string_view l) {
      std::lock_guard lock(mu);
      log.emplace_back(l);
    };
    return o;
  }
  std::unique_ptr<SubnetStore> Make(EtcdApi mode, std::shared_ptr<Registry> two,
                                    std::shared_ptr<Registry> three) {
    auto s = NewApiSelectingStore(std::move(two), std::move(three), mode, Options());
    EXPECT_TRUE(s.ok()) << s.error().message;
    return s.ok() ? std::move(s).value() : nullptr;
  }
  std::unique_ptr<SubnetStore> Make(EtcdApi mode) { return Make(mode, v2, v3); }

  std::vector<std::string> Log() {
    std::lock_guard lock(mu);
    return log;
  }
  // Lines containing `text`.
  int Count(std::string_view text) {
    int n = 0;
    for (const auto& l : Log()) n += l.find(text) != std::string::npos ? 1 : 0;
    return n;
  }
  std::string All() {
    std::string s;
    for (const auto& l : Log()) s += l + "\n";
    return s;
  }
};

// Runs GetNetworkConfig on a thread, as the agent does, so a test can change the registries
// (or stop) while it waits.
struct Waiter {
  std::stop_source stop;
  Result<model::NetworkConfig> result = Error::Internal("not run");
  std::thread thread;
  explicit Waiter(SubnetStore& store)
      : thread([this, &store] { result = store.GetNetworkConfig(stop.get_token(), kRetry); }) {}
  Result<model::NetworkConfig> Join() {
    thread.join();
    return result;
  }
  ~Waiter() {
    stop.request_stop();
    if (thread.joinable()) thread.join();
  }
};

std::string NetworkOf(const Result<model::NetworkConfig>& c) {
  if (!c.ok()) return "error: " + c.error().message;
  return c->network ? c->network->ToString() : "-";
}

size_t LeasesIn(MemoryRegistry& r) {
  auto l = r.List(kSubnets);
  return l.ok() ? l->kvs.size() : 0;
}

// The lease lands in the key space the config was found in.
void AcquireOne(SubnetStore& store, const Result<model::NetworkConfig>& config) {
  ASSERT_TRUE(config.ok());
  auto lease = store.AcquireLease(*config, {Attrs("192.0.2.1"), std::nullopt}, {});
  ASSERT_TRUE(lease.ok()) << lease.error().message;
}

TEST(ApiSelect, AutoUsesV3WhenOnlyV3HoldsTheConfig) {
  Fixture f;
  f.v3->Put(kKey, kNetV3);
  auto store = f.Make(EtcdApi::kAuto);
  EXPECT_EQ(store->Api(), "");
  auto config = store->GetNetworkConfig({}, kRetry);
  EXPECT_EQ(NetworkOf(config), "10.3.0.0/16");
  EXPECT_EQ(store->Api(), "v3");
  AcquireOne(*store, config);
  EXPECT_EQ(LeasesIn(*f.v3), 1u);
  EXPECT_EQ(LeasesIn(*f.v2), 0u);
  EXPECT_EQ(f.Count("using the etcd v3 API: network config found at /coreos.com/network/config"), 1)
      << f.All();
  EXPECT_EQ(f.Count("etcd"), 1) << f.All();
}

TEST(ApiSelect, AutoUsesV2WhenOnlyV2HoldsTheConfig) {
  Fixture f;
  f.v2->Put(kKey, kNetV2);
  auto store = f.Make(EtcdApi::kAuto);
  auto config = store->GetNetworkConfig({}, kRetry);
  EXPECT_EQ(NetworkOf(config), "10.2.0.0/16");
  EXPECT_EQ(store->Api(), "v2");
  AcquireOne(*store, config);
  EXPECT_EQ(LeasesIn(*f.v2), 1u);
  EXPECT_EQ(LeasesIn(*f.v3), 0u);
  auto listed = store->ListLeases();
  ASSERT_TRUE(listed.ok());
  EXPECT_EQ(listed->leases.size(), 1u);
  EXPECT_EQ(f.Count("using the etcd v2 API: network config found at"), 1) << f.All();
}

TEST(ApiSelect, AutoPrefersV3WhenBothHoldTheConfigAndSaysSoOnce) {
  Fixture f;
  f.v2->Put(kKey, kNetV2);
  f.v3->Put(kKey, kNetV3);
  auto store = f.Make(EtcdApi::kAuto);
  EXPECT_EQ(NetworkOf(store->GetNetworkConfig({}, kRetry)), "10.3.0.0/16");
  // The agent reads the config again after a retryable problem: no second announcement.
  EXPECT_EQ(NetworkOf(store->GetNetworkConfig({}, kRetry)), "10.3.0.0/16");
  EXPECT_EQ(store->Api(), "v3");
  EXPECT_EQ(f.Log().size(), 1u) << f.All();
  EXPECT_EQ(f.Count("using the etcd v3 API"), 1) << f.All();
  EXPECT_EQ(f.Count("v2 key space holds a config too"), 1) << f.All();
}

TEST(ApiSelect, AutoWaitsWhileNeitherHoldsItNamingBothApisThenTakesTheOneThatAppears) {
  Fixture f;
  auto store = f.Make(EtcdApi::kAuto);
  Waiter w(*store);
  // Many polls, one message: rate-limited like the plain store's.
  ASSERT_TRUE(testing::WaitUntil([&] { return f.v2->call_count() >= 50; }));
  EXPECT_EQ(store->Api(), "");
  f.v2->Put(kKey, kNetV2);
  auto config = w.Join();
  EXPECT_EQ(NetworkOf(config), "10.2.0.0/16");
  EXPECT_EQ(store->Api(), "v2");
  EXPECT_EQ(f.Count("not found"), 1) << f.All();
  const std::string waiting = f.Log().front();
  for (const char* want :
       {"/coreos.com/network/config", "neither in the etcd v3 nor in the v2",
        "ETCDCTL_API=3 'etcdctl put'", "ETCDCTL_API=2 'etcdctl set'", "--enable-v2"}) {
    EXPECT_NE(waiting.find(want), std::string::npos) << want << " in: " << waiting;
  }
  EXPECT_EQ(f.Count("using the etcd v2 API"), 1) << f.All();
}

TEST(ApiSelect, AutoDoesNotTakeV2WhileV3CannotBeRead) {
  Fixture f;
  f.v2->Put(kKey, kNetV2);
  f.v3->SetAvailable(false);
  auto store = f.Make(EtcdApi::kAuto);
  Waiter w(*store);
  ASSERT_TRUE(testing::WaitUntil([&] { return f.v2->call_count() >= 20; }));
  EXPECT_EQ(store->Api(), "") << "a v3 copy, if v3 holds one, must win";
  f.v3->SetAvailable(true);
  EXPECT_EQ(NetworkOf(w.Join()), "10.2.0.0/16");
  EXPECT_EQ(store->Api(), "v2");
  EXPECT_EQ(f.Count("cannot read network config /coreos.com/network/config with the etcd v3 API"),
            1)
      << f.All();
}

TEST(ApiSelect, AutoWithV2DisabledIsAV3StoreWithoutNoise) {
  Fixture f;
  auto v2 = std::make_shared<DisabledV2Registry>();
  auto store = f.Make(EtcdApi::kAuto, v2, f.v3);
  Waiter w(*store);
  ASSERT_TRUE(testing::WaitUntil([&] { return v2->calls >= 20; }));
  f.v3->Put(kKey, kNetV3);
  auto config = w.Join();
  EXPECT_EQ(NetworkOf(config), "10.3.0.0/16");
  EXPECT_EQ(store->Api(), "v3");
  ASSERT_EQ(f.Log().size(), 2u) << f.All();
  AcquireOne(*store, config);
  EXPECT_EQ(LeasesIn(*f.v3), 1u);
  // The v3 store's message, nothing about v2 being off.
  EXPECT_NE(f.Log()[0].find("Did you create it with the etcd v3 API?"), std::string::npos)
      << f.All();
  EXPECT_EQ(f.Count("disabled"), 0) << f.All();
  EXPECT_EQ(f.Count("enable-v2"), 0) << f.All();
}

TEST(ApiSelect, AutoWithoutAV2ClientIsAV3Store) {
  Fixture f;
  f.v2->Put(kKey, kNetV2);  // not reachable: no v2 registry given
  auto store = f.Make(EtcdApi::kAuto, nullptr, f.v3);
  Waiter w(*store);
  ASSERT_TRUE(testing::WaitUntil([&] { return f.v3->call_count() >= 20; }));
  f.v3->Put(kKey, kNetV3);
  EXPECT_EQ(NetworkOf(w.Join()), "10.3.0.0/16");
  EXPECT_EQ(store->Api(), "v3");
  EXPECT_EQ(f.Count("ETCDCTL_API=2 'etcdctl set' is invisible to v3"), 1) << f.All();
}

TEST(ApiSelect, ForcedV2IgnoresV3) {
  Fixture f;
  f.v3->Put(kKey, kNetV3);
  auto store = f.Make(EtcdApi::kV2);
  EXPECT_EQ(store->Api(), "v2") << "known at once when forced";
  Waiter w(*store);
  ASSERT_TRUE(testing::WaitUntil([&] { return f.v2->call_count() >= 20; }));
  EXPECT_EQ(f.v3->call_count(), 0);
  f.v2->Put(kKey, kNetV2);
  auto config = w.Join();
  EXPECT_EQ(NetworkOf(config), "10.2.0.0/16");
  AcquireOne(*store, config);
  EXPECT_EQ(LeasesIn(*f.v2), 1u);
  EXPECT_EQ(LeasesIn(*f.v3), 0u);
  EXPECT_EQ(f.Count("(etcd v2 key space), waiting. Create it with ETCDCTL_API=2 'etcdctl set'"), 1)
      << f.All();
  EXPECT_EQ(f.Count("using the etcd v2 API (--etcd-api=v2): network config found at"), 1)
      << f.All();
}

TEST(ApiSelect, ForcedV3IgnoresV2AndKeepsTheV2Hint) {
  Fixture f;
  f.v2->Put(kKey, kNetV2);
  auto store = f.Make(EtcdApi::kV3);
  EXPECT_EQ(store->Api(), "v3");
  Waiter w(*store);
  ASSERT_TRUE(testing::WaitUntil([&] { return f.v3->call_count() >= 20; }));
  EXPECT_EQ(f.v2->call_count(), 0);
  f.v3->Put(kKey, kNetV3);
  EXPECT_EQ(NetworkOf(w.Join()), "10.3.0.0/16");
  EXPECT_EQ(f.Count("ETCDCTL_API=2 'etcdctl set' is invisible to v3"), 1) << f.All();
  EXPECT_EQ(f.Count("using the etcd v3 API (--etcd-api=v3)"), 1) << f.All();
}

TEST(ApiSelect, ForcedV2OnAnEtcdWithoutV2SaysHowToEnableIt) {
  Fixture f;
  auto v2 = std::make_shared<DisabledV2Registry>();
  auto store = f.Make(EtcdApi::kV2, v2, f.v3);
  Waiter w(*store);
  ASSERT_TRUE(testing::WaitUntil([&] { return v2->calls >= 20; }));
  w.stop.request_stop();
  auto r = w.Join();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Error::Code::kCancelled);
  ASSERT_EQ(f.Log().size(), 1u) << f.All();
  for (const char* want :
       {"with the etcd v2 API", "etcd v2 API disabled (404)", "--enable-v2", "--etcd-api=v3"}) {
    EXPECT_NE(f.Log()[0].find(want), std::string::npos) << want << " in: " << f.All();
  }
}

TEST(ApiSelect, StopWhileWaitingReturnsCancelled) {
  for (EtcdApi mode : {EtcdApi::kAuto, EtcdApi::kV2, EtcdApi::kV3}) {
    SCOPED_TRACE(std::string(ToString(mode)));
    Fixture f;
    auto store = f.Make(mode);
    Waiter w(*store);
    ASSERT_TRUE(testing::WaitUntil([&] { return f.v2->call_count() + f.v3->call_count() >= 10; }));
    w.stop.request_stop();
    auto r = w.Join();
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, Error::Code::kCancelled);
    if (mode == EtcdApi::kAuto) {
      EXPECT_EQ(store->Api(), "");
    }
  }
}

TEST(ApiSelect, InvalidConfigInTheChosenSpaceIsAnErrorAtOnce) {
  Fixture f;
  f.v2->Put(kKey, R"({"Network":"10.2.0.0/16","SubnetLen":31})");
  auto store = f.Make(EtcdApi::kAuto);
  auto r = store->GetNetworkConfig({}, kRetry);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Error::Code::kInvalidArgument) << r.error().message;
  EXPECT_EQ(store->Api(), "v2");
}

TEST(ApiSelect, LeaseCallsBeforeTheChoiceAreRefused) {
  Fixture f;
  auto store = f.Make(EtcdApi::kAuto);
  EXPECT_EQ(store->ListLeases().error().code, Error::Code::kFailedPrecondition);
  auto config = testing::Config(kNetV3);
  EXPECT_EQ(store->AcquireLease(config, {Attrs("192.0.2.1"), std::nullopt}, {}).error().code,
            Error::Code::kFailedPrecondition);
  EXPECT_EQ(store->RenewLease(model::Lease{}).error().code, Error::Code::kFailedPrecondition);
  EXPECT_EQ(store->WatchLeases({})->Next().error().code, Error::Code::kFailedPrecondition);
  EXPECT_EQ(f.v2->call_count() + f.v3->call_count(), 0);
}

TEST(ApiSelect, MissingClientsAreRefusedAtConstruction) {
  Fixture f;
  auto v2 = NewApiSelectingStore(nullptr, f.v3, EtcdApi::kV2, f.Options());
  ASSERT_FALSE(v2.ok());
  EXPECT_NE(v2.error().message.find("--etcd-api=v2"), std::string::npos) << v2.error().message;
  auto v3 = NewApiSelectingStore(f.v2, nullptr, EtcdApi::kV3, f.Options());
  ASSERT_FALSE(v3.ok());
  EXPECT_NE(v3.error().message.find("--etcd-api=v3"), std::string::npos) << v3.error().message;
  EXPECT_FALSE(NewApiSelectingStore(nullptr, nullptr, EtcdApi::kAuto, f.Options()).ok());
}

TEST(ApiSelect, ModeNames) {
  EXPECT_EQ(ToString(EtcdApi::kAuto), "auto");
  EXPECT_EQ(ToString(EtcdApi::kV2), "v2");
  EXPECT_EQ(ToString(EtcdApi::kV3), "v3");
}

}  // namespace
}  // namespace tartan::store
