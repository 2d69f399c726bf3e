#include "agent/peer_table.hpp"

#include <gtest/gtest.h>

namespace tartan::agent {
namespace {

model::Lease L(const std::string& key, const std::string& ip, const std::string& type = "host-gw",
               int64_t etcd_lease = 7) {
  model::Lease l;
  l.subnet = *model::SubnetKey::Parse(key);
  if (!ip.empty()) l.attrs.public_ip = *net::Ip4::Parse(ip);
  l.attrs.backend_type = type;
  l.etcd_lease_id = etcd_lease;
  l.revision = 42;
  l.expiration = std::chrono::system_clock::now();
  return l;
}

store::LeaseBatch Snapshot(std::vector<model::Lease> leases) {
  store::LeaseBatch b;
  b.is_snapshot = true;
  b.snapshot = std::move(leases);
  return b;
}

store::LeaseBatch Events(std::vector<store::LeaseEvent> events) {
  store::LeaseBatch b;
  b.events = std::move(events);
  return b;
}

using T = store::LeaseEvent::Type;

class PeerTableTest : public ::testing::Test {
 protected:
  void SetUp() override {
    table_.SetOwn(L("10.5.1.0-24", "192.0.2.1"));
    auto d = table_.Apply(Snapshot({L("10.5.1.0-24", "192.0.2.1"), L("10.5.2.0-24", "192.0.2.2"),
                                    L("10.5.3.0-24", "192.0.2.3")}));
    ASSERT_FALSE(d.own.own_gone);
    ASSERT_EQ(d.changes.size(), 3u);
  }
  PeerTable table_;
};

TEST_F(PeerTableTest, SnapshotKeepsOnlyWhatBackendsNeed) {
  const model::Lease* l = table_.Find(*model::SubnetKey::Parse("10.5.2.0-24"));
  ASSERT_NE(l, nullptr);
  EXPECT_EQ(l->revision, 0);
  EXPECT_FALSE(l->expiration);
  EXPECT_FALSE(l->is_reservation());
  EXPECT_EQ(l->attrs.backend_type, "host-gw");
}

TEST_F(PeerTableTest, AnUnchangedRelistIsNoChange) {
  auto d = table_.Apply(Snapshot({L("10.5.1.0-24", "192.0.2.1"), L("10.5.2.0-24", "192.0.2.2"),
                                  L("10.5.3.0-24", "192.0.2.3")}));
  EXPECT_TRUE(d.snapshot);
  EXPECT_TRUE(d.changes.empty());
  EXPECT_FALSE(d.own.own_gone);
}

TEST_F(PeerTableTest, RelistGivesTheDifference) {
  auto d = table_.Apply(Snapshot({L("10.5.1.0-24", "192.0.2.1"), L("10.5.3.0-24", "192.0.2.33"),
                                  L("10.5.4.0-24", "192.0.2.4")}));
  ASSERT_EQ(d.changes.size(), 3u);
  EXPECT_TRUE(d.changes[0].before && !d.changes[0].after);  // 10.5.2.0 removed
  EXPECT_TRUE(d.changes[1].moved());                        // 10.5.3.0 moved
  EXPECT_TRUE(!d.changes[2].before && d.changes[2].after);  // 10.5.4.0 added
  EXPECT_EQ(table_.size(), 3u);
}

TEST_F(PeerTableTest, EventsAddChangeRemove) {
  auto d = table_.Apply(Events({{T::kAdded, L("10.5.4.0-24", "192.0.2.4")},
                                {T::kChanged, L("10.5.2.0-24", "192.0.2.2", "vxlan")},
                                {T::kRemoved, L("10.5.3.0-24", "192.0.2.3")}}));
  EXPECT_FALSE(d.own.own_gone);
  ASSERT_EQ(d.changes.size(), 3u);
  EXPECT_EQ(d.changes[0].key().ToString(), "10.5.2.0-24");
  EXPECT_EQ(d.changes[0].after->attrs.backend_type, "vxlan");
  EXPECT_FALSE(d.changes[0].moved());
  EXPECT_FALSE(d.changes[1].after);
  EXPECT_FALSE(d.changes[2].before);
  EXPECT_EQ(table_.size(), 3u);
  EXPECT_EQ(table_.Find(*model::SubnetKey::Parse("10.5.3.0-24")), nullptr);
}

TEST_F(PeerTableTest, AddedAndRemovedInOneBatchIsNoChange) {
  auto d = table_.Apply(Events({{T::kAdded, L("10.5.4.0-24", "192.0.2.4")},
                                {T::kRemoved, L("10.5.4.0-24", "192.0.2.4")},
                                {T::kChanged, L("10.5.2.0-24", "192.0.2.9")},
                                {T::kChanged, L("10.5.2.0-24", "192.0.2.2")}}));
  EXPECT_TRUE(d.changes.empty());
}

TEST_F(PeerTableTest, RemovalOfAnUnknownKeyIsNoChange) {
  auto d = table_.Apply(Events({{T::kRemoved, L("10.5.9.0-24", "192.0.2.9")}}));
  EXPECT_TRUE(d.changes.empty());
}

TEST_F(PeerTableTest, PeerMovedToAnotherAddress) {
  auto d = table_.Apply(Events({{T::kChanged, L("10.5.2.0-24", "192.0.2.22")}}));
  ASSERT_EQ(d.changes.size(), 1u);
  EXPECT_TRUE(d.changes[0].moved());
  EXPECT_EQ(d.changes[0].before->attrs.public_ip->ToString(), "192.0.2.2");
}

TEST_F(PeerTableTest, OwnKeyDeleted) {
  auto d = table_.Apply(Events({{T::kRemoved, L("10.5.1.0-24", "192.0.2.1")}}));
  EXPECT_TRUE(d.own.own_gone);
  EXPECT_EQ(d.own.fate, "was deleted from etcd");
  EXPECT_FALSE(d.own.store_reset);
}

TEST_F(PeerTableTest, OwnSubnetRewrittenByAnotherHost) {
  auto d = table_.Apply(Events({{T::kChanged, L("10.5.1.0-24", "192.0.2.77")}}));
  EXPECT_TRUE(d.own.own_gone);
  EXPECT_EQ(d.own.fate, "was re-written by another host (public_ip=192.0.2.77, ours is 192.0.2.1)");
}

TEST_F(PeerTableTest, OwnKeyRenewedIsNotGone) {
  auto d = table_.Apply(Events({{T::kChanged, L("10.5.1.0-24", "192.0.2.1", "host-gw", 8)}}));
  EXPECT_FALSE(d.own.own_gone);
}

TEST_F(PeerTableTest, OwnKeyDeletedThenWrittenBackByUsIsNotGone) {
  auto d = table_.Apply(Events(
      {{T::kRemoved, L("10.5.1.0-24", "192.0.2.1")}, {T::kAdded, L("10.5.1.0-24", "192.0.2.1")}}));
  EXPECT_FALSE(d.own.own_gone);
}

TEST_F(PeerTableTest, OwnKeyMissingFromTheSnapshot) {
  auto d = table_.Apply(Snapshot({L("10.5.2.0-24", "192.0.2.2")}));
  EXPECT_TRUE(d.own.own_gone);
  EXPECT_EQ(d.own.fate, "is not in etcd (deleted, or expired while etcd was unreachable)");
}

TEST_F(PeerTableTest, OwnKeyTakenInTheSnapshot) {
  auto d = table_.Apply(Snapshot({L("10.5.1.0-24", "")}));
  EXPECT_TRUE(d.own.own_gone);
  EXPECT_EQ(d.own.fate, "was re-written by another host (public_ip=none, ours is 192.0.2.1)");
}

TEST_F(PeerTableTest, StoreReset) {
  store::LeaseBatch b = Events({{T::kAdded, L("10.5.4.0-24", "192.0.2.4")}});
  b.store_reset = true;
  auto d = table_.Apply(b);
  EXPECT_TRUE(d.own.own_gone);
  EXPECT_TRUE(d.own.store_reset);
  EXPECT_EQ(d.own.fate, "may be gone: etcd was restored from a backup or wiped");
  EXPECT_EQ(d.changes.size(), 1u);
}

TEST_F(PeerTableTest, ReservationIsKept) {
  auto d = table_.Apply(Events({{T::kAdded, L("10.5.8.0-24", "192.0.2.8", "host-gw", 0)}}));
  ASSERT_EQ(d.changes.size(), 1u);
  EXPECT_TRUE(d.changes[0].after->is_reservation());
}

}  // namespace
}  // namespace tartan::agent
