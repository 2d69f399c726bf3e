#include "backend/udp/packet.hpp"

#include <gtest/gtest.h>

#include <array>
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
