// The incremental path (peer_apply.hpp, Reconciler::ApplyDelta) against the full pass: after any
// sequence of lease events the kernel holds what a full pass would leave, and no event dumps it.
#include <gtest/gtest.h>

#include <algorithm>
#include <random>

#include "agent/peer_apply.hpp"
#include "agent/peer_table.hpp"
#include "agent/reconciler.hpp"
#include "backend/hostgw/hostgw.hpp"
#include "backend/vxlan/vxlan.hpp"
#include "kernel/fake_rtnl.hpp"
#include "model/lease_filter.hpp"

namespace tartan::agent {
namespace {

net::Ip4 A(const std::string& s) { return *net::Ip4::Parse(s); }
net::Ip4Net N(const std::string& s) { return *net::Ip4Net::Parse(s); }

// FakeRtnl with a count of the dumps (List* calls).
class CountingRtnl final : public kernel::Rtnl {
 public:
  kernel::FakeRtnl fake;
  int dumps = 0;

  Result<kernel::Link> GetLink(int i) override { return fake.GetLink(i); }
  Result<kernel::Link> GetLinkByName(std::string_view n) override { return fake.GetLinkByName(n); }
  Result<std::vector<kernel::Link>> ListLinks() override { return fake.ListLinks(); }
  Result<kernel::Link> CreateLink(const kernel::Link& l) override { return fake.CreateLink(l); }
  Status SetLinkUp(int i, bool up) override { return fake.SetLinkUp(i, up); }
  Status SetLinkMtu(int i, uint32_t m) override { return fake.SetLinkMtu(i, m); }
  Status SetLinkMac(int i, const net::Mac& m) override { return fake.SetLinkMac(i, m); }
  Status DeleteLink(int i) override { return fake.DeleteLink(i); }
  Result<std::vector<kernel::Address>> ListAddresses(int i) override {
    return fake.ListAddresses(i);
  }
  Status AddAddress(const kernel::Address& a) override { return fake.AddAddress(a); }
  Status DeleteAddress(const kernel::Address& a) override { return fake.DeleteAddress(a); }
  Result<std::vector<kernel::Route>> ListRoutes(const kernel::RouteFilter& f) override {
    ++dumps;
    return fake.ListRoutes(f);
  }
  Status AddRoute(const kernel::Route& r) override { return fake.AddRoute(r); }
  Status ReplaceRoute(const kernel::Route& r) override { return fake.ReplaceRoute(r); }
  Status DeleteRoute(const kernel::Route& r) override { return fake.DeleteRoute(r); }
  Result<kernel::RouteLookup> LookupRoute(net::Ip4 d) override { return fake.LookupRoute(d); }
  Result<std::vector<kernel::Neighbour>> ListNeighbours(int i) override {
    ++dumps;
    return fake.ListNeighbours(i);
  }
  Status ReplaceNeighbour(const kernel::Neighbour& n) override { return fake.ReplaceNeighbour(n); }
  Status DeleteNeighbour(const kernel::Neighbour& n) override { return fake.DeleteNeighbour(n); }
  Result<std::vector<kernel::FdbEntry>> ListFdb(int i) override {
    ++dumps;
    return fake.ListFdb(i);
  }
  Status AppendFdb(const kernel::FdbEntry& e) override { return fake.AppendFdb(e); }
  Status ReplaceFdb(const kernel::FdbEntry& e) override { return fake.ReplaceFdb(e); }
  Status DeleteFdb(const kernel::FdbEntry& e) override { return fake.DeleteFdb(e); }
  // Nexthop objects (ADR 0021): what the layer says it dropped as unused.
  std::vector<uint32_t> dropped;
  int drop_calls = 0;
  Status DropUnusedNexthops() override {
    ++drop_calls;
    return Status::Ok();
  }
  bool NexthopRemovalExpected(uint32_t id) const override {
    return std::find(dropped.begin(), dropped.end(), id) != dropped.end();
  }
};

model::Lease L(const std::string& key, const std::string& ip, const std::string& type,
               const std::string& data = {}) {
  model::Lease l;
  l.subnet = *model::SubnetKey::Parse(key);
  if (!ip.empty()) l.attrs.public_ip = A(ip);
  l.attrs.backend_type = type;
  l.attrs.backend_data = data;
  l.etcd_lease_id = 1;
  return l;
}

// One host with eth0 192.0.2.11/24, a peer table, a backend and a reconciler, driven like the
// agent drives them.
class Incremental : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    kernel::Link eth0;
    eth0.name = "eth0";
    eth0.mtu = 1500;
    eth0.up = true;
    ext_.index = rtnl_.fake.AddLinkForTest(eth0);
    ext_.name = "eth0";
    ext_.mtu = 1500;
    ext_.iface_addr = A("192.0.2.11");
    ext_.public_ip = ext_.iface_addr;
    ext_.connected = {N("192.0.2.0/24")};
    // The kernel's own route for eth0's network, and a default route: other programs' routes.
    kernel::Route conn = kernel::Route::Direct(N("192.0.2.0/24"), ext_.index);
    conn.protocol = kernel::kRouteProtocolKernel;
    ASSERT_TRUE(rtnl_.fake.AddRoute(conn).ok());
    kernel::Route def = kernel::Route::Via(N("0.0.0.0/0"), A("192.0.2.1"), ext_.index);
    def.protocol = kernel::kRouteProtocolBoot;
    ASSERT_TRUE(rtnl_.fake.AddRoute(def).ok());

    config_ = *model::NetworkConfig::Parse(R"({"Network":"10.244.0.0/16","Backend":{"Type":")" +
                                           GetParam() + R"("}})");
    if (GetParam() == "vxlan") {
      backend::VxlanConfig vc;
      vc.direct_routing = true;
      auto be = backend::VxlanBackend::Create(
          vc, ext_, rtnl_, [] { return uint64_t{0x0000a1b2c3d4e5f6}; }, {}, "6.1.0");
      ASSERT_TRUE(be.ok()) << be.error().message;
      backend_ = std::move(*be);
    } else {
      auto be = backend::HostGwBackend::Create(ext_);
      ASSERT_TRUE(be.ok());
      backend_ = std::move(*be);
    }
    own_ = L("10.244.1.0-24", "192.0.2.11", GetParam());
    table_.SetOwn(own_);
  }

  // The agent's full pass over the whole table.
  ReconcileStats FullPass() {
    std::vector<model::Lease> peers;
    for (const auto& [k, l] : table_.leases()) peers.push_back(l);
    auto filtered = model::FilterLeases(config_, peers);
    auto desired = backend_->Desired(own_, filtered.valid);
    desired.problems.insert(desired.problems.end(), filtered.skipped.begin(),
                            filtered.skipped.end());
    auto stats = rec_.Apply(desired, backend_->owned_links());
    EXPECT_TRUE(stats.ok());
    return stats.ok() ? *stats : ReconcileStats{};
  }

  ReconcileStats Batch(const store::LeaseBatch& b) {
    PeerDelta d = table_.Apply(b);
    return ApplyPeerChanges(d.changes, {config_, *backend_, own_, rec_, paths_, ext_.index});
  }

  struct Kernel {
    std::vector<kernel::Route> routes;
    std::vector<kernel::Neighbour> neighbours;
    std::vector<kernel::FdbEntry> fdb;
    bool operator==(const Kernel&) const = default;
  };
  Kernel Snapshot() {
    Kernel k;
    k.routes = *rtnl_.fake.ListRoutes({});
    for (int link : backend_->owned_links()) {
      auto n = *rtnl_.fake.ListNeighbours(link);
      k.neighbours.insert(k.neighbours.end(), n.begin(), n.end());
      auto f = *rtnl_.fake.ListFdb(link);
      k.fdb.insert(k.fdb.end(), f.begin(), f.end());
    }
    std::sort(k.fdb.begin(), k.fdb.end());
    return k;
  }

  CountingRtnl rtnl_;
  backend::ExternalInterface ext_;
  model::NetworkConfig config_;
  std::unique_ptr<backend::Backend> backend_;
  model::Lease own_;
  PeerTable table_;
  Reconciler rec_{rtnl_};
  PathCounts paths_;
};

std::string Mac(int n) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "42:00:00:00:00:%02x", n & 0xff);
  return buf;
}

TEST_P(Incremental, MatchesTheFullPassAfterAnySequenceOfEvents) {
  std::mt19937 rng(13);
  store::LeaseBatch snap;
  snap.is_snapshot = true;
  snap.snapshot = {own_, L("10.244.2.0-24", "192.0.2.12", GetParam(),
                           R"({"VNI":1,"VtepMAC":")" + Mac(2) + R"("})")};
  table_.Apply(snap);
  FullPass();
  using T = store::LeaseEvent::Type;
  // Keys: valid ones, one outside the Network, one of the wrong size; addresses: on-link,
  // routed (vxlan goes through flannel.1, host-gw refuses), our own, none; MACs that collide.
  const std::vector<std::string> keys = {"10.244.2.0-24", "10.244.3.0-24", "10.244.4.0-24",
                                         "10.244.5.0-24", "10.244.6.0-24", "10.99.0.0-24",
                                         "10.244.8.0-23", "10.244.1.0-24"};
  const std::vector<std::string> ips = {"192.0.2.12", "192.0.2.13", "198.51.100.7", "192.0.2.11",
                                        ""};
  const std::vector<std::string> types = {GetParam(), GetParam(), GetParam(), "udp"};
  int events = 0, full_needed = 0;
  for (int round = 0; round < 400; ++round) {
    store::LeaseBatch b;
    const int n = 1 + static_cast<int>(rng() % 3);
    for (int i = 0; i < n; ++i) {
      // Our own key only rarely and only with our address: a revocation is not under test.
      std::string key = keys[rng() % (keys.size() - 1)];
      const bool remove = rng() % 4 == 0;
      const std::string mac = Mac(static_cast<int>(rng() % 6));
      model::Lease l = L(key, ips[rng() % ips.size()], types[rng() % types.size()],
                         rng() % 8 == 0 ? "" : R"({"VNI":1,"VtepMAC":")" + mac + R"("})");
      b.events.push_back({remove ? T::kRemoved : T::kAdded, l});
    }
    const int dumps = rtnl_.dumps;
    Batch(b);
    ++events;
    EXPECT_EQ(rtnl_.dumps, dumps) << "a lease event dumped the kernel";
    if (rec_.full_pass_needed()) {
      // Two peers want one entry: the agent runs a full pass; so does the test.
      ++full_needed;
      FullPass();
      continue;
    }
    const Kernel incremental = Snapshot();
    const auto problems = rec_.problems();
    const auto totals = rec_.totals();
    const int mutations = rtnl_.fake.mutations();
    FullPass();
    ASSERT_EQ(rtnl_.fake.mutations(), mutations)
        << "round " << round << ": the full pass found work the incremental path left undone";
    ASSERT_EQ(Snapshot(), incremental);
    ASSERT_EQ(rec_.problems(), problems) << "round " << round;
    const auto full_totals = rec_.totals();
    EXPECT_EQ(full_totals.routes, totals.routes);
    EXPECT_EQ(full_totals.routes_missing, totals.routes_missing);
    EXPECT_EQ(full_totals.neighbours, totals.neighbours);
    EXPECT_EQ(full_totals.fdb, totals.fdb);
  }
  // vxlan peers share MACs here; host-gw keys (IPv4 only) cannot collide.
  if (GetParam() == "vxlan") {
    EXPECT_GT(full_needed, 0) << "the sequence never had two peers on one entry";
  }
  EXPECT_LT(full_needed, events / 2);
}

TEST_P(Incremental, NeverOverwritesARouteAnotherProgramAddedSinceTheLastPass) {
  store::LeaseBatch snap;
  snap.is_snapshot = true;
  snap.snapshot = {own_};
  table_.Apply(snap);
  FullPass();
  // An operator's route, added after the pass (its notification not read yet).
  kernel::Route theirs = kernel::Route::Via(N("10.244.3.0/24"), A("192.0.2.99"), ext_.index);
  theirs.protocol = kernel::kRouteProtocolBoot;
  ASSERT_TRUE(rtnl_.fake.AddRoute(theirs).ok());
  store::LeaseBatch b;
  b.events.push_back(
      {store::LeaseEvent::Type::kAdded,
       L("10.244.3.0-24", "192.0.2.13", GetParam(), R"({"VNI":1,"VtepMAC":")" + Mac(3) + R"("})")});
  Batch(b);
  EXPECT_TRUE(rec_.full_pass_needed());
  auto routes = *rtnl_.fake.ListRoutes({});
  EXPECT_NE(std::find(routes.begin(), routes.end(), theirs), routes.end());
  FullPass();
  routes = *rtnl_.fake.ListRoutes({});
  EXPECT_NE(std::find(routes.begin(), routes.end(), theirs), routes.end());
  ASSERT_EQ(rec_.problems().size(), 1u);
  EXPECT_NE(rec_.problems()[0].find("not installed"), std::string::npos);
  // The operator deletes it: the peer's route goes in with the next full pass.
  ASSERT_TRUE(rtnl_.fake.DeleteRoute(theirs).ok());
  kernel::KernelEvent gone{kernel::KernelEvent::Kind::kRoute, true, theirs};
  EXPECT_TRUE(rec_.Unexpected(gone));
  FullPass();
  EXPECT_TRUE(rec_.problems().empty());
}

TEST_P(Incremental, OwnEchoesAreExpectedHandDeletionsAreNot) {
  store::LeaseBatch snap;
  snap.is_snapshot = true;
  snap.snapshot = {own_};
  table_.Apply(snap);
  FullPass();
  store::LeaseBatch b;
  b.events.push_back(
      {store::LeaseEvent::Type::kAdded,
       L("10.244.3.0-24", "192.0.2.13", GetParam(), R"({"VNI":1,"VtepMAC":")" + Mac(3) + R"("})")});
  auto stats = Batch(b);
  EXPECT_EQ(stats.added, 1);
  auto routes = *rtnl_.fake.ListRoutes({kernel::kMainTable, kernel::kTartanRouteProtocol, 0});
  ASSERT_EQ(routes.size(), 1u);
  using Kind = kernel::KernelEvent::Kind;
  EXPECT_FALSE(rec_.Unexpected({Kind::kRoute, false, routes[0]})) << "the echo of our add";
  b.events[0].type = store::LeaseEvent::Type::kRemoved;
  stats = Batch(b);
  EXPECT_EQ(stats.removed, 1);
  EXPECT_FALSE(rec_.Unexpected({Kind::kRoute, true, routes[0]})) << "the echo of our delete";
  // Added again, then deleted by hand: that is news.
  b.events[0].type = store::LeaseEvent::Type::kAdded;
  Batch(b);
  EXPECT_TRUE(rec_.Unexpected({Kind::kRoute, true, routes[0]}));
  kernel::Route other = routes[0];
  other.gateway = A("192.0.2.77");
  EXPECT_TRUE(rec_.Unexpected({Kind::kRoute, false, other})) << "ours changed by someone";
}

TEST_P(Incremental, ANexthopRemovedByOthersAsksForAFullPassOneWeDroppedDoesNot) {
  store::LeaseBatch snap;
  snap.is_snapshot = true;
  snap.snapshot = {own_};
  table_.Apply(snap);
  FullPass();
  EXPECT_EQ(rtnl_.drop_calls, 1) << "a full pass lets the layer drop unused nexthops";
  using Kind = kernel::KernelEvent::Kind;
  kernel::Nexthop nh;
  nh.id = A("192.0.2.13").value();
  nh.gateway = A("192.0.2.13");
  nh.link_index = 1;
  // The routes through it went with it, silently.
  EXPECT_TRUE(rec_.Unexpected({Kind::kNexthop, true, nh}));
  rtnl_.dropped.push_back(nh.id);
  EXPECT_FALSE(rec_.Unexpected({Kind::kNexthop, true, nh})) << "the echo of our own drop";
  EXPECT_FALSE(rec_.Unexpected({Kind::kNexthop, false, nh})) << "a nexthop added";
  kernel::Nexthop theirs = nh;
  theirs.id = 5;
  theirs.protocol = kernel::kRouteProtocolBoot;
  EXPECT_FALSE(rec_.Unexpected({Kind::kNexthop, true, theirs})) << "not tartan's";
}

TEST_P(Incremental, PeerMovedIsRepairedInPlace) {
  store::LeaseBatch snap;
  snap.is_snapshot = true;
  snap.snapshot = {own_, L("10.244.3.0-24", "192.0.2.13", GetParam(),
                           R"({"VNI":1,"VtepMAC":")" + Mac(3) + R"("})")};
  table_.Apply(snap);
  FullPass();
  store::LeaseBatch b;
  b.events.push_back(
      {store::LeaseEvent::Type::kChanged,
       L("10.244.3.0-24", "192.0.2.14", GetParam(), R"({"VNI":1,"VtepMAC":")" + Mac(4) + R"("})")});
  const int dumps = rtnl_.dumps;
  auto stats = Batch(b);
  EXPECT_EQ(rtnl_.dumps, dumps);
  EXPECT_EQ(stats.failed, 0);
  auto routes = *rtnl_.fake.ListRoutes({kernel::kMainTable, kernel::kTartanRouteProtocol, 0});
  ASSERT_EQ(routes.size(), 1u);
  EXPECT_EQ(routes[0].gateway, A("192.0.2.14"));
}

INSTANTIATE_TEST_SUITE_P(Backends, Incremental, ::testing::Values("host-gw", "vxlan"));

}  // namespace
}  // namespace tartan::agent
