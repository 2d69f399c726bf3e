#include "store/dup_ip.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <thread>

#include "store/memory/memory_registry.hpp"
#include "store/store_test_util.hpp"
#include "store/subnet_store.hpp"

namespace tartan::store {
namespace {

using namespace std::chrono_literals;
using testing::Attrs;
using testing::Config;
using Kind = DupIpVerdict::Kind;
using SteadyClock = std::chrono::steady_clock;

const SteadyClock::time_point t0 = SteadyClock::time_point() + 1000h;

DupIpInput Input(const std::vector<std::pair<std::chrono::seconds, std::chrono::seconds>>& samples,
                 std::chrono::seconds now, std::chrono::seconds heartbeat = 10s) {
  DupIpInput in;
  for (auto [at, remaining] : samples) in.samples.push_back({t0 + at, remaining});
  in.granted = 86400s;
  in.heartbeat = heartbeat;
  in.now = t0 + now;
  return in;
}

TEST(DecideDupIp, RecordedLeaseIsOursAtOnce) {
  DupIpInput in = Input({{0s, 86400s}}, 0s);
  in.recorded_as_ours = true;
  EXPECT_EQ(DecideDupIp(in).kind, Kind::kOurs);
}

TEST(DecideDupIp, WindowIsTwoHeartbeatsPlusTolerance) {
  EXPECT_EQ(DupIpWindow(10s), 22s);
  EXPECT_EQ(DupIpWindow(1s), 2 * kMinHeartbeat + kDupIpTolerance) << "clamped";
}

TEST(DecideDupIp, LeaseNotRefreshedForTheWindowIsTakenOver) {
  // flanneld renews an hour before expiry; a holder rebooted a minute ago: both long silent.
  auto v = DecideDupIp(Input({{0s, 86400s - 3600s}}, 0s));
  EXPECT_EQ(v.kind, Kind::kOwnerGone);
  EXPECT_EQ(v.since_refresh, 3600s);
  EXPECT_EQ(DecideDupIp(Input({{0s, 86400s - 22s}}, 0s)).kind, Kind::kOwnerGone);
}

TEST(DecideDupIp, RecentlyRefreshedLeaseIsWatchedUntilTheWindowEnds) {
  auto v = DecideDupIp(Input({{0s, 86400s - 5s}}, 0s));
  EXPECT_EQ(v.kind, Kind::kWatch);
  EXPECT_EQ(v.recheck_at, t0 - 5s + 22s);
  // Counting down as a silent lease does, readings taken later change nothing ...
  v = DecideDupIp(Input({{0s, 86400s - 5s}, {10s, 86400s - 15s}}, 10s));
  EXPECT_EQ(v.kind, Kind::kWatch);
  // ... until the window since its last refresh has passed: its holder is gone.
  v = DecideDupIp(Input({{0s, 86400s - 5s}, {10s, 86400s - 15s}, {17s, 86400s - 22s}}, 17s));
  EXPECT_EQ(v.kind, Kind::kOwnerGone);
}

TEST(DecideDupIp, RefreshSeenWhileWatchingMeansAnotherLiveHost) {
  // Refreshed 5s before our first look, again 5s after it.
  auto v = DecideDupIp(Input({{0s, 86400s - 5s}, {8s, 86400s - 3s}}, 8s));
  EXPECT_EQ(v.kind, Kind::kOtherHostAlive);
  EXPECT_EQ(v.since_refresh, 3s);
  EXPECT_EQ(v.recheck_at, t0 + 5s + 22s) << "look again when it could be silent for the window";
  // The remaining TTL need not go up to show a refresh: first read just after one, second
  // read 9s after the next one.
  v = DecideDupIp(Input({{0s, 86400s}, {19s, 86400s - 9s}}, 19s));
  EXPECT_EQ(v.kind, Kind::kOtherHostAlive);
}

TEST(DecideDupIp, WholeSecondsAndLatencyAreNotARefresh) {
  // Same lease, estimates one second apart from rounding and a slow answer.
  auto v = DecideDupIp(Input({{0s, 86395s}, {3s, 86393s}, {6s, 86389s}}, 6s));
  EXPECT_EQ(v.kind, Kind::kWatch);
}

TEST(DecideDupIp, TheWrongGrantedTtlDoesNotFakeARefresh) {
  // A v2 key granted 3600s while we assume 86400s: it looks long silent -> taken (as flannel
  // would); granted more than we assume: looks fresh, is watched, and stays silent.
  DupIpInput in = Input({{0s, 100000s}, {8s, 99992s}}, 8s);
  auto v = DecideDupIp(in);
  EXPECT_EQ(v.kind, Kind::kWatch);
}

TEST(DecideDupIp, HolderThatStopsRenewingIsTakenOverAfterTheWindow) {
  std::vector<std::pair<std::chrono::seconds, std::chrono::seconds>> s = {
      {0s, 86400s - 5s}, {10s, 86400s - 5s}};  // refreshed at 5s
  EXPECT_EQ(DecideDupIp(Input(s, 10s)).kind, Kind::kOtherHostAlive);
  s.push_back({20s, 86400s - 15s});  // silent since 5s
  EXPECT_EQ(DecideDupIp(Input(s, 20s)).kind, Kind::kOtherHostAlive);
  s.push_back({27s, 86400s - 22s});
  EXPECT_EQ(DecideDupIp(Input(s, 27s)).kind, Kind::kOwnerGone);
}

TEST(OwnerRecord, RoundTripsAndRejectsGarbage) {
  OwnerRecord r{*model::SubnetKey::Parse("10.5.7.0-24"), 0x1234abcd};
  auto back = OwnerRecord::Parse(r.Format());
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(*back, r);
  EXPECT_FALSE(OwnerRecord::Parse("subnet=10.5.7.0-24\n").ok());
  EXPECT_FALSE(OwnerRecord::Parse("subnet=10.5.7.0-24\ntoken=12x\n").ok());
  EXPECT_FALSE(OwnerRecord::Parse("subnet=nope\ntoken=1\n").ok());
}

TEST(OwnerRecord, FileIsWrittenAtomicallyBesideSubnetEnv) {
  char dir[] = "/tmp/tartan-owner-XXXXXX";
  ASSERT_NE(::mkdtemp(dir), nullptr);
  const std::string path = OwnerRecordPath(std::string(dir) + "/subnet.env");
  EXPECT_EQ(path, std::string(dir) + "/subnet.env.lease");
  EXPECT_EQ(ReadOwnerRecord(path).error().code, Error::Code::kNotFound);
  OwnerRecord r{*model::SubnetKey::Parse("10.5.7.0-24"), 42};
  ASSERT_TRUE(WriteOwnerRecord(path, r).ok());
  auto back = ReadOwnerRecord(path);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, r);
  ::unlink(path.c_str());
  ::rmdir(dir);
}

// The store over the memory registry: real time, a 3 s heartbeat (window 8 s).
constexpr char kDir[] = "/coreos.com/network/subnets/";
const char kNet16[] = R"({"Network":"10.5.0.0/16","Backend":{"Type":"vxlan"}})";

struct Host {
  std::shared_ptr<MemoryRegistry> reg;
  std::vector<std::string> log;
  std::mutex mu;
  std::unique_ptr<SubnetStore> store;

  explicit Host(std::shared_ptr<MemoryRegistry> r) : reg(std::move(r)) {
    StoreOptions o;
    o.log = [this](std::string_view l) {
      std::lock_guard lock(mu);
      log.emplace_back(l);
    };
    o.heartbeat = 3s;
    store = NewSubnetStore(reg, o);
  }
  bool Logged(const std::string& part) {
    std::lock_guard lock(mu);
    for (const auto& l : log) {
      if (l.find(part) != std::string::npos) return true;
    }
    return false;
  }
};

AcquireRequest Guarded(const std::string& mac, std::optional<OwnerRecord> owner = {}) {
  AcquireRequest req{Attrs("192.0.2.1", mac), std::nullopt};
  req.guard_shared_ip = true;
  req.owner = owner;
  return req;
}

// Host A's lease, as A's store created it.
struct Holder {
  std::shared_ptr<MemoryRegistry> reg = MemoryRegistry::Create();
  Host a{reg};
  model::Lease lease;
  Holder() {
    auto l = a.store->AcquireLease(Config(kNet16), Guarded("aa:aa:aa:aa:aa:aa"), {});
    EXPECT_TRUE(l.ok());
    if (l.ok()) lease = *l;
  }
};

TEST(SharedIpGuard, RestartWithTheRecordReusesAtOnce) {
  Holder h;
  EXPECT_EQ(h.lease.owner_token, h.lease.etcd_lease_id) << "v3 (memory): the lease id";
  Host again(h.reg);
  const auto start = SteadyClock::now();
  auto l = again.store->AcquireLease(
      Config(kNet16),
      Guarded("bb:bb:bb:bb:bb:bb", OwnerRecord{h.lease.subnet, h.lease.owner_token}), {});
  ASSERT_TRUE(l.ok()) << l.error().message;
  EXPECT_EQ(l->subnet, h.lease.subnet);
  EXPECT_NE(l->owner_token, h.lease.owner_token) << "a new etcd lease, recorded anew";
  EXPECT_LT(SteadyClock::now() - start, 1s);
}

// The host's address changed while tartand ran: the lease the record names is written again
// with the new public IP, same subnet; a record that names another holder's lease claims
// nothing.
TEST(SharedIpGuard, TheRecordedLeaseFollowsANewPublicIp) {
  Holder h;
  Host again(h.reg);
  AcquireRequest req =
      Guarded("aa:aa:aa:aa:aa:aa", OwnerRecord{h.lease.subnet, h.lease.owner_token});
  req.attrs.public_ip = *net::Ip4::Parse("192.0.2.21");
  auto l = again.store->AcquireLease(Config(kNet16), req, {});
  ASSERT_TRUE(l.ok()) << l.error().message;
  EXPECT_EQ(l->subnet, h.lease.subnet);
  EXPECT_EQ(l->attrs.public_ip, req.attrs.public_ip);
  auto listed = again.store->ListLeases();
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->leases.size(), 1u) << "the key is rewritten, not a second one made";
  EXPECT_EQ(listed->leases[0].attrs.public_ip, req.attrs.public_ip);

  Host third(h.reg);
  AcquireRequest other =
      Guarded("cc:cc:cc:cc:cc:cc", OwnerRecord{h.lease.subnet, l->owner_token + 1000});
  other.attrs.public_ip = *net::Ip4::Parse("192.0.2.31");
  auto m = third.store->AcquireLease(Config(kNet16), other, {});
  ASSERT_TRUE(m.ok()) << m.error().message;
  EXPECT_NE(m->subnet, h.lease.subnet) << "not ours by the record: a subnet of its own";
}

// After etcd was restored from a snapshot, our key sits on the snapshot's etcd lease (freshly
// renewed by the restore) while the record names the one we held since. Without the reset
// flag that lease is watched for the heartbeat window (a live host's, for all we know); with
// it, the record's subnet names our lease at once.
TEST(SharedIpGuard, AfterAStoreResetTheRecordedSubnetIsOurs) {
  Holder h;
  Host again(h.reg);
  AcquireRequest req =
      Guarded("bb:bb:bb:bb:bb:bb", OwnerRecord{h.lease.subnet, h.lease.owner_token + 1000});
  req.after_store_reset = true;
  const auto start = SteadyClock::now();
  auto l = again.store->AcquireLease(Config(kNet16), req, {});
  ASSERT_TRUE(l.ok()) << l.error().message;
  EXPECT_EQ(l->subnet, h.lease.subnet);
  EXPECT_LT(SteadyClock::now() - start, 1s) << "not watched for the 8 s window";
  EXPECT_FALSE(again.Logged("its previous holder is gone")) << "ours, not taken over";
}

TEST(SharedIpGuard, LongSilentLeaseIsTakenOverAtOnce) {
  Holder h;
  h.reg->AgeLease(h.lease.etcd_lease_id, 600s);  // e.g. our reboot lost the record
  Host b(h.reg);
  const auto start = SteadyClock::now();
  auto l = b.store->AcquireLease(Config(kNet16), Guarded("bb:bb:bb:bb:bb:bb"), {});
  ASSERT_TRUE(l.ok()) << l.error().message;
  EXPECT_EQ(l->subnet, h.lease.subnet);
  EXPECT_LT(SteadyClock::now() - start, 1s);
  EXPECT_TRUE(b.Logged("its previous holder is gone"));
}

TEST(SharedIpGuard, LeaseAnotherHostRenewsIsRefusedThenTakenWhenItStops) {
  Holder h;
  std::atomic<bool> renewing{true};
  std::jthread heartbeat([&](const std::stop_token& st) {
    while (!st.stop_requested()) {
      if (renewing) (void)h.a.store->RenewLease(h.lease);
      std::this_thread::sleep_for(200ms);
    }
  });
  Host b(h.reg);
  auto l = b.store->AcquireLease(Config(kNet16), Guarded("bb:bb:bb:bb:bb:bb"), {});
  ASSERT_FALSE(l.ok());
  EXPECT_EQ(l.error().code, Error::Code::kAlreadyExists);
  EXPECT_NE(l.error().message.find("another host renews it"), std::string::npos)
      << l.error().message;
  EXPECT_NE(l.error().message.find("192.0.2.1"), std::string::npos);
  EXPECT_TRUE(b.Logged("watching whether another host renews it"));
  auto listing = h.reg->List(kDir);
  ASSERT_TRUE(listing.ok());
  EXPECT_EQ(listing->kvs.size(), 1u) << "no second subnet for the same public IP";
  EXPECT_EQ(listing->kvs[0].lease, h.lease.etcd_lease_id) << "A's lease untouched";

  // A stops (for good): B, retrying as the agent does, takes the lease once the window passed.
  renewing = false;
  const auto stopped = SteadyClock::now();
  Result<model::Lease> taken = Error::Internal("not yet");
  ASSERT_TRUE(testing::WaitUntil(
      [&] {
        taken = b.store->AcquireLease(Config(kNet16), Guarded("bb:bb:bb:bb:bb:bb"), {});
        if (!taken.ok()) std::this_thread::sleep_for(500ms);
        return taken.ok();
      },
      20s));
  EXPECT_EQ(taken->subnet, h.lease.subnet);
  EXPECT_LE(SteadyClock::now() - stopped, DupIpWindow(3s) + 2s);
}

TEST(SharedIpGuard, OffMeansFlannelsReuseByPublicIp) {
  Holder h;
  Host b(h.reg);
  AcquireRequest req = Guarded("bb:bb:bb:bb:bb:bb");
  req.guard_shared_ip = false;
  auto l = b.store->AcquireLease(Config(kNet16), req, {});
  ASSERT_TRUE(l.ok());
  EXPECT_EQ(l->subnet, h.lease.subnet);
}

TEST(KeepLeaseAlive, HeartbeatRefreshesEveryPeriod) {
  Holder h;
  h.reg->AgeLease(h.lease.etcd_lease_id, 100s);
  std::stop_source stop;
  std::atomic<int> renewals{0};
  std::jthread keeper([&] {
    (void)KeepLeaseAlive(
        *h.a.store, h.lease, std::chrono::minutes(60), stop.get_token(),
        [&](const model::Lease&) { ++renewals; }, {}, {}, 3s);
  });
  ASSERT_TRUE(testing::WaitUntil([&] { return renewals.load() >= 1; }, 5s));
  auto kv = h.reg->Get(std::string(kDir) + h.lease.subnet.ToString());
  ASSERT_TRUE(kv.ok() && *kv);
  auto ttl = h.reg->RemainingTtl(**kv);
  ASSERT_TRUE(ttl.ok() && *ttl);
  EXPECT_GE(**ttl, 86399s) << "refreshed to the full TTL";
  stop.request_stop();
}

}  // namespace
}  // namespace tartan::store
