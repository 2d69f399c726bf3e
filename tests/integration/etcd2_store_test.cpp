// The etcd v2 client and SubnetStore against one real etcd 3.4 member with --enable-v2, the
// key space flanneld v0.11 uses.
#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <set>

#include "fixtures/etcd_fixture.hpp"
#include "integration/integration_util.hpp"
#include "integration/store_scenarios.hpp"
#include "store/etcd2/client.hpp"
#include "store/subnet_store.hpp"

namespace tartan::testing {
namespace {

using store::etcd2::Client;
using namespace std::chrono_literals;

const char kNet[] = R"({"Network":"10.5.0.0/16","Backend":{"Type":"vxlan"}})";

model::LeaseAttrs HostGwAttrs(const std::string& ip) {
  model::LeaseAttrs a;
  a.public_ip = *net::Ip4::Parse(ip);
  a.backend_type = "host-gw";
  return a;
}

class Etcd2StoreTest : public StoreSuite<Etcd2StoreTest, Client> {
 protected:
  static void SetUpTestSuite() { StartEtcd({.enable_v2 = true}); }
  std::optional<store::etcd2::codec::Node> Node(const std::string& seg) {
    auto n = client_->GetNode(Key(seg));
    EXPECT_TRUE(n.ok()) << (n.ok() ? "" : n.error().message);
    return n.ok() ? *n : std::nullopt;
  }
};

TEST_F(Etcd2StoreTest, RawKeysPseudoLeasesAndConditionalPut) {
  auto set = client_->Set(prefix_ + "/a", "1");
  ASSERT_TRUE(set.ok()) << set.error().message;
  auto got = client_->Get(prefix_ + "/a");
  ASSERT_TRUE(got.ok() && *got);
  EXPECT_EQ((*got)->value, "1");
  EXPECT_EQ((*got)->mod_revision, *set);
  EXPECT_EQ((*got)->lease, 0) << "a key without TTL is not attached to a lease";
  auto absent = client_->Get(prefix_ + "/nope");
  ASSERT_TRUE(absent.ok());
  EXPECT_FALSE(absent->has_value());

  auto grant = client_->GrantLease(30s);
  ASSERT_TRUE(grant.ok()) << grant.error().message;
  EXPECT_EQ(grant->ttl, 30s);
  auto created = client_->PutIf(prefix_ + "/b", "2", grant->id, 0);
  ASSERT_TRUE(created.ok() && created->has_value())
      << (created.ok() ? "" : created.error().message);
  auto node = client_->GetNode(prefix_ + "/b");
  ASSERT_TRUE(node.ok() && *node);
  EXPECT_TRUE((*node)->has_ttl);
  EXPECT_GT((*node)->ttl, 25);
  auto again = client_->PutIf(prefix_ + "/b", "3", grant->id, 0);
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(again->has_value()) << "create-if-absent must fail on an existing key";
  auto stale = client_->PutIf(prefix_ + "/b", "3", grant->id, **created - 1);
  ASSERT_TRUE(stale.ok());
  EXPECT_FALSE(stale->has_value()) << "compare-and-swap on an old index must fail";
  auto cas = client_->PutIf(prefix_ + "/b", "4", grant->id, **created);
  ASSERT_TRUE(cas.ok() && cas->has_value());

  auto list = client_->List(prefix_ + "/");
  ASSERT_TRUE(list.ok()) << list.error().message;
  ASSERT_EQ(list->kvs.size(), 2u);
  EXPECT_EQ(list->kvs[0].key, prefix_ + "/a");
  EXPECT_EQ(list->kvs[1].lease, grant->id);
  EXPECT_GE(list->revision, **cas);

  // A refresh keeps the value, resets the TTL, and is what the key's index now is.
  auto ka = client_->KeepAlive(grant->id);
  ASSERT_TRUE(ka.ok()) << ka.error().message;
  EXPECT_EQ(*ka, 30s);
  auto after = client_->Get(prefix_ + "/b");
  ASSERT_TRUE(after.ok() && *after);
  EXPECT_EQ((*after)->value, "4");
  EXPECT_EQ((*after)->lease, grant->id) << "still ours after the refresh";

  ASSERT_TRUE(client_->RevokeLease(grant->id).ok());
  auto gone = client_->Get(prefix_ + "/b");
  ASSERT_TRUE(gone.ok());
  EXPECT_FALSE(gone->has_value()) << "revoking the lease deletes its key";
  auto dead = client_->KeepAlive(grant->id);
  ASSERT_FALSE(dead.ok());
  EXPECT_EQ(dead.error().code, Error::Code::kNotFound);
  EXPECT_TRUE(client_->RevokeLease(grant->id).ok()) << "revoking an unknown lease is fine";
}

TEST_F(Etcd2StoreTest, ALeaseNeverTouchesAKeySomeoneElseRewrote) {
  auto grant = client_->GrantLease(60s);
  ASSERT_TRUE(grant.ok());
  auto created = client_->PutIf(prefix_ + "/k", "mine", grant->id, 0);
  ASSERT_TRUE(created.ok() && created->has_value());
  // Another writer takes the key over (as flanneld would after our lease expired).
  ASSERT_TRUE(cluster_->EtcdctlV2({"set", "--ttl=60", prefix_ + "/k", "theirs"}).ok());
  auto kv = client_->Get(prefix_ + "/k");
  ASSERT_TRUE(kv.ok() && *kv);
  EXPECT_NE((*kv)->lease, grant->id);
  EXPECT_NE((*kv)->lease, 0) << "someone else's key with a TTL is on some lease";
  auto ka = client_->KeepAlive(grant->id);
  ASSERT_FALSE(ka.ok());
  EXPECT_EQ(ka.error().code, Error::Code::kNotFound) << ka.error().message;
  EXPECT_TRUE(client_->RevokeLease(grant->id).ok());
  auto still = client_->Get(prefix_ + "/k");
  ASSERT_TRUE(still.ok() && *still);
  EXPECT_EQ((*still)->value, "theirs") << "neither the refresh nor the revoke overwrote it";
}

TEST_F(Etcd2StoreTest, ReadsTheConfigWrittenWithEtcdctlV2) {
  // Written as the flannel v0.11 deployment guide does it.
  ASSERT_NO_FATAL_FAILURE(
      ExpectTheConfigOnceWritten(*store_, log_, "ETCDCTL_API=2 'etcdctl set'", [&] {
        return cluster_->EtcdctlV2({"set", prefix_ + "/config", kNet}).ok();
      }));
  // The v3 key space does not see it: the two are separate in etcd.
  auto v3 = cluster_->Etcdctl({"get", prefix_ + "/config"});
  ASSERT_TRUE(v3.ok());
  EXPECT_EQ(*v3, "");
}

TEST_F(Etcd2StoreTest, NewLeaseIsWhatFlanneldV011WritesWithA24hTtl) {
  auto vx = store_->AcquireLease(ParseConfig(kNet),
                                 {VxlanAttrs("192.0.2.1", "c6:d2:32:6f:8f:44"), std::nullopt}, {});
  ASSERT_TRUE(vx.ok()) << vx.error().message;
  auto out = cluster_->EtcdctlV2({"get", Key(vx->subnet.ToString())});
  ASSERT_TRUE(out.ok()) << out.error().message;
  EXPECT_EQ(
      *out,
      R"({"PublicIP":"192.0.2.1","BackendType":"vxlan","BackendData":{"VtepMAC":"c6:d2:32:6f:8f:44"}})"
      "\n");
  auto node = Node(vx->subnet.ToString());
  ASSERT_TRUE(node);
  EXPECT_TRUE(node->has_ttl);
  EXPECT_GT(node->ttl, 86400 - 60);
  EXPECT_LE(node->ttl, 86400);
  EXPECT_EQ(vx->revision, node->modified_index);

  auto hg = store_->AcquireLease(ParseConfig(kNet), {HostGwAttrs("192.0.2.2"), std::nullopt}, {});
  ASSERT_TRUE(hg.ok()) << hg.error().message;
  EXPECT_EQ(Node(hg->subnet.ToString())->value,
            R"({"PublicIP":"192.0.2.2","BackendType":"host-gw"})");
  model::LeaseAttrs udp;
  udp.public_ip = *net::Ip4::Parse("192.0.2.3");
  auto u = store_->AcquireLease(ParseConfig(kNet), {udp, std::nullopt}, {});
  ASSERT_TRUE(u.ok()) << u.error().message;
  EXPECT_EQ(Node(u->subnet.ToString())->value, R"({"PublicIP":"192.0.2.3"})");

  auto snap = store_->ListLeases();
  ASSERT_TRUE(snap.ok()) << snap.error().message;
  EXPECT_EQ(snap->leases.size(), 3u);
}

TEST_F(Etcd2StoreTest, ReuseByPublicIpThenPreviousSubnetThenNew) {
  const auto cfg = ParseConfig(kNet);
  auto first =
      store_->AcquireLease(cfg, {VxlanAttrs("192.0.2.1", "02:00:00:00:00:01"), std::nullopt}, {});
  ASSERT_TRUE(first.ok()) << first.error().message;
  // A restart: a new process (client) with the same public IP and a new MAC gets the same
  // subnet, the key re-written in place with a fresh TTL.
  auto restarted = store::NewSubnetStore(NewClient(), FastOptions(prefix_, log_.Fn()));
  auto again = restarted->AcquireLease(
      cfg, {VxlanAttrs("192.0.2.1", "02:00:00:00:00:02"), std::nullopt}, {});
  ASSERT_TRUE(again.ok()) << again.error().message;
  EXPECT_EQ(again->subnet, first->subnet);
  EXPECT_FALSE(again->is_reservation());
  auto node = Node(first->subnet.ToString());
  ASSERT_TRUE(node);
  EXPECT_NE(node->value.find("02:00:00:00:00:02"), std::string::npos);
  EXPECT_TRUE(node->has_ttl);
  EXPECT_TRUE(log_.Contains("reusing lease"));

  ExpectAPreviousSubnetGivenOnce(*store_, cfg, *first);
}

TEST_F(Etcd2StoreTest, ReservationIsHonouredAndNeverGivenATtl) {
  // An operator pins 10.5.77.0/24 to 192.0.2.7 with v2 etcdctl, no TTL.
  const std::string pinned = R"({"PublicIP":"192.0.2.7","BackendType":"host-gw"})";
  ASSERT_TRUE(cluster_->EtcdctlV2({"set", Key("10.5.77.0-24"), pinned}).ok());
  auto lease =
      store_->AcquireLease(ParseConfig(kNet), {HostGwAttrs("192.0.2.7"), std::nullopt}, {});
  ASSERT_TRUE(lease.ok()) << lease.error().message;
  EXPECT_EQ(lease->subnet.ToString(), "10.5.77.0-24");
  EXPECT_TRUE(lease->is_reservation());
  EXPECT_FALSE(lease->expiration.has_value());
  auto node = Node("10.5.77.0-24");
  ASSERT_TRUE(node);
  EXPECT_FALSE(node->has_ttl) << "a reservation must never get a TTL";
  EXPECT_EQ(node->value, pinned) << "same attributes: not rewritten";

  // Renewal of a reservation keeps it as it is.
  auto renewed = store_->RenewLease(*lease);
  ASSERT_TRUE(renewed.ok()) << renewed.error().message;
  EXPECT_FALSE(Node("10.5.77.0-24")->has_ttl);

  // A vxlan host on a pinned subnet: its new MAC is written, still without a TTL.
  ASSERT_TRUE(
      cluster_->EtcdctlV2({"set", Key("10.5.78.0-24"), R"({"PublicIP":"192.0.2.8"})"}).ok());
  auto vx = store_->AcquireLease(ParseConfig(kNet),
                                 {VxlanAttrs("192.0.2.8", "02:00:00:00:00:08"), std::nullopt}, {});
  ASSERT_TRUE(vx.ok()) << vx.error().message;
  EXPECT_EQ(vx->subnet.ToString(), "10.5.78.0-24");
  auto vnode = Node("10.5.78.0-24");
  ASSERT_TRUE(vnode);
  EXPECT_FALSE(vnode->has_ttl);
  EXPECT_EQ(
      vnode->value,
      R"({"PublicIP":"192.0.2.8","BackendType":"vxlan","BackendData":{"VtepMAC":"02:00:00:00:00:08"}})");

  // Another host never gets a pinned subnet.
  auto other = store_->AcquireLease(
      ParseConfig(kNet), {HostGwAttrs("192.0.2.9"), *model::SubnetKey::Parse("10.5.77.0-24")}, {});
  ASSERT_TRUE(other.ok());
  EXPECT_NE(other->subnet.ToString(), "10.5.77.0-24");
}

TEST_F(Etcd2StoreTest, RenewalKeepsTheLeaseAliveAndRevocationIsReported) {
  ExpectRenewalUntilRevoked(
      *store_, ParseConfig(kNet),
      [&](const model::Lease& lease) {
        auto node = Node(lease.subnet.ToString());
        ASSERT_TRUE(node) << "key must outlive its 3 s TTL";
        EXPECT_TRUE(node->has_ttl);
        EXPECT_EQ(node->created_index, lease.revision) << "refreshed in place, never re-created";
      },
      [&](const model::Lease& lease) {
        return cluster_->EtcdctlV2({"rm", Key(lease.subnet.ToString())}).ok();
      });
}

TEST_F(Etcd2StoreTest, RenewalOfAKeyRewrittenBySomeoneElseIsARevocation) {
  auto lease =
      store_->AcquireLease(ParseConfig(kNet), {HostGwAttrs("192.0.2.1"), std::nullopt}, {});
  ASSERT_TRUE(lease.ok()) << lease.error().message;
  const std::string theirs = R"({"PublicIP":"192.0.2.66","BackendType":"host-gw"})";
  ASSERT_TRUE(
      cluster_->EtcdctlV2({"set", "--ttl=600", Key(lease->subnet.ToString()), theirs}).ok());
  auto renewed = store_->RenewLease(*lease);
  ASSERT_FALSE(renewed.ok());
  EXPECT_EQ(renewed.error().code, Error::Code::kNotFound) << renewed.error().message;
  EXPECT_EQ(Node(lease->subnet.ToString())->value, theirs);
}

TEST_F(Etcd2StoreTest, WatchReportsAddChangeRemoveExpireAndSkipsGarbage) {
  auto v2set = [&](const std::string& seg, const std::string& value, const std::string& ttl = "") {
    std::vector<std::string> args = {"set"};
    if (!ttl.empty()) args.push_back("--ttl=" + ttl);
    args.push_back(Key(seg));
    args.push_back(value);
    auto r = cluster_->EtcdctlV2(args);
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message);
  };
  // flanneld v0.11's own value, one in the current era's shape, and two kinds of garbage.
  v2set(
      "10.5.1.0-24",
      R"({"PublicIP":"192.0.2.1","BackendType":"vxlan","BackendData":{"VtepMAC":"66:90:db:29:5b:c3"}})",
      "600");
  v2set("10.5.5.0-24", HostGwAttrs("192.0.2.5").ToJson(), "600");
  v2set("10.5.2.0-24", "{this is not json");
  v2set("garbage-key", HostGwAttrs("192.0.2.9").ToJson());
  std::stop_source stop;
  auto watch = store_->WatchLeases(stop.get_token());
  auto snap = watch->Next();
  ASSERT_TRUE(snap.ok()) << snap.error().message;
  ASSERT_EQ(snap->snapshot.size(), 2u) << "the bad keys are skipped, the good ones kept";
  EXPECT_EQ(snap->snapshot[0].attrs.backend_data, R"({"VtepMAC":"66:90:db:29:5b:c3"})");

  auto next = [&]() {
    auto b = watch->Next();
    EXPECT_TRUE(b.ok()) << (b.ok() ? "" : b.error().message);
    return b.ok() ? b->events : std::vector<store::LeaseEvent>{};
  };
  v2set("10.5.3.0-24",
        VxlanAttrs("192.0.2.3", "02:00:00:00:00:03").ToJson(model::LeaseShape::kV011), "600");
  auto ev = next();
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].type, store::LeaseEvent::Type::kAdded);
  EXPECT_EQ(ev[0].lease.subnet.ToString(), "10.5.3.0-24");

  // Garbage written over a valid peer and a new garbage key: no event at all, the peer is not
  // dropped; the next valid change comes through alone.
  v2set("10.5.1.0-24", "garbage", "600");
  v2set("10.5.4.0-99", "{}");
  v2set("10.5.3.0-24",
        VxlanAttrs("192.0.2.33", "02:00:00:00:00:03").ToJson(model::LeaseShape::kV011), "600");
  ev = next();
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].type, store::LeaseEvent::Type::kChanged);
  EXPECT_EQ(ev[0].lease.attrs.public_ip->ToString(), "192.0.2.33");

  ASSERT_TRUE(cluster_->EtcdctlV2({"rm", Key("10.5.3.0-24")}).ok());
  ev = next();
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].type, store::LeaseEvent::Type::kRemoved);
  EXPECT_EQ(ev[0].lease.subnet.ToString(), "10.5.3.0-24");

  // A key whose TTL runs out comes as an "expire" event: removed.
  v2set("10.5.6.0-24", HostGwAttrs("192.0.2.6").ToJson(), "1");
  ev = next();
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].type, store::LeaseEvent::Type::kAdded);
  ev = next();  // etcd expires keys on its own clock, within about a second after the TTL
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].type, store::LeaseEvent::Type::kRemoved);
  EXPECT_EQ(ev[0].lease.subnet.ToString(), "10.5.6.0-24");
  EXPECT_TRUE(log_.Contains("garbage-key"));

  // The whole directory removed at once is one event for the directory: listed again, every
  // lease under it is reported removed (10.5.1.0 kept its last good state until now).
  ASSERT_TRUE(cluster_->EtcdctlV2({"rm", "--recursive", prefix_ + "/subnets"}).ok());
  std::set<std::string> removed;
  while (removed.size() < 2) {
    auto b = next();
    ASSERT_FALSE(b.empty());
    for (const auto& e : b) {
      EXPECT_EQ(e.type, store::LeaseEvent::Type::kRemoved);
      removed.insert(e.lease.subnet.ToString());
    }
  }
  EXPECT_EQ(removed, (std::set<std::string>{"10.5.1.0-24", "10.5.5.0-24"}));
  stop.request_stop();
}

// etcd v2 keeps the last 1000 events. A watch that does not read while more happen resumes
// at an index etcd no longer has (errorCode 401): it lists again and reports only the
// difference.
TEST_F(Etcd2StoreTest, HistoryClearedUnderAPausedWatchReListsAndReportsTheDifference) {
  for (int i = 1; i <= 3; ++i) {
    ASSERT_TRUE(client_
                    ->Set(Key("10.5." + std::to_string(i) + ".0-24"),
                          HostGwAttrs("192.0.2." + std::to_string(i)).ToJson(), 600s)
                    .ok());
  }
  std::stop_source stop;
  auto watch = store_->WatchLeases(stop.get_token());
  auto snap = watch->Next();
  ASSERT_TRUE(snap.ok()) << snap.error().message;
  ASSERT_EQ(snap->snapshot.size(), 3u);

  // While nobody reads the watch: one lease goes, one changes, one comes, one is re-written
  // unchanged; then more than 1000 unrelated writes push all of that out of etcd's history.
  ASSERT_TRUE(client_->Delete(Key("10.5.1.0-24")).ok());
  ASSERT_TRUE(client_->Set(Key("10.5.2.0-24"), HostGwAttrs("192.0.2.22").ToJson(), 600s).ok());
  ASSERT_TRUE(client_->Set(Key("10.5.4.0-24"), HostGwAttrs("192.0.2.4").ToJson(), 600s).ok());
  ASSERT_TRUE(client_->Set(Key("10.5.3.0-24"), HostGwAttrs("192.0.2.3").ToJson(), 600s).ok());
  for (int i = 0; i < 1100; ++i) {
    ASSERT_TRUE(client_->Set(prefix_ + "/noise", std::to_string(i)).ok());
  }

  std::map<std::string, store::LeaseEvent::Type> seen;
  while (seen.size() < 3) {
    auto b = watch->Next();
    ASSERT_TRUE(b.ok()) << b.error().message;
    for (const auto& e : b->events) {
      EXPECT_FALSE(seen.contains(e.lease.subnet.ToString())) << e.lease.subnet.ToString();
      seen[e.lease.subnet.ToString()] = e.type;
    }
  }
  EXPECT_EQ(seen, (std::map<std::string, store::LeaseEvent::Type>{
                      {"10.5.1.0-24", store::LeaseEvent::Type::kRemoved},
                      {"10.5.2.0-24", store::LeaseEvent::Type::kChanged},
                      {"10.5.4.0-24", store::LeaseEvent::Type::kAdded},
                  }));
  EXPECT_TRUE(log_.Contains("listing again")) << "recovered through a re-list";

  // And it carries on watching from the listing.
  ASSERT_TRUE(client_->Set(Key("10.5.9.0-24"), HostGwAttrs("192.0.2.99").ToJson(), 600s).ok());
  auto b = watch->Next();
  ASSERT_TRUE(b.ok()) << b.error().message;
  ASSERT_EQ(b->events.size(), 1u);
  EXPECT_EQ(b->events[0].type, store::LeaseEvent::Type::kAdded);
  EXPECT_EQ(b->events[0].lease.subnet.ToString(), "10.5.9.0-24");
  stop.request_stop();
}

// Only two subnets are free: two new nodes racing end with distinct ones; with only one free,
// one of them wins and the other is told cleanly that the network is out of subnets.
TEST_F(Etcd2StoreTest, TwoStoresRaceForTheLastFreeSubnets) {
  // 10.5.1.0 .. 10.5.3.0 can be handed out (10.5.0.0 never).
  const auto cfg = ParseConfig(R"({"Network":"10.5.0.0/22","SubnetLen":24})");
  for (int free = 2; free >= 1; --free) {
    SCOPED_TRACE(std::to_string(free) + " free");
    ASSERT_TRUE(client_->Delete(prefix_ + "/subnets", /*recursive=*/true).ok() || free == 2);
    for (int i = 1; i <= 3 - free; ++i) {
      ASSERT_TRUE(client_
                      ->Set(Key("10.5." + std::to_string(i) + ".0-24"),
                            HostGwAttrs("192.0.2." + std::to_string(100 + i)).ToJson(), 600s)
                      .ok());
    }
    std::vector<std::unique_ptr<store::SubnetStore>> stores;
    stores.reserve(2);
    for (int i = 0; i < 2; ++i) {
      stores.push_back(store::NewSubnetStore(NewClient(), FastOptions(prefix_, log_.Fn())));
    }
    std::promise<void> go;
    std::shared_future<void> start = go.get_future().share();
    std::vector<std::future<Result<model::Lease>>> results;
    results.reserve(2);
    for (int i = 0; i < 2; ++i) {
      results.push_back(std::async(std::launch::async, [&, i] {
        start.wait();
        return stores[i]->AcquireLease(
            cfg, {HostGwAttrs("192.0.2." + std::to_string(10 + i)), std::nullopt}, {});
      }));
    }
    go.set_value();
    std::set<std::string> won;
    int exhausted = 0;
    for (auto& r : results) {
      auto lease = r.get();
      if (lease.ok()) {
        won.insert(lease->subnet.ToString());
      } else {
        EXPECT_EQ(lease.error().code, Error::Code::kExhausted) << lease.error().message;
        ++exhausted;
      }
    }
    EXPECT_EQ(won.size(), static_cast<size_t>(free));
    EXPECT_EQ(exhausted, 2 - free);
    auto list = client_->List(prefix_ + "/subnets/");
    ASSERT_TRUE(list.ok());
    EXPECT_EQ(list->kvs.size(), 3u) << "every subnet taken once, nothing overwritten";
  }
}

TEST_F(Etcd2StoreTest, ListOfAMissingDirectoryIsEmptyAtTheCurrentIndex) {
  auto set = client_->Set(prefix_ + "/elsewhere", "x");
  ASSERT_TRUE(set.ok());
  auto list = client_->List(prefix_ + "/subnets/");
  ASSERT_TRUE(list.ok()) << list.error().message;
  EXPECT_TRUE(list->kvs.empty());
  EXPECT_GE(list->revision, *set);
  // A watch from there sees the first lease.
  auto w = client_->Watch(prefix_ + "/subnets/", list->revision + 1);
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE(client_->Set(Key("10.5.1.0-24"), "{}").ok());
  auto b = (*w)->Next();
  ASSERT_TRUE(b.ok()) << b.error().message;
  ASSERT_EQ(b->events.size(), 1u);
  EXPECT_EQ(b->events[0].kv.key, Key("10.5.1.0-24"));

  // Cancel unblocks a pending Next.
  auto pending = std::async(std::launch::async, [&] { return (*w)->Next(); });
  (*w)->Cancel();
  ASSERT_EQ(pending.wait_for(std::chrono::seconds(5)), std::future_status::ready);
  auto r = pending.get();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Error::Code::kCancelled);
}

TEST_F(Etcd2StoreTest, DualStackKeysAreEscaped) {
  const std::string key = Key("10.12.13.0-24&fd00:12:13::-56");
  auto grant = client_->GrantLease(60s);
  ASSERT_TRUE(grant.ok());
  auto put =
      client_->PutIf(key, R"({"PublicIP":"192.0.2.1","PublicIPv6":"fd00::1"})", grant->id, 0);
  ASSERT_TRUE(put.ok() && put->has_value()) << (put.ok() ? "" : put.error().message);
  auto list = client_->List(prefix_ + "/subnets/");
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->kvs.size(), 1u);
  EXPECT_EQ(list->kvs[0].key, key);
  EXPECT_EQ(list->kvs[0].lease, grant->id);
  EXPECT_TRUE(client_->KeepAlive(grant->id).ok());
  EXPECT_TRUE(client_->RevokeLease(grant->id).ok());
  auto gone = client_->Get(key);
  ASSERT_TRUE(gone.ok());
  EXPECT_FALSE(gone->has_value());
}

TEST_F(Etcd2StoreTest, ErrorsNameTheEndpointAndTheCause) {
  Error e;
  ExpectAClosedPortNamed<Client>(&e);
}

}  // namespace
}  // namespace tartan::testing
