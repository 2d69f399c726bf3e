#include "backend/vxlan/vxlan.hpp"

#include <gtest/gtest.h>

#include "kernel/fake_rtnl.hpp"

namespace tartan::backend {
namespace {

net::Ip4 A(const char* s) { return *net::Ip4::Parse(s); }
net::Mac M(const char* s) { return *net::Mac::Parse(s); }

model::Lease L(const char* subnet, const char* ip, const char* type, const char* data = "") {
  model::Lease l;
  l.subnet = *model::SubnetKey::Parse(subnet);
  if (ip) l.attrs.public_ip = A(ip);
  l.attrs.backend_type = type;
  l.attrs.backend_data = data;
  return l;
}

VxlanConfig Cfg(const char* json) {
  auto c = VxlanConfig::FromBackend(nlohmann::json::parse(json));
  EXPECT_TRUE(c.ok()) << json << ": " << (c.ok() ? "" : c.error().message);
  return c.ok() ? *c : VxlanConfig{};
}

TEST(VxlanConfig, DefaultsAndKeys) {
  VxlanConfig d = Cfg(R"({"Type":"vxlan"})");
  EXPECT_EQ(d.vni, 1u);
  EXPECT_EQ(d.port, 8472);
  EXPECT_FALSE(d.gbp);
  EXPECT_FALSE(d.learning);
  EXPECT_FALSE(d.direct_routing);
  EXPECT_FALSE(d.mtu.has_value());
  EXPECT_EQ(d.tx_checksum_offload, VxlanConfig::TxChecksumOffload::kAuto);

  VxlanConfig c = Cfg(R"({"type":"vxlan","vni":4,"PORT":4789,"DirectRouting":true,"gbp":true,
                          "Learning":true,"MTU":1400,"TxChecksumOffload":false})");
  EXPECT_EQ(c.vni, 4u);
  EXPECT_EQ(c.port, 4789);
  EXPECT_TRUE(c.direct_routing);
  EXPECT_TRUE(c.gbp);
  EXPECT_TRUE(c.learning);
  EXPECT_EQ(c.mtu, 1400u);
  EXPECT_EQ(c.tx_checksum_offload, VxlanConfig::TxChecksumOffload::kOff);
  EXPECT_EQ(Cfg(R"({"Port":0})").port, 8472) << "0 means the kernel's default, as in flannel";
  EXPECT_EQ(Cfg(R"({"TxChecksumOffload":"AUTO"})").tx_checksum_offload,
            VxlanConfig::TxChecksumOffload::kAuto);

  struct Bad {
    const char* json;
    const char* fragment;
  } bad[] = {
      {R"({"VNI":"1"})", "VNI must be a whole number"},
      {R"({"VNI":16777216})", "VNI 16777216 is out of range"},
      {R"({"Port":70000})", "Port 70000 is out of range"},
      {R"({"DirectRouting":"yes"})", "DirectRouting must be true or false"},
      {R"({"MTU":100})", "MTU 100 is below 576"},
      {R"({"TxChecksumOffload":"maybe"})", "TxChecksumOffload must be"},
  };
  for (const auto& b : bad) {
    auto r = VxlanConfig::FromBackend(nlohmann::json::parse(b.json));
    ASSERT_FALSE(r.ok()) << b.json;
    EXPECT_NE(r.error().message.find(b.fragment), std::string::npos) << r.error().message;
  }
}

TEST(VxlanConfig, KernelsThatNeedTheChecksumWorkaround) {
  struct {
    const char* release;
    bool needs;
  } cases[] = {{"4.19.0-21-amd64", true},  {"5.4.0-150-generic", true}, {"5.6.19", true},
               {"5.7.0", false},           {"5.10.0-30-amd64", false},  {"6.1.0-18-amd64", false},
               {"6.18.44-fc-v657", false}, {"garbage", false},          {"", false}};
  for (const auto& c : cases) {
    EXPECT_EQ(KernelNeedsTxChecksumWorkaround(c.release), c.needs) << c.release;
  }
}

class VxlanTest : public ::testing::Test {
 protected:
  void SetUp() override {
    kernel::Link eth0;
    eth0.name = "eth0";
    eth0.mtu = 1500;
    eth0.up = true;
    ext_.index = rtnl_.AddLinkForTest(eth0);
    ext_.name = "eth0";
    ext_.mtu = 1500;
    ext_.iface_addr = A("192.0.2.11");
    ext_.public_ip = ext_.iface_addr;
    ext_.connected = {*net::Ip4Net::Parse("192.0.2.0/24")};
  }

  std::unique_ptr<VxlanBackend> Make(const VxlanConfig& c, std::string_view release = "6.1.0") {
    auto be = VxlanBackend::Create(
        c, ext_, rtnl_, [] { return uint64_t{0x0000a1b2c3d4e5f6}; },
        [this](const std::string& dev, bool on) {
          offload_calls_.push_back(dev + (on ? " on" : " off"));
          return Status::Ok();
        },
        release);
    EXPECT_TRUE(be.ok()) << (be.ok() ? "" : be.error().message);
    return be.ok() ? std::move(*be) : nullptr;
  }

  kernel::FakeRtnl rtnl_;
  ExternalInterface ext_;
  std::vector<std::string> offload_calls_;
};

TEST_F(VxlanTest, CreatesFlannelDeviceAndPublishesItsMac) {
  auto be = Make(VxlanConfig{});
  ASSERT_TRUE(be);
  auto link = rtnl_.GetLinkByName("flannel.1");
  ASSERT_TRUE(link.ok());
  EXPECT_EQ(link->kind, "vxlan");
  ASSERT_TRUE(link->vxlan);
  EXPECT_EQ(link->vxlan->vni, 1u);
  EXPECT_EQ(link->vxlan->local, A("192.0.2.11"));
  EXPECT_EQ(link->vxlan->underlay_index, ext_.index);
  EXPECT_EQ(link->vxlan->port, 8472);
  EXPECT_FALSE(link->vxlan->learning);
  EXPECT_EQ(link->mtu, 1450u);
  EXPECT_TRUE(link->up);
  EXPECT_EQ(be->mtu(), 1450u);
  const net::Mac mac = link->mac;
  EXPECT_EQ(mac.bytes()[0] & 0x03, 0x02) << "locally administered unicast";
  EXPECT_EQ(be->mac(), mac);
  EXPECT_EQ(be->backend_data(), "{\"VNI\":1,\"VtepMAC\":\"" + mac.ToString() + "\"}");
  EXPECT_EQ(be->lease_type(), "vxlan");
  EXPECT_EQ(be->owned_links(), std::vector<int>{link->index});
  EXPECT_TRUE(offload_calls_.empty()) << "offload stays on where the kernel is fixed";
}

TEST_F(VxlanTest, ReusesACompatibleDeviceWithItsMacAndReplacesAnIncompatibleOne) {
  kernel::Link old;
  old.name = "flannel.1";
  old.kind = "vxlan";
  old.mtu = 1450;
  old.mac = M("66:90:db:29:5b:c3");
  kernel::VxlanAttrs v;
  v.vni = 1;
  v.local = A("192.0.2.11");
  v.underlay_index = ext_.index;
  old.vxlan = v;
  int old_index = rtnl_.AddLinkForTest(old);
  {
    auto be = Make(VxlanConfig{});
    ASSERT_TRUE(be);
    EXPECT_EQ(be->mac(), M("66:90:db:29:5b:c3"));
    EXPECT_EQ(be->owned_links(), std::vector<int>{old_index});
    EXPECT_TRUE(rtnl_.GetLinkByName("flannel.1")->up);
  }
  VxlanConfig other_port;
  other_port.port = 4789;
  auto be = Make(other_port);
  ASSERT_TRUE(be);
  auto link = rtnl_.GetLinkByName("flannel.1");
  ASSERT_TRUE(link.ok());
  EXPECT_EQ(link->vxlan->port, 4789) << "incompatible device replaced";
  EXPECT_EQ(link->mac, M("66:90:db:29:5b:c3")) << "and its MAC kept";
}

TEST_F(VxlanTest, DesiredEntriesPerVxlanPeerInBothLeaseEras) {
  auto be = Make(VxlanConfig{});
  ASSERT_TRUE(be);
  int dev = be->owned_links()[0];
  model::Lease own = L("10.244.38.0-24", "192.0.2.11", "vxlan", be->backend_data().c_str());
  std::vector<model::Lease> peers = {
      own,
      L("10.244.1.0-24", "192.0.2.12", "vxlan", R"({"VNI":1,"VtepMAC":"42:08:00:00:00:01"})"),
      L("10.244.2.0-24", "198.51.100.3", "vxlan", R"({"VtepMAC":"66:90:db:29:5b:c3"})"),  // v0.11
      L("10.244.3.0-24", "192.0.2.13", "host-gw"),
      L("10.244.4.0-24", "192.0.2.14", "vxlan", R"({"VNI":1})"),
      L("10.244.5.0-24", "192.0.2.15", "vxlan", "garbage"),
  };
  DesiredState d = be->Desired(own, peers);
  ASSERT_EQ(d.routes.size(), 2u);
  EXPECT_EQ(d.routes[0],
            kernel::Route::ViaOnlink(*net::Ip4Net::Parse("10.244.1.0/24"), A("10.244.1.0"), dev));
  EXPECT_TRUE(d.routes[0].onlink);
  EXPECT_EQ(d.routes[1].dst.ToString(), "10.244.2.0/24");
  ASSERT_EQ(d.neighbours.size(), 2u);
  EXPECT_EQ(d.neighbours[0], (kernel::Neighbour{A("10.244.1.0"), M("42:08:00:00:00:01"), dev}));
  EXPECT_TRUE(d.neighbours[0].permanent());
  ASSERT_EQ(d.fdb.size(), 2u);
  EXPECT_EQ(d.fdb[1], (kernel::FdbEntry{M("66:90:db:29:5b:c3"), A("198.51.100.3"), dev}));
  ASSERT_EQ(d.problems.size(), 2u);
  EXPECT_NE(d.problems[0].find("10.244.4.0/24 at 192.0.2.14 has no valid VtepMAC"),
            std::string::npos)
      << d.problems[0];
}

TEST_F(VxlanTest, DirectRoutingUsesPlainRoutesForOnLinkPeersOnly) {
  VxlanConfig c;
  c.direct_routing = true;
  auto be = Make(c);
  ASSERT_TRUE(be);
  EXPECT_EQ(be->name(), "vxlan (DirectRouting)");
  model::Lease own = L("10.244.38.0-24", "192.0.2.11", "vxlan", be->backend_data().c_str());
  std::vector<model::Lease> peers = {
      L("10.244.1.0-24", "192.0.2.12", "vxlan", R"({"VNI":1,"VtepMAC":"42:08:00:00:00:01"})"),
      L("10.244.2.0-24", "198.51.100.3", "vxlan", R"({"VNI":1,"VtepMAC":"42:08:00:00:00:02"})"),
  };
  DesiredState d = be->Desired(own, peers);
  ASSERT_EQ(d.routes.size(), 2u);
  EXPECT_EQ(d.routes[0],
            kernel::Route::Via(*net::Ip4Net::Parse("10.244.1.0/24"), A("192.0.2.12"), ext_.index));
  EXPECT_EQ(d.routes[1].link_index, be->owned_links()[0]);
  EXPECT_EQ(d.neighbours.size(), 1u) << "no overlay entries for the on-link peer";
  EXPECT_EQ(d.fdb.size(), 1u);
}

TEST_F(VxlanTest, DirectRoutingSwitchesAPeerThatMovesBetweenSegments) {
  VxlanConfig c;
  c.direct_routing = true;
  auto be = Make(c);
  ASSERT_TRUE(be);
  int dev = be->owned_links()[0];
  model::Lease own = L("10.244.38.0-24", "192.0.2.11", "vxlan");
  const char* data = R"({"VNI":1,"VtepMAC":"42:08:00:00:00:01"})";
  DesiredState near = be->Desired(own, {L("10.244.1.0-24", "192.0.2.12", "vxlan", data)});
  DesiredState far = be->Desired(own, {L("10.244.1.0-24", "198.51.100.12", "vxlan", data)});
  ASSERT_EQ(near.routes.size(), 1u);
  ASSERT_EQ(far.routes.size(), 1u);
  EXPECT_EQ(near.routes[0].dst, far.routes[0].dst) << "same destination: the route is replaced";
  EXPECT_EQ(near.routes[0].link_index, ext_.index);
  EXPECT_EQ(far.routes[0].link_index, dev);
  EXPECT_TRUE(near.fdb.empty());
  ASSERT_EQ(far.fdb.size(), 1u);
  EXPECT_EQ(far.fdb[0].dst, A("198.51.100.12"));
}

TEST_F(VxlanTest, EnsureDevicesRecreatesADeletedDeviceWithTheSameMacAndSetsTheAddress) {
  auto be = Make(VxlanConfig{});
  ASSERT_TRUE(be);
  const net::Mac mac = be->mac();
  model::Lease own = L("10.244.38.0-24", "192.0.2.11", "vxlan");
  bool republish = true;
  ASSERT_TRUE(be->EnsureDevices(own, republish).ok());
  EXPECT_FALSE(republish);
  int dev = be->owned_links()[0];
  auto addrs = rtnl_.ListAddresses(dev);
  ASSERT_TRUE(addrs.ok());
  ASSERT_EQ(addrs->size(), 1u);
  EXPECT_EQ((*addrs)[0].net.ToString(), "10.244.38.0/32");

  // Deleted by hand: recreated on the next pass, same MAC, so peers need no update.
  ASSERT_TRUE(rtnl_.DeleteLink(dev).ok());
  ASSERT_TRUE(be->EnsureDevices(own, republish).ok());
  EXPECT_FALSE(republish);
  auto link = rtnl_.GetLinkByName("flannel.1");
  ASSERT_TRUE(link.ok());
  EXPECT_EQ(link->mac, mac);
  EXPECT_EQ(be->owned_links(), std::vector<int>{link->index});
  EXPECT_EQ(rtnl_.ListAddresses(link->index)->size(), 1u);

  // A stray address is removed; a changed MTU or a downed link is put back.
  ASSERT_TRUE(rtnl_.AddAddress({*net::Ip4Net::Parse("10.9.9.9/24"), link->index}).ok());
  ASSERT_TRUE(rtnl_.SetLinkMtu(link->index, 1300).ok());
  ASSERT_TRUE(rtnl_.SetLinkUp(link->index, false).ok());
  ASSERT_TRUE(be->EnsureDevices(own, republish).ok());
  link = rtnl_.GetLinkByName("flannel.1");
  EXPECT_EQ(link->mtu, 1450u);
  EXPECT_TRUE(link->up);
  ASSERT_EQ(rtnl_.ListAddresses(link->index)->size(), 1u);
  EXPECT_EQ(rtnl_.ListAddresses(link->index)->front().net.ToString(), "10.244.38.0/32");
}

TEST_F(VxlanTest, ChecksumOffloadOffOnlyWhereNeeded) {
  Make(VxlanConfig{}, "5.4.0-150-generic");
  EXPECT_EQ(offload_calls_, std::vector<std::string>{"flannel.1 off"});
  offload_calls_.clear();
  ASSERT_TRUE(rtnl_.DeleteLink(rtnl_.GetLinkByName("flannel.1")->index).ok());
  VxlanConfig off;
  off.tx_checksum_offload = VxlanConfig::TxChecksumOffload::kOff;
  Make(off, "6.1.0");
  EXPECT_EQ(offload_calls_, std::vector<std::string>{"flannel.1 off"});
}

TEST_F(VxlanTest, BehindNatTheTunnelIsSourcedFromTheInterfaceAddress) {
  ext_.public_ip = A("203.0.113.7");  // --public-ip: what peers are told, not ours to send from
  auto be = Make(VxlanConfig{});
  ASSERT_TRUE(be);
  auto link = rtnl_.GetLinkByName("flannel.1");
  ASSERT_TRUE(link.ok());
  EXPECT_EQ(link->vxlan->local, A("192.0.2.11"));
}

// Backend.MTU is the MTU of the outer (encapsulated) packets, as in flannel: flannel.1 is 50
// bytes smaller, so that a full-size inner packet plus its VXLAN, UDP, IPv4 and Ethernet
// headers still fits. Taken as the device MTU, "MTU":1400 sent 1450-byte packets onto a
// 1400-byte path.
TEST_F(VxlanTest, ConfigMtuIsTheOuterMtu) {
  for (uint32_t outer : {1400u, 1500u, 9000u}) {
    VxlanConfig c;
    c.mtu = outer;
    auto be = Make(c);
    ASSERT_TRUE(be);
    EXPECT_EQ(be->mtu(), outer - 50) << "FLANNEL_MTU follows the device";
    EXPECT_EQ(rtnl_.GetLinkByName("flannel.1")->mtu, outer - 50);
  }
  // Without it, the interface's MTU is the outer one (1500 here).
  auto be = Make(VxlanConfig{});
  ASSERT_TRUE(be);
  EXPECT_EQ(be->mtu(), 1450u);
  EXPECT_EQ(rtnl_.GetLinkByName("flannel.1")->mtu, 1450u);
}

// The underlay made again with a new index and address: the device bound to the old one is
// replaced at the next pass with the new link and local address, keeping its MAC (no
// republish); the MTU follows the interface's.
TEST_F(VxlanTest, RebindReplacesTheDeviceOnTheNewUnderlayKeepingTheMac) {
  auto be = Make(VxlanConfig{});
  ASSERT_TRUE(be);
  const net::Mac mac = be->mac();
  model::Lease own = L("10.244.38.0-24", "192.0.2.11", "vxlan");
  bool republish = true;
  ASSERT_TRUE(be->EnsureDevices(own, republish).ok());

  kernel::Link eth0;
  eth0.name = "eth0";
  eth0.mtu = 9000;
  eth0.up = true;
  ASSERT_TRUE(rtnl_.DeleteLink(ext_.index).ok());
  ExternalInterface now = ext_;
  now.index = rtnl_.AddLinkForTest(eth0);
  now.mtu = 9000;
  now.iface_addr = A("192.0.2.21");
  now.public_ip = now.iface_addr;
  ASSERT_TRUE(be->Rebind(now).ok());
  EXPECT_EQ(be->mtu(), 8950u);
  ASSERT_TRUE(be->EnsureDevices(own, republish).ok());
  EXPECT_FALSE(republish) << "the MAC is kept";
  auto link = rtnl_.GetLinkByName("flannel.1");
  ASSERT_TRUE(link.ok());
  EXPECT_EQ(link->vxlan->underlay_index, now.index);
  EXPECT_EQ(link->vxlan->local, A("192.0.2.21"));
  EXPECT_EQ(link->mac, mac);
  EXPECT_EQ(link->mtu, 8950u);
  EXPECT_EQ(be->owned_links(), std::vector<int>{link->index});
  EXPECT_EQ(rtnl_.ListAddresses(link->index)->size(), 1u);

  now.mtu = 40;
  EXPECT_FALSE(be->Rebind(now).ok());
  EXPECT_EQ(be->mtu(), 8950u) << "a refused interface leaves the backend as it was";
}

}  // namespace
}  // namespace tartan::backend
