#include "agent/iface_follow.hpp"

#include <gtest/gtest.h>

#include "kernel/fake_rtnl.hpp"

namespace tartan::agent {
namespace {

using Action = IfaceDecision::Action;

net::Ip4 A(const char* s) { return *net::Ip4::Parse(s); }
net::Ip4Net N(const char* s) { return *net::Ip4Net::Parse(s); }

backend::ExternalInterface Eth0(int index = 2, const char* addr = "192.0.2.11") {
  backend::ExternalInterface e;
  e.index = index;
  e.name = "eth0";
  e.mtu = 1500;
  e.iface_addr = A(addr);
  e.public_ip = e.iface_addr;
  e.connected = {N("192.0.2.0/24")};
  return e;
}

IfaceNow Seen(backend::ExternalInterface ext, bool up = true) {
  IfaceNow now;
  now.selected = std::move(ext);
  now.up = up;
  now.name_exists = true;
  return now;
}

TEST(DecideIface, UnchangedIsKeptAndResumesAfterAWait) {
  EXPECT_EQ(DecideIface(Eth0(), false, Seen(Eth0())).action, Action::kKeep);
  EXPECT_EQ(DecideIface(Eth0(), true, Seen(Eth0())).action, Action::kResume);
}

TEST(DecideIface, DeletedIsGoneAndSaysWhy) {
  IfaceNow now;
  now.selected = Error::NotFound("no interface matches --iface eth0");
  now.name_exists = false;
  auto d = DecideIface(Eth0(), false, now);
  EXPECT_EQ(d.action, Action::kWait);
  EXPECT_EQ(d.reason, "interface eth0 is gone; waiting for it (no interface matches --iface eth0)");

  // Made again but without its address yet: another reason.
  now.selected = Error::FailedPrecondition("interface eth0 has no IPv4 address");
  now.name_exists = true;
  d = DecideIface(Eth0(), true, now);
  EXPECT_EQ(d.action, Action::kWait);
  EXPECT_EQ(d.reason,
            "interface eth0 is not usable (interface eth0 has no IPv4 address); waiting for it");
}

TEST(DecideIface, DownWaits) {
  auto d = DecideIface(Eth0(), false, Seen(Eth0(), /*up=*/false));
  EXPECT_EQ(d.action, Action::kWait);
  EXPECT_EQ(d.reason, "interface eth0 is down; waiting for it to come up");
}

TEST(DecideIface, MadeAgainWithANewIndexIsRebound) {
  auto d = DecideIface(Eth0(2), true, Seen(Eth0(7)));
  EXPECT_EQ(d.action, Action::kRebind);
  EXPECT_EQ(d.ext.index, 7);
  EXPECT_EQ(d.changes, "index 2 -> 7");
  EXPECT_FALSE(d.public_ip_changed) << "same address: the lease stays as it is";
}

TEST(DecideIface, NewAddressMovesThePublicIpUnlessItWasGiven) {
  backend::ExternalInterface now = Eth0(2, "192.0.2.21");
  auto d = DecideIface(Eth0(), false, Seen(now));
  EXPECT_EQ(d.action, Action::kRebind);
  EXPECT_TRUE(d.public_ip_changed);
  EXPECT_EQ(d.changes, "address 192.0.2.11 -> 192.0.2.21, public IP 192.0.2.11 -> 192.0.2.21");

  // --public-ip: the selection keeps it, only the tunnel's source moves.
  backend::ExternalInterface in_use = Eth0();
  in_use.public_ip = A("203.0.113.5");
  now.public_ip = A("203.0.113.5");
  d = DecideIface(in_use, false, Seen(now));
  EXPECT_EQ(d.action, Action::kRebind);
  EXPECT_FALSE(d.public_ip_changed);
  EXPECT_EQ(d.changes, "address 192.0.2.11 -> 192.0.2.21");
}

TEST(DecideIface, MtuAndConnectedNetworksAreChanges) {
  backend::ExternalInterface now = Eth0();
  now.mtu = 9000;
  now.connected.push_back(N("198.51.100.0/24"));
  auto d = DecideIface(Eth0(), false, Seen(now));
  EXPECT_EQ(d.action, Action::kRebind);
  EXPECT_EQ(d.changes,
            "mtu 1500 -> 9000, connected networks 192.0.2.0/24 -> 192.0.2.0/24 198.51.100.0/24");
  EXPECT_FALSE(d.public_ip_changed);
}

TEST(MayConcernInterface, OnlyTheInterfaceUnlessWaiting) {
  const backend::ExternalInterface eth0 = Eth0(2);
  auto link = [](int index, const char* name, bool removed = false) {
    kernel::KernelEvent e;
    e.kind = kernel::KernelEvent::Kind::kLink;
    e.removed = removed;
    kernel::Link l;
    l.index = index;
    l.name = name;
    e.object = l;
    return e;
  };
  auto addr = [](int index) {
    kernel::KernelEvent e;
    e.kind = kernel::KernelEvent::Kind::kAddress;
    e.object = kernel::Address{N("192.0.2.11/24"), index};
    return e;
  };
  kernel::KernelEvent route;
  route.kind = kernel::KernelEvent::Kind::kRoute;
  route.object = kernel::Route::Via(N("10.244.3.0/24"), A("192.0.2.13"), 2);
  kernel::KernelEvent neigh;
  neigh.kind = kernel::KernelEvent::Kind::kNeighbour;
  neigh.object = kernel::Neighbour{A("192.0.2.13"), net::Mac(), 2};
  kernel::KernelEvent resync;

  EXPECT_TRUE(MayConcernInterface(link(2, "eth0", true), eth0, false));
  EXPECT_TRUE(MayConcernInterface(link(9, "eth0"), eth0, false)) << "made again: a new index";
  EXPECT_FALSE(MayConcernInterface(link(5, "flannel.1"), eth0, false));
  EXPECT_TRUE(MayConcernInterface(link(5, "flannel.1"), eth0, true));
  EXPECT_TRUE(MayConcernInterface(addr(2), eth0, false));
  EXPECT_FALSE(MayConcernInterface(addr(5), eth0, false));
  EXPECT_TRUE(MayConcernInterface(addr(9), eth0, true));
  EXPECT_FALSE(MayConcernInterface(route, eth0, false));
  EXPECT_TRUE(MayConcernInterface(route, eth0, true));
  EXPECT_FALSE(MayConcernInterface(neigh, eth0, true));
  EXPECT_TRUE(MayConcernInterface(resync, eth0, false));
}

// The whole round against a fake kernel: deleted, made again without and then with its
// address, then down.
TEST(LookAtInterface, FollowsTheInterfaceThroughDeletionAndDown) {
  kernel::FakeRtnl rtnl;
  kernel::Link l;
  l.name = "eth0";
  l.mtu = 1500;
  l.up = true;
  const int first = rtnl.AddLinkForTest(l);
  ASSERT_TRUE(rtnl.AddAddress({N("192.0.2.11/24"), first}).ok());
  IfaceChoice choice;
  choice.iface = {"eth0"};
  auto start = SelectExternalInterface(rtnl, choice);
  ASSERT_TRUE(start.ok());
  backend::ExternalInterface in_use = *start;

  EXPECT_EQ(DecideIface(in_use, false, LookAtInterface(rtnl, choice, in_use)).action,
            Action::kKeep);

  ASSERT_TRUE(rtnl.DeleteLink(first).ok());
  auto d = DecideIface(in_use, false, LookAtInterface(rtnl, choice, in_use));
  EXPECT_EQ(d.action, Action::kWait);
  EXPECT_NE(d.reason.find("interface eth0 is gone; waiting for it"), std::string::npos) << d.reason;

  const int second = rtnl.AddLinkForTest(l);
  ASSERT_NE(second, first);
  d = DecideIface(in_use, true, LookAtInterface(rtnl, choice, in_use));
  EXPECT_EQ(d.action, Action::kWait);
  EXPECT_NE(d.reason.find("not usable"), std::string::npos) << d.reason;

  ASSERT_TRUE(rtnl.AddAddress({N("192.0.2.11/24"), second}).ok());
  d = DecideIface(in_use, true, LookAtInterface(rtnl, choice, in_use));
  ASSERT_EQ(d.action, Action::kRebind);
  EXPECT_EQ(d.ext.index, second);
  EXPECT_FALSE(d.public_ip_changed);
  in_use = d.ext;

  ASSERT_TRUE(rtnl.SetLinkUp(second, false).ok());
  d = DecideIface(in_use, false, LookAtInterface(rtnl, choice, in_use));
  EXPECT_EQ(d.action, Action::kWait);
  ASSERT_TRUE(rtnl.SetLinkUp(second, true).ok());
  EXPECT_EQ(DecideIface(in_use, true, LookAtInterface(rtnl, choice, in_use)).action,
            Action::kResume);
}

// Chosen by the default route: a second default route that wins for a while does not move
// the host off its interface; the interface deleted, the choice is made again.
TEST(LookAtInterface, AChoiceByTheDefaultRouteStaysWhileTheInterfaceExists) {
  kernel::FakeRtnl rtnl;
  kernel::Link l;
  l.mtu = 1500;
  l.up = true;
  l.name = "eth0";
  const int eth0 = rtnl.AddLinkForTest(l);
  l.name = "wg0";
  const int wg0 = rtnl.AddLinkForTest(l);
  ASSERT_TRUE(rtnl.AddAddress({N("192.0.2.11/24"), eth0}).ok());
  ASSERT_TRUE(rtnl.AddAddress({N("198.51.100.5/24"), wg0}).ok());
  kernel::Route def = kernel::Route::Via(N("0.0.0.0/0"), A("192.0.2.1"), eth0);
  def.protocol = kernel::kRouteProtocolBoot;
  def.metric = 100;
  ASSERT_TRUE(rtnl.AddRoute(def).ok());
  const IfaceChoice choice;  // neither --iface nor --iface-regex nor --iface-can-reach
  auto start = SelectExternalInterface(rtnl, choice);
  ASSERT_TRUE(start.ok());
  ASSERT_EQ(start->index, eth0);

  kernel::Route vpn = kernel::Route::Via(N("0.0.0.0/0"), A("198.51.100.1"), wg0);
  vpn.protocol = kernel::kRouteProtocolBoot;
  vpn.metric = 50;
  ASSERT_TRUE(rtnl.AddRoute(vpn).ok());
  ASSERT_EQ(SelectExternalInterface(rtnl, choice)->index, wg0) << "what a new start would take";
  EXPECT_EQ(DecideIface(*start, false, LookAtInterface(rtnl, choice, *start)).action,
            Action::kKeep);

  // Readdressed in place: followed on the same link.
  ASSERT_TRUE(rtnl.DeleteAddress({N("192.0.2.11/24"), eth0}).ok());
  ASSERT_TRUE(rtnl.AddAddress({N("192.0.2.21/24"), eth0}).ok());
  auto d = DecideIface(*start, false, LookAtInterface(rtnl, choice, *start));
  ASSERT_EQ(d.action, Action::kRebind);
  EXPECT_EQ(d.ext.index, eth0);
  EXPECT_TRUE(d.public_ip_changed);

  ASSERT_TRUE(rtnl.DeleteLink(eth0).ok());
  d = DecideIface(*start, false, LookAtInterface(rtnl, choice, *start));
  ASSERT_EQ(d.action, Action::kRebind);
  EXPECT_EQ(d.ext.index, wg0);
  EXPECT_EQ(d.changes.substr(0, 20), "interface eth0 -> wg");
}

}  // namespace
}  // namespace tartan::agent
