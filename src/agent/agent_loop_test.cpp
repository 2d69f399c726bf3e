// The agent's loop with everything outside it injected: FakeRtnl as the kernel, the store over
// the in-memory registry, a fake firewall keeper, a manual event source and clock. No root, no
// network: what is checked is what the loop decides while etcd is away or the lease is taken
// again (docs/adr/0018).
#include <gtest/gtest.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <future>
#include <mutex>
#include <thread>

#include "agent/agent.hpp"
#include "common/unique_fd.hpp"
#include "kernel/fake_rtnl.hpp"
#include "model/network_config.hpp"
#include "store/memory/memory_registry.hpp"
#include "store/subnet_store.hpp"

namespace tartan::agent {
namespace {

using namespace std::chrono_literals;

net::Ip4 A(const char* s) { return *net::Ip4::Parse(s); }
net::Ip4Net N(const char* s) { return *net::Ip4Net::Parse(s); }

constexpr char kConfigKey[] = "/coreos.com/network/config";
constexpr char kSubnets[] = "/coreos.com/network/subnets/";
constexpr char kNetwork[] = R"({"Network":"10.244.0.0/16","Backend":{"Type":"host-gw"}})";

// Polls `pred` until it holds or `timeout` passes (the condition, not the sleep, synchronises).
template <typename Pred>
bool WaitUntil(Pred pred, std::chrono::milliseconds timeout = 5s) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(1ms);
  }
  return true;
}

// FakeRtnl is for one thread; the agent's loop and the test both use this one.
class SyncRtnl final : public kernel::Rtnl {
 private:
  template <typename F>
  auto Locked(F op) -> decltype(op(std::declval<kernel::FakeRtnl&>())) {
    std::lock_guard lock(mu_);
    return op(fake_);
  }

 public:
  int AddLinkForTest(kernel::Link l) {
    return Locked([&](kernel::FakeRtnl& k) { return k.AddLinkForTest(std::move(l)); });
  }
  Result<kernel::Link> GetLink(int i) override {
    return Locked([&](kernel::FakeRtnl& k) { return k.GetLink(i); });
  }
  Result<kernel::Link> GetLinkByName(std::string_view n) override {
    return Locked([&](kernel::FakeRtnl& k) { return k.GetLinkByName(n); });
  }
  Result<std::vector<kernel::Link>> ListLinks() override {
    return Locked([&](kernel::FakeRtnl& k) { return k.ListLinks(); });
  }
  Result<kernel::Link> CreateLink(const kernel::Link& s) override {
    return Locked([&](kernel::FakeRtnl& k) { return k.CreateLink(s); });
  }
  Status SetLinkUp(int i, bool up) override {
    return Locked([&](kernel::FakeRtnl& k) { return k.SetLinkUp(i, up); });
  }
  Status SetLinkMtu(int i, uint32_t m) override {
    return Locked([&](kernel::FakeRtnl& k) { return k.SetLinkMtu(i, m); });
  }
  Status SetLinkMac(int i, const net::Mac& m) override {
    return Locked([&](kernel::FakeRtnl& k) { return k.SetLinkMac(i, m); });
  }
  Status DeleteLink(int i) override {
    return Locked([&](kernel::FakeRtnl& k) { return k.DeleteLink(i); });
  }
  Result<std::vector<kernel::Address>> ListAddresses(int i) override {
    return Locked([&](kernel::FakeRtnl& k) { return k.ListAddresses(i); });
  }
  Status AddAddress(const kernel::Address& a) override {
    return Locked([&](kernel::FakeRtnl& k) { return k.AddAddress(a); });
  }
  Status DeleteAddress(const kernel::Address& a) override {
    return Locked([&](kernel::FakeRtnl& k) { return k.DeleteAddress(a); });
  }
  Result<std::vector<kernel::Route>> ListRoutes(const kernel::RouteFilter& f) override {
    return Locked([&](kernel::FakeRtnl& k) { return k.ListRoutes(f); });
  }
  Status AddRoute(const kernel::Route& r) override {
    return Locked([&](kernel::FakeRtnl& k) { return k.AddRoute(r); });
  }
  Status ReplaceRoute(const kernel::Route& r) override {
    return Locked([&](kernel::FakeRtnl& k) { return k.ReplaceRoute(r); });
  }
  Status DeleteRoute(const kernel::Route& r) override {
    return Locked([&](kernel::FakeRtnl& k) { return k.DeleteRoute(r); });
  }
  Result<kernel::RouteLookup> LookupRoute(net::Ip4 d) override {
    return Locked([&](kernel::FakeRtnl& k) { return k.LookupRoute(d); });
  }
  Result<std::vector<kernel::Neighbour>> ListNeighbours(int i) override {
    return Locked([&](kernel::FakeRtnl& k) { return k.ListNeighbours(i); });
  }
  Status ReplaceNeighbour(const kernel::Neighbour& n) override {
    return Locked([&](kernel::FakeRtnl& k) { return k.ReplaceNeighbour(n); });
  }
  Status DeleteNeighbour(const kernel::Neighbour& n) override {
    return Locked([&](kernel::FakeRtnl& k) { return k.DeleteNeighbour(n); });
  }
  Result<std::vector<kernel::FdbEntry>> ListFdb(int i) override {
    return Locked([&](kernel::FakeRtnl& k) { return k.ListFdb(i); });
  }
  Status AppendFdb(const kernel::FdbEntry& e) override {
    return Locked([&](kernel::FakeRtnl& k) { return k.AppendFdb(e); });
  }
  Status ReplaceFdb(const kernel::FdbEntry& e) override {
    return Locked([&](kernel::FakeRtnl& k) { return k.ReplaceFdb(e); });
  }
  Status DeleteFdb(const kernel::FdbEntry& e) override {
    return Locked([&](kernel::FakeRtnl& k) { return k.DeleteFdb(e); });
  }

  bool HasRoute(const kernel::Route& r) {
    auto routes = ListRoutes({});
    return routes.ok() && std::find(routes->begin(), routes->end(), r) != routes->end();
  }

 private:
  std::mutex mu_;
  kernel::FakeRtnl fake_;
};

// Kernel notifications pushed by the test; readable through an eventfd as netlink's would be.
class ManualEvents final : public KernelEventSource {
 public:
  ManualEvents() : fd_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {}
  int fd() const override { return fd_.get(); }
  Result<std::vector<kernel::KernelEvent>> Drain() override {
    uint64_t n = 0;
    [[maybe_unused]] ssize_t r = ::read(fd_.get(), &n, sizeof n);
    std::lock_guard lock(mu_);
    std::vector<kernel::KernelEvent> out(queue_.begin(), queue_.end());
    queue_.clear();
    ++drains_;
    return out;
  }
  void Push(kernel::KernelEvent e) {
    {
      std::lock_guard lock(mu_);
      queue_.push_back(std::move(e));
    }
    Wake();
  }
  // Makes the loop look at the clock again (after ManualClock::Advance).
  void Wake() {
    uint64_t one = 1;
    [[maybe_unused]] ssize_t r = ::write(fd_.get(), &one, sizeof one);
  }
  // How many events were taken by the loop so far (and how many reads it made).
  int drains() {
    std::lock_guard lock(mu_);
    return drains_;
  }
  bool empty() {
    std::lock_guard lock(mu_);
    return queue_.empty();
  }

 private:
  UniqueFd fd_;
  std::mutex mu_;
  std::deque<kernel::KernelEvent> queue_;
  int drains_ = 0;
};

class ManualClock final : public Clock {
 public:
  time_point Now() const override { return time_point(std::chrono::nanoseconds(now_.load())); }
  void Advance(std::chrono::nanoseconds d) { now_ += d.count(); }

 private:
  std::atomic<int64_t> now_{std::chrono::nanoseconds(1h).count()};
};

struct FirewallLog {
  std::atomic<int> ensures{0};
  std::atomic<int> created{0};
  std::mutex mu;
  std::vector<net::Ip4Net> subnets;  // one per keeper created
  // While set, Ensure() does not return (as an iptables-save that hangs); `held` counts the
  // calls waiting.
  std::condition_variable cv;
  bool hold = false;
  int held = 0;
  void Hold(bool on) {
    {
      std::lock_guard l(mu);
      hold = on;
    }
    cv.notify_all();
  }
  int Held() {
    std::lock_guard l(mu);
    return held;
  }
};

class FakeKeeper final : public FirewallKeeper {
 public:
  explicit FakeKeeper(FirewallLog& log) : log_(log) {}
  Result<firewall::EnsureReport> Ensure() override {
    ++log_.ensures;
    std::unique_lock l(log_.mu);
    ++log_.held;
    log_.cv.wait(l, [this] { return !log_.hold; });
    --log_.held;
    return firewall::EnsureReport{};
  }

 private:
  FirewallLog& log_;
};

// The store the agent gets: the real lease logic over the memory registry; acquisitions can be
// held at a gate (as if etcd did not answer) or refused with a given error.
class GatedStore final : public store::SubnetStore {
 public:
  explicit GatedStore(std::shared_ptr<store::MemoryRegistry> reg) {
    store::StoreOptions o;
    o.log = [](std::string_view) {};
    o.backoff = {5ms, 20ms};
    inner_ = store::NewSubnetStore(std::move(reg), o);
  }
  struct Gate {
    std::mutex mu;
    std::condition_variable_any cv;
    bool closed = false;
    int waiting = 0;
    int acquisitions = 0;  // calls to AcquireLease
    std::optional<Error> refuse;

    void Close() {
      std::lock_guard l(mu);
      closed = true;
    }
    void Open() {
      {
        std::lock_guard l(mu);
        closed = false;
      }
      cv.notify_all();
    }
    int Waiting() {
      std::lock_guard l(mu);
      return waiting;
    }
    int Acquisitions() {
      std::lock_guard l(mu);
      return acquisitions;
    }
    void Refuse(std::optional<Error> e) {
      std::lock_guard l(mu);
      refuse = std::move(e);
    }
  };
  static std::shared_ptr<Gate> NewGate() { return std::make_shared<Gate>(); }
  void SetGate(std::shared_ptr<Gate> g) { gate_ = std::move(g); }

  void Shutdown() override { inner_->Shutdown(); }
  std::string Api() const override { return "v3"; }
  std::chrono::seconds HeartbeatPeriod() const override { return inner_->HeartbeatPeriod(); }
  Result<model::NetworkConfig> GetNetworkConfig(std::stop_token stop,
                                                std::chrono::milliseconds retry) override {
    return inner_->GetNetworkConfig(std::move(stop), retry);
  }
  Result<store::LeaseSnapshot> ListLeases() override { return inner_->ListLeases(); }
  Result<model::Lease> AcquireLease(const model::NetworkConfig& config,
                                    const store::AcquireRequest& request,
                                    std::stop_token stop) override {
    {
      std::unique_lock l(gate_->mu);
      ++gate_->acquisitions;
      ++gate_->waiting;
      const bool open = gate_->cv.wait(l, stop, [this] { return !gate_->closed; });
      --gate_->waiting;
      if (!open) return Error::Cancelled("stopped at the gate");
      if (gate_->refuse) return *gate_->refuse;
    }
    return inner_->AcquireLease(config, request, std::move(stop));
  }
  Result<model::Lease> RenewLease(const model::Lease& lease) override {
    return inner_->RenewLease(lease);
  }
  std::unique_ptr<store::LeaseWatch> WatchLeases(std::stop_token stop) override {
    return inner_->WatchLeases(std::move(stop));
  }

 private:
  std::unique_ptr<store::SubnetStore> inner_;
  std::shared_ptr<Gate> gate_ = NewGate();
};

struct Readiness {
  std::mutex mu;
  std::vector<std::pair<bool, std::string>> changes;
  void Record(bool ready, const std::string& reason) {
    std::lock_guard l(mu);
    if (!changes.empty() && changes.back() == std::pair(ready, reason)) return;
    changes.emplace_back(ready, reason);
  }
  std::pair<bool, std::string> Last() {
    std::lock_guard l(mu);
    return changes.empty() ? std::pair(false, std::string("none")) : changes.back();
  }
  bool Ready() { return Last().first; }
  std::vector<std::pair<bool, std::string>> All() {
    std::lock_guard l(mu);
    return changes;
  }
};

// One host (eth0 192.0.2.11/24) and one host-gw peer (192.0.2.12) with a lease in etcd.
class AgentLoopTest : public ::testing::Test {
 protected:
  void SetUp() override {
    kernel::Link eth0;
    eth0.name = "eth0";
    eth0.mtu = 1500;
    eth0.up = true;
    eth0_ = rtnl_.AddLinkForTest(eth0);
    ASSERT_TRUE(rtnl_.AddAddress({N("192.0.2.11/24"), eth0_}).ok());
    kernel::Route def = kernel::Route::Via(N("0.0.0.0/0"), A("192.0.2.1"), eth0_);
    def.protocol = kernel::kRouteProtocolBoot;
    ASSERT_TRUE(rtnl_.AddRoute(def).ok());

    reg_->Put(kConfigKey, kNetwork);
    // The peer's lease, taken through the same lease logic a peer's agent uses.
    store::StoreOptions o;
    o.log = [](std::string_view) {};
    peer_store_ = store::NewSubnetStore(reg_, o);
    auto config = model::NetworkConfig::Parse(kNetwork);
    ASSERT_TRUE(config.ok());
    store::AcquireRequest req;
    req.attrs.public_ip = A("192.0.2.12");
    req.attrs.backend_type = "host-gw";
    auto peer = peer_store_->AcquireLease(*config, req, {});
    ASSERT_TRUE(peer.ok()) << peer.error().message;
    peer_ = *peer;
    peer_route_ = kernel::Route::Via(peer_.subnet.ipv4, A("192.0.2.12"), eth0_);

    dir_ = std::filesystem::path(::testing::TempDir()) /
           ("agent_loop_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);

    config_.etcd_endpoints = "memory";
    config_.iface.iface = {"eth0"};
    config_.subnet_file = (dir_ / "subnet.env").string();
    config_.ip_masq = true;
    config_.iptables_resync_seconds = 5;
    config_.retry_period = 20ms;
    config_.config_recheck = 1h;
  }
  void TearDown() override {
    firewall_.Hold(false);  // a test that failed while holding the check must not hang here
    Stop();
    std::filesystem::remove_all(dir_);
  }

  // Starts the agent on a thread of its own; ManualClock unless `real_clock`.
  void Start() {
    deps_.rtnl = &rtnl_;
    deps_.events = &events_;
    deps_.clock = &clock_;
    deps_.make_store = [this]() -> Result<std::unique_ptr<store::SubnetStore>> {
      auto s = std::make_unique<GatedStore>(reg_);
      s->SetGate(gate_);
      return std::unique_ptr<store::SubnetStore>(std::move(s));
    };
    deps_.make_firewall =
        [this](net::Ip4Net, net::Ip4Net subnet,
               const firewall::MasqOptions&) -> Result<std::unique_ptr<FirewallKeeper>> {
      ++firewall_.created;
      {
        std::lock_guard l(firewall_.mu);
        firewall_.subnets.push_back(subnet);
      }
      return std::unique_ptr<FirewallKeeper>(std::make_unique<FakeKeeper>(firewall_));
    };
    deps_.on_readiness = [this](bool ready, const std::string& why) {
      readiness_.Record(ready, why);
    };
    exit_ = std::async(std::launch::async, [this] { return RunAgent(config_, deps_, stop_); });
  }
  // Requests a stop; the agent's exit code, or -1 when it did not end within `timeout`.
  int Stop(std::chrono::milliseconds timeout = 5s) {
    if (!exit_.valid()) return -2;
    stop_.request_stop();
    gate_->Open();  // harmless: a stopped agent's acquisition ends at the stop anyway
    if (exit_.wait_for(timeout) != std::future_status::ready) return -1;
    return exit_.get();
  }

  // Our lease's key in etcd ("" when none), once subnet.env names it.
  std::string OwnKey() {
    auto list = reg_->List(kSubnets);
    if (!list.ok()) return {};
    for (const auto& kv : list->kvs) {
      if (kv.value.find("192.0.2.11") != std::string::npos) return kv.key;
    }
    return {};
  }
  kernel::KernelEvent RouteRemoved(const kernel::Route& r) {
    kernel::KernelEvent e;
    e.kind = kernel::KernelEvent::Kind::kRoute;
    e.removed = true;
    e.object = r;
    return e;
  }
  void StartAndWaitReady() {
    Start();
    ASSERT_TRUE(WaitUntil([&] { return readiness_.Ready(); }))
        << "last readiness: " << readiness_.Last().second;
    ASSERT_TRUE(rtnl_.HasRoute(peer_route_));
  }

  SyncRtnl rtnl_;
  int eth0_ = 0;
  std::shared_ptr<store::MemoryRegistry> reg_ = store::MemoryRegistry::Create();
  std::unique_ptr<store::SubnetStore> peer_store_;
  model::Lease peer_;
  kernel::Route peer_route_;
  std::filesystem::path dir_;

  ManualEvents events_;
  ManualClock clock_;
  FirewallLog firewall_;
  Readiness readiness_;
  std::shared_ptr<GatedStore::Gate> gate_ = GatedStore::NewGate();
  Config config_;
  Deps deps_;
  std::stop_source stop_;
  std::future<int> exit_;
};

TEST_F(AgentLoopTest, ProgramsPeersThenBecomesReadyThroughTheExpectedStates) {
  StartAndWaitReady();
  auto all = readiness_.All();
  // In order: the config, then the lease, then the peers, then ready.
  std::vector<std::string> expected = {"waiting for the network config", "acquiring a lease",
                                       "waiting for the peers' leases", ""};
  size_t next = 0;
  for (const auto& [ready, why] : all) {
    if (next < expected.size() && why.rfind(expected[next], 0) == 0 &&
        ready == expected[next].empty()) {
      ++next;
    }
  }
  EXPECT_EQ(next, expected.size()) << "saw " << all.size() << " changes";
  EXPECT_FALSE(OwnKey().empty());
  EXPECT_TRUE(std::filesystem::exists(config_.subnet_file));
  EXPECT_EQ(firewall_.created.load(), 1);
  EXPECT_EQ(Stop(), 0);
}

TEST_F(AgentLoopTest, RouteDeletedWhileEtcdIsUnreachableIsRepaired) {
  StartAndWaitReady();
  reg_->SetAvailable(false);
  ASSERT_TRUE(rtnl_.DeleteRoute(peer_route_).ok());
  events_.Push(RouteRemoved(peer_route_));
  EXPECT_TRUE(WaitUntil([&] { return rtnl_.HasRoute(peer_route_); }, 2s))
      << "the route to the last known peer is put back without etcd";
  EXPECT_TRUE(readiness_.Ready()) << readiness_.Last().second;
  reg_->SetAvailable(true);
  EXPECT_EQ(Stop(), 0);
}

TEST_F(AgentLoopTest, KernelEventIsHandledWhileTheLeaseIsTakenAgain) {
  StartAndWaitReady();
  const std::string own = OwnKey();
  ASSERT_FALSE(own.empty());
  const int before = gate_->Acquisitions();
  gate_->Close();
  reg_->Delete(own);  // the watch reports our key gone: a revocation
  ASSERT_TRUE(WaitUntil([&] { return gate_->Waiting() == 1; }))
      << "the re-acquisition is under way (and held)";
  EXPECT_EQ(gate_->Acquisitions(), before + 1);
  EXPECT_TRUE(WaitUntil([&] { return !readiness_.Ready(); }));
  EXPECT_NE(readiness_.Last().second.find("revoked"), std::string::npos)
      << readiness_.Last().second;

  ASSERT_TRUE(rtnl_.DeleteRoute(peer_route_).ok());
  events_.Push(RouteRemoved(peer_route_));
  EXPECT_TRUE(WaitUntil([&] { return rtnl_.HasRoute(peer_route_); }, 2s))
      << "the event is handled before the re-acquisition ends";
  EXPECT_EQ(gate_->Waiting(), 1) << "the acquisition is still held";
  EXPECT_FALSE(readiness_.Ready()) << "not ready while the lease is being taken again";

  gate_->Open();
  EXPECT_TRUE(WaitUntil([&] { return readiness_.Ready(); })) << readiness_.Last().second;
  EXPECT_EQ(OwnKey(), own) << "the same subnet is taken again";
  EXPECT_EQ(firewall_.created.load(), 2) << "the rules are made again for the new lease";
  EXPECT_EQ(Stop(), 0);
}

TEST_F(AgentLoopTest, RefusedAcquisitionIsShownAsTheReasonAndRetried) {
  gate_->Refuse(Error::AlreadyExists("public IP 192.0.2.11 is held by a live lease"));
  Start();
  ASSERT_TRUE(WaitUntil([&] { return gate_->Acquisitions() >= 3; }));
  EXPECT_FALSE(readiness_.Ready());
  EXPECT_NE(readiness_.Last().second.find("held by a live lease"), std::string::npos)
      << readiness_.Last().second;
  gate_->Refuse(std::nullopt);
  EXPECT_TRUE(WaitUntil([&] { return readiness_.Ready(); })) << readiness_.Last().second;
  EXPECT_EQ(Stop(), 0);
}

TEST_F(AgentLoopTest, FirewallRulesAreCheckedWhileTheLeaseIsTakenAgain) {
  StartAndWaitReady();
  gate_->Close();
  reg_->Delete(OwnKey());
  ASSERT_TRUE(WaitUntil([&] { return gate_->Waiting() == 1; }));
  const int ensures = firewall_.ensures.load();
  clock_.Advance(std::chrono::seconds(config_.iptables_resync_seconds));
  events_.Wake();
  EXPECT_TRUE(WaitUntil([&] { return firewall_.ensures.load() > ensures; }, 2s));
  EXPECT_EQ(Stop(), 0);
}

TEST_F(AgentLoopTest, ASlowFirewallCheckDoesNotHoldUpLeaseEvents) {
  StartAndWaitReady();
  firewall_.Hold(true);
  clock_.Advance(std::chrono::seconds(config_.iptables_resync_seconds));
  events_.Wake();
  ASSERT_TRUE(WaitUntil([&] { return firewall_.Held() == 1; }))
      << "the periodic check runs and hangs";
  // A new peer meanwhile: its route is programmed while the check still hangs.
  auto config = model::NetworkConfig::Parse(kNetwork);
  ASSERT_TRUE(config.ok());
  store::AcquireRequest req;
  req.attrs.public_ip = A("192.0.2.13");
  req.attrs.backend_type = "host-gw";
  auto peer = peer_store_->AcquireLease(*config, req, {});
  ASSERT_TRUE(peer.ok()) << peer.error().message;
  const auto route = kernel::Route::Via(peer->subnet.ipv4, A("192.0.2.13"), eth0_);
  EXPECT_TRUE(WaitUntil([&] { return rtnl_.HasRoute(route); }, 2s));
  EXPECT_EQ(firewall_.Held(), 1);
  firewall_.Hold(false);
  EXPECT_EQ(Stop(), 0);
  EXPECT_EQ(firewall_.Held(), 0);
}

TEST_F(AgentLoopTest, StopDuringReacquisitionExitsPromptlyWithZero) {
  StartAndWaitReady();
  gate_->Close();
  reg_->Delete(OwnKey());
  ASSERT_TRUE(WaitUntil([&] { return gate_->Waiting() == 1; }));
  const auto started = std::chrono::steady_clock::now();
  stop_.request_stop();
  ASSERT_EQ(exit_.wait_for(2s), std::future_status::ready);
  EXPECT_LT(std::chrono::steady_clock::now() - started, 2s);
  EXPECT_EQ(exit_.get(), 0);
}

TEST_F(AgentLoopTest, StopWhileEtcdIsUnreachableExitsWithZero) {
  StartAndWaitReady();
  reg_->SetAvailable(false);
  EXPECT_EQ(Stop(2s), 0);
}

}  // namespace
}  // namespace tartan::agent
