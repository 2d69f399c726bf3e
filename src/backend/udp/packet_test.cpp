#include "backend/udp/packet.hpp"

#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace tartan::backend::udp {
namespace {

uint32_t A(const char* s) { return net::Ip4::Parse(s)->value(); }
net::Ip4Net N(const char* s) { return *net::Ip4Net::Parse(s); }
PeerTable::Peer P(const char* subnet, const char* ip) { return {N(subnet), *net::Ip4::Parse(ip)}; }

// A valid IPv4 packet: header with checksum, `payload` bytes after it.
std::vector<uint8_t> Packet(const char* src, const char* dst, uint8_t ttl, uint8_t proto = 17,
                            std::vector<uint8_t> payload = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10}) {
  std::vector<uint8_t> p(20);
  p[0] = 0x45;
  const size_t len = 20 + payload.size();
  p[2] = static_cast<uint8_t>(len >> 8);
  p[3] = static_cast<uint8_t>(len);
  p[8] = ttl;
  p[9] = proto;
  const uint32_t s = A(src), d = A(dst);
  for (int i = 0; i < 4; ++i) {
    p[12 + i] = static_cast<uint8_t>(s >> (24 - 8 * i));
    p[16 + i] = static_cast<uint8_t>(d >> (24 - 8 * i));
  }
  const uint16_t c = Checksum({p.data(), 20});
  p[10] = static_cast<uint8_t>(c >> 8);
  p[11] = static_cast<uint8_t>(c);
  p.insert(p.end(), payload.begin(), payload.end());
  return p;
}

bool HeaderChecksumOk(const uint8_t* ip) { return Checksum({ip, size_t{ip[0] & 0xfu} * 4}) == 0; }
uint32_t Src(const uint8_t* ip) {
  return uint32_t{ip[12]} << 24 | uint32_t{ip[13]} << 16 | uint32_t{ip[14]} << 8 | ip[15];
}
uint32_t Dst(const uint8_t* ip) { return Src(ip + 4); }

PeerTable Table() {
  return PeerTable(N("10.244.1.0/24"),
                   {P("10.244.2.0/24", "192.0.2.12"), P("10.244.3.0/24", "198.51.100.13"),
                    P("10.244.9.0/24", "192.0.2.19")});
}

TEST(PeerTable, FindsThePeerHoldingTheAddressAndNothingElse) {
  const PeerTable t = Table();
  EXPECT_EQ(t.Lookup(A("10.244.2.7")), A("192.0.2.12"));
  EXPECT_EQ(t.Lookup(A("10.244.3.255")), A("198.51.100.13"));
  EXPECT_EQ(t.Lookup(A("10.244.9.0")), A("192.0.2.19"));
  EXPECT_EQ(t.Lookup(A("10.244.4.1")), 0u);  // between subnets
  EXPECT_EQ(t.Lookup(A("10.244.1.5")), 0u);  // our own
  EXPECT_EQ(t.Lookup(A("10.0.0.1")), 0u);    // before the first
  EXPECT_EQ(t.Lookup(A("10.245.0.1")), 0u);  // after the last
  EXPECT_TRUE(t.IsPeer(A("198.51.100.13")));
  EXPECT_FALSE(t.IsPeer(A("198.51.100.14")));
  EXPECT_TRUE(t.IsOwn(A("10.244.1.200")));
  EXPECT_FALSE(t.IsOwn(A("10.244.2.1")));
}

TEST(PeerTable, LeavesOutOverlappingAndOwnSubnets) {
  const PeerTable t(N("10.244.1.0/24"), {P("10.244.0.0/16", "192.0.2.50"),  // covers ours
                                         P("10.244.2.0/24", "192.0.2.12"),
                                         P("10.244.2.128/25", "192.0.2.66"),  // inside 2.0/24
                                         P("10.244.1.0/24", "192.0.2.77")});
  EXPECT_EQ(t.size(), 1u);
  EXPECT_EQ(t.Lookup(A("10.244.2.200")), A("192.0.2.12"));
  EXPECT_FALSE(t.IsPeer(A("192.0.2.66")));
  EXPECT_EQ(t.Lookup(A("10.244.7.1")), 0u);
}

TEST(PeerTable, ScalesToThousandsOfPeers) {
  std::vector<PeerTable::Peer> peers;
  for (uint32_t i = 2; i < 4000; ++i) {
    peers.push_back(
        {net::Ip4Net(net::Ip4((10u << 24) | (i << 8)), 24), net::Ip4((172u << 24) | i)});
  }
  const PeerTable t(net::Ip4Net(net::Ip4(10u << 24 | 1u << 8), 24), peers);
  for (uint32_t i = 2; i < 4000; ++i) {
    ASSERT_EQ(t.Lookup((10u << 24) | (i << 8) | 77), (172u << 24) | i);
  }
}

net::Ip4Net Nth(uint32_t i) { return net::Ip4Net(net::Ip4((10u << 24) | (i << 8)), 24); }
net::Ip4 Host(uint32_t i) { return net::Ip4((172u << 24) | i); }

TEST(PeerTable, ASetPeerIsFoundAndARemovedOneIsGone) {
  PeerTable t(N("10.244.1.0/24"), 0);
  EXPECT_EQ(t.Set(N("10.244.2.0/24"), *net::Ip4::Parse("192.0.2.12")), PeerTable::Change::kApplied);
  EXPECT_EQ(t.Lookup(A("10.244.2.9")), A("192.0.2.12"));
  EXPECT_TRUE(t.IsPeer(A("192.0.2.12")));
  t.Remove(N("10.244.2.0/24"));
  EXPECT_EQ(t.Lookup(A("10.244.2.9")), 0u);
  EXPECT_FALSE(t.IsPeer(A("192.0.2.12")));
  EXPECT_EQ(t.size(), 0u);
  t.Remove(N("10.244.2.0/24"));  // twice: nothing to do
  EXPECT_EQ(t.size(), 0u);
}

TEST(PeerTable, AMovedPeerIsUpdatedInPlace) {
  PeerTable t(N("10.244.1.0/24"), 0);
  t.Set(N("10.244.2.0/24"), *net::Ip4::Parse("192.0.2.12"));
  t.Set(N("10.244.2.0/24"), *net::Ip4::Parse("192.0.2.99"));
  EXPECT_EQ(t.size(), 1u);
  EXPECT_EQ(t.Lookup(A("10.244.2.9")), A("192.0.2.99"));
  EXPECT_TRUE(t.IsPeer(A("192.0.2.99")));
  EXPECT_FALSE(t.IsPeer(A("192.0.2.12"))) << "the old address holds no lease any more";
}

TEST(PeerTable, AnAddressStaysAPeerWhileAnySubnetIsHeldByIt) {
  PeerTable t(N("10.244.1.0/24"), 0);
  t.Set(N("10.244.2.0/24"), *net::Ip4::Parse("192.0.2.12"));
  t.Set(N("10.244.3.0/24"), *net::Ip4::Parse("192.0.2.12"));
  t.Remove(N("10.244.2.0/24"));
  EXPECT_TRUE(t.IsPeer(A("192.0.2.12")));
  EXPECT_EQ(t.Lookup(A("10.244.3.1")), A("192.0.2.12"));
  t.Set(N("10.244.3.0/24"), *net::Ip4::Parse("192.0.2.13"));
  EXPECT_FALSE(t.IsPeer(A("192.0.2.12")));
}

TEST(PeerTable, LeavesOutWhatItCannotHoldAndRemovesAPeerWithoutAddress) {
  PeerTable t(N("10.244.1.0/24"), 0);
  EXPECT_EQ(t.Set(N("10.244.1.0/24"), Host(1)), PeerTable::Change::kLeftOut);  // ours
  EXPECT_EQ(t.Set(N("10.244.0.0/16"), Host(1)), PeerTable::Change::kLeftOut);  // another length
  t.Set(N("10.244.2.0/24"), Host(2));
  EXPECT_EQ(t.Set(N("10.244.2.0/24"), net::Ip4()), PeerTable::Change::kLeftOut);
  EXPECT_EQ(t.Lookup(A("10.244.2.1")), 0u);
  EXPECT_EQ(t.size(), 0u);
  EXPECT_EQ(PeerTable().Set(N("10.244.2.0/24"), Host(2)), PeerTable::Change::kLeftOut)
      << "no own subnet yet";
}

TEST(PeerTable, AFullTableSaysSoAndStaysAsItWas) {
  PeerTable t(N("10.244.1.0/24"), 0);
  uint32_t i = 2;
  while (t.Set(Nth(i), Host(i)) == PeerTable::Change::kApplied) ++i;
  const size_t held = t.size();
  EXPECT_EQ(held, i - 2);
  EXPECT_GE(held, 8u);
  for (uint32_t j = 2; j < i; ++j) ASSERT_EQ(t.Lookup(Nth(j).ip().value() | 5), Host(j).value());
  EXPECT_EQ(t.Lookup(Nth(i).ip().value() | 5), 0u);
  EXPECT_FALSE(t.IsPeer(Host(i).value()));
  // Moving a peer to an address already held needs no room; removing and adding the same one back
  // reuses its slot.
  EXPECT_EQ(t.Set(Nth(2), Host(3)), PeerTable::Change::kApplied);
  EXPECT_FALSE(t.IsPeer(Host(2).value()));
  EXPECT_EQ(t.Lookup(Nth(2).ip().value()), Host(3).value());
  for (int k = 0; k < 100; ++k) {
    t.Remove(Nth(3));
    ASSERT_EQ(t.Set(Nth(3), Host(3)), PeerTable::Change::kApplied);
  }
  EXPECT_EQ(t.size(), held);
}

// The model the writer is checked against: what a table built from scratch would hold.
void ExpectHolds(const PeerTable& t, const std::map<uint32_t, uint32_t>& want, uint32_t max) {
  ASSERT_EQ(t.size(), want.size());
  std::map<uint32_t, int> hosts;
  for (const auto& [i, h] : want) ++hosts[h];
  for (uint32_t i = 2; i < max; ++i) {
    auto it = want.find(i);
    ASSERT_EQ(t.Lookup(Nth(i).ip().value() | 77), it == want.end() ? 0u : Host(it->second).value())
        << i;
    ASSERT_EQ(t.IsPeer(Host(i).value()), hosts.contains(i)) << i;
  }
}

TEST(PeerTableWriter, ManyChangesCostFewTablesAndEndAsATableBuiltAfresh) {
  std::vector<std::shared_ptr<const PeerTable>> published;
  PeerTableWriter w([&](std::shared_ptr<const PeerTable> t) { published.push_back(std::move(t)); });
  w.SetOwn(N("10.200.0.0/24"));
  ASSERT_EQ(published.size(), 1u);
  std::map<uint32_t, uint32_t> want;  // subnet index -> host index
  constexpr uint32_t kMax = 6000;
  for (uint32_t i = 2; i < 5002; ++i) {
    w.Set(Nth(i), Host(i));
    want[i] = i;
  }
  const size_t grown = published.size();
  EXPECT_LE(grown, 16u) << "the table grows geometrically";
  // Churn: peers leave, new ones come, some move to another address (shared with another
  // peer now and then).
  uint32_t seed = 12345;
  auto next = [&] {
    seed = seed * 1103515245u + 12345u;
    return (seed >> 8) % (kMax - 2) + 2;
  };
  constexpr int kChanges = 100000;
  for (int k = 0; k < kChanges; ++k) {
    const uint32_t i = next();
    switch (k % 3) {
      case 0:
        w.Remove(Nth(i));
        want.erase(i);
        break;
      case 1:
        w.Set(Nth(i), Host(i));
        want[i] = i;
        break;
      default: {
        const uint32_t h = next();
        w.Set(Nth(i), Host(h));
        want[i] = h;
      }
    }
  }
  ExpectHolds(*w.table(), want, kMax);
  // One new table per at least n/2 changes (n >= 3000 here): the cost per change is O(1).
  EXPECT_LE(published.size() - grown, size_t{kChanges / 1000}) << published.size();
  EXPECT_EQ(w.publishes(), published.size());
  EXPECT_EQ(published.back(), w.table());

  // A new own subnet: a new table, without the peer that held it now.
  want.erase(7);
  w.SetOwn(Nth(7));
  EXPECT_EQ(published.back(), w.table());
  EXPECT_EQ(w.table()->own(), Nth(7));
  ExpectHolds(*w.table(), want, kMax);
}

// A reader on another thread while the writer changes the table under it: it sees every
// change (within its next look) and never loses a peer that only moves.
TEST(PeerTableWriter, AReaderSeesChangesAndNeverMissesAMovingPeer) {
  std::shared_ptr<const PeerTable> current;
  std::mutex mu;
  PeerTableWriter w([&](std::shared_ptr<const PeerTable> t) {
    std::lock_guard l(mu);
    current = std::move(t);
  });
  w.SetOwn(N("10.200.0.0/24"));
  w.Set(Nth(2), Host(1));
  std::atomic<bool> stop{false};
  std::atomic<bool> started{false};
  std::atomic<uint32_t> seen_new{0};
  std::atomic<uint64_t> gaps{0};
  std::thread reader([&] {
    std::shared_ptr<const PeerTable> t;
    while (!stop.load()) {
      {
        std::lock_guard l(mu);
        t = current;  // as a worker does once per batch
      }
      started.store(true);
      for (int k = 0; k < 1000; ++k) {
        const uint32_t moving = t->Lookup(Nth(2).ip().value() | 1);
        if (moving != Host(1).value() && moving != Host(2).value()) gaps.fetch_add(1);
        if (t->Lookup(Nth(3000).ip().value() | 1) == Host(3000).value()) {
          seen_new.store(1);
        }
      }
    }
  });
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!started.load() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::yield();
  }
  // The moving peer flips between two addresses while many others come and go (the table
  // grows under the reader, so it also moves to new tables).
  for (int round = 0; round < 20; ++round) {
    for (uint32_t i = 3; i < 3000; ++i) {
      w.Set(Nth(2), Host(i % 2 + 1));
      if (round % 2 == 0) {
        w.Set(Nth(i), Host(i));
      } else {
        w.Remove(Nth(i));
      }
    }
  }
  w.Set(Nth(3000), Host(3000));
  while (seen_new.load() == 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::yield();
  }
  stop.store(true);
  reader.join();
  EXPECT_EQ(seen_new.load(), 1u) << "the reader never saw the last peer";
  EXPECT_EQ(gaps.load(), 0u);
}

TEST(FromTun, SendsToThePeerWithTheTtlDecrementedAndTheChecksumKeptValid) {
  const PeerTable t = Table();
  std::array<uint8_t, kIcmpErrorMax> icmp{};
  for (uint8_t ttl : {2, 64, 255}) {
    auto p = Packet("10.244.1.2", "10.244.3.2", ttl);
    const auto v = FromTun(p, t, icmp);
    ASSERT_EQ(v.action, Verdict::Action::kPass);
    EXPECT_EQ(v.peer, A("198.51.100.13"));
    EXPECT_EQ(v.length, p.size());
    EXPECT_EQ(p[8], ttl - 1);
    EXPECT_TRUE(HeaderChecksumOk(p.data())) << int{ttl};
  }
}

TEST(FromTun, AnswersAnUnknownSubnetWithNetUnreachable) {
  const PeerTable t = Table();
  std::array<uint8_t, kIcmpErrorMax> icmp{};
  auto p = Packet("10.244.1.2", "10.244.77.5", 64);
  const auto v = FromTun(p, t, icmp);
  ASSERT_EQ(v.action, Verdict::Action::kIcmp);
  EXPECT_EQ(v.reason, Drop::kNoRoute);
  ASSERT_EQ(v.length, 20u + 8 + 20 + 8);
  EXPECT_TRUE(HeaderChecksumOk(icmp.data()));
  EXPECT_EQ(icmp[9], 1);                          // ICMP
  EXPECT_EQ(Src(icmp.data()), A("10.244.77.5"));  // not a local address: no martian
  EXPECT_EQ(Dst(icmp.data()), A("10.244.1.2"));
  EXPECT_EQ(icmp[20], 3);  // destination unreachable
  EXPECT_EQ(icmp[21], 0);  // net
  EXPECT_EQ(Checksum({icmp.data() + 20, v.length - 20}), 0);
  EXPECT_EQ(std::vector<uint8_t>(icmp.begin() + 28, icmp.begin() + 56),
            std::vector<uint8_t>(p.begin(), p.begin() + 28));  // header + 8 bytes quoted
}

TEST(FromTun, AnswersAnExpiringPacketWithTimeExceeded) {
  const PeerTable t = Table();
  std::array<uint8_t, kIcmpErrorMax> icmp{};
  auto p = Packet("10.244.1.2", "10.244.2.9", 1);
  const auto v = FromTun(p, t, icmp);
  ASSERT_EQ(v.action, Verdict::Action::kIcmp);
  EXPECT_EQ(v.reason, Drop::kTtlExpired);
  EXPECT_EQ(icmp[20], 11);
  EXPECT_EQ(icmp[21], 0);
  EXPECT_EQ(Dst(icmp.data()), A("10.244.1.2"));
}

TEST(FromTun, NeverAnswersAnIcmpErrorAFragmentOrABroadcast) {
  const PeerTable t = Table();
  std::array<uint8_t, kIcmpErrorMax> icmp{};
  auto err = Packet("10.244.1.2", "10.244.77.5", 64, 1, {3, 1, 0, 0, 0, 0, 0, 0});
  EXPECT_EQ(FromTun(err, t, icmp).action, Verdict::Action::kDrop);
  auto echo = Packet("10.244.1.2", "10.244.77.5", 64, 1, {8, 0, 0, 0, 0, 0, 0, 0});
  EXPECT_EQ(FromTun(echo, t, icmp).action, Verdict::Action::kIcmp);
  auto frag = Packet("10.244.1.2", "10.244.77.5", 64);
  frag[7] = 0x10;  // offset != 0
  EXPECT_EQ(FromTun(frag, t, icmp).action, Verdict::Action::kDrop);
  auto mcast = Packet("10.244.1.2", "239.1.1.1", 64);
  const auto v = FromTun(mcast, t, icmp);
  EXPECT_EQ(v.action, Verdict::Action::kDrop);
  EXPECT_EQ(v.reason, Drop::kNoRoute);
}

TEST(FromTun, DropsWhatIsNotACompleteIpv4Packet) {
  const PeerTable t = Table();
  std::array<uint8_t, kIcmpErrorMax> icmp{};
  std::vector<uint8_t> v6(40, 0);
  v6[0] = 0x60;
  EXPECT_EQ(FromTun(v6, t, icmp).reason, Drop::kNotIpv4);
  auto p = Packet("10.244.1.2", "10.244.3.2", 64);
  auto cut = p;
  cut.resize(25);  // total length says 30
  EXPECT_EQ(FromTun(cut, t, icmp).reason, Drop::kMalformed);
  std::vector<uint8_t> tiny(10, 0x45);
  EXPECT_EQ(FromTun(tiny, t, icmp).reason, Drop::kMalformed);
  auto bad_ihl = p;
  bad_ihl[0] = 0x44;
  EXPECT_EQ(FromTun(bad_ihl, t, icmp).reason, Drop::kMalformed);
  auto padded = p;
  padded.resize(p.size() + 6);  // bytes past the total length are not sent on
  auto v = FromTun(padded, t, icmp);
  EXPECT_EQ(v.action, Verdict::Action::kPass);
  EXPECT_EQ(v.length, p.size());
}

TEST(FromPeer, LetsInOnlyAPeersPacketsAddressedIntoOurSubnet) {
  const PeerTable t = Table();
  std::array<uint8_t, kIcmpErrorMax> icmp{};
  auto ok = Packet("10.244.2.2", "10.244.1.2", 63);
  auto v = FromPeer(A("192.0.2.12"), ok, t, icmp);
  ASSERT_EQ(v.action, Verdict::Action::kPass);
  EXPECT_EQ(ok[8], 62);
  EXPECT_TRUE(HeaderChecksumOk(ok.data()));
  // A spoofed or stray sender.
  auto spoof = Packet("10.244.2.2", "10.244.1.2", 63);
  v = FromPeer(A("192.0.2.99"), spoof, t, icmp);
  EXPECT_EQ(v.action, Verdict::Action::kDrop);
  EXPECT_EQ(v.reason, Drop::kUnknownSender);
  EXPECT_EQ(spoof[8], 63);  // untouched
  // A peer relaying to a third host's pod, or to the host's underlay.
  for (const char* dst : {"10.244.3.2", "192.0.2.11", "8.8.8.8"}) {
    auto relay = Packet("10.244.2.2", dst, 63);
    v = FromPeer(A("192.0.2.12"), relay, t, icmp);
    EXPECT_EQ(v.action, Verdict::Action::kDrop) << dst;
    EXPECT_EQ(v.reason, Drop::kForeignDestination) << dst;
  }
  std::vector<uint8_t> junk = {0x45, 0, 0};
  EXPECT_EQ(FromPeer(A("192.0.2.12"), junk, t, icmp).reason, Drop::kMalformed);
}

TEST(FromPeer, AnswersAnExpiringPacketWithTimeExceededToItsSource) {
  const PeerTable t = Table();
  std::array<uint8_t, kIcmpErrorMax> icmp{};
  auto p = Packet("10.244.2.2", "10.244.1.2", 1);
  const auto v = FromPeer(A("192.0.2.12"), p, t, icmp);
  ASSERT_EQ(v.action, Verdict::Action::kIcmp);
  EXPECT_EQ(v.reason, Drop::kTtlExpired);
  EXPECT_EQ(Src(icmp.data()), A("10.244.1.2"));
  EXPECT_EQ(Dst(icmp.data()), A("10.244.2.2"));
  EXPECT_EQ(icmp[20], 11);
}

TEST(Checksum, MatchesRfc1071Example) {
  // RFC 1071's example words 0001 f203 f4f5 f6f7 sum to ddf2 (complement 220d).
  const std::vector<uint8_t> d = {0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7};
  EXPECT_EQ(Checksum(d), 0x220d);
}

}  // namespace
}  // namespace tartan::backend::udp
