#include "backend/udp/offload.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "backend/udp/packet.hpp"

namespace tartan::backend::udp {
namespace {

uint16_t G16(const uint8_t* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }
uint32_t G32(const uint8_t* p) { return uint32_t{G16(p)} << 16 | G16(p + 2); }

// A TCPv4 packet 10.244.1.2:40000 -> 10.244.2.2:5201 with `payload` bytes (0, 1, 2, ...),
// timestamps option (12 bytes), given flags, both checksums complete.
std::vector<uint8_t> Tcp(size_t payload, uint32_t seq, uint8_t flags = 0x18) {
  const size_t hdrs = 20 + 32;
  std::vector<uint8_t> p(hdrs + payload);
  p[0] = 0x45;
  p[2] = static_cast<uint8_t>(p.size() >> 8);
  p[3] = static_cast<uint8_t>(p.size());
  p[4] = 0x12;
  p[5] = 0x34;
  p[6] = 0x40;  // DF
  p[8] = 63;
  p[9] = 6;
  const uint8_t addrs[8] = {10, 244, 1, 2, 10, 244, 2, 2};
  std::copy(addrs, addrs + 8, &p[12]);
  uint8_t* t = &p[20];
  t[0] = 0x9c;
  t[1] = 0x40;
  t[2] = 0x14;
  t[3] = 0x51;
  t[4] = static_cast<uint8_t>(seq >> 24);
  t[5] = static_cast<uint8_t>(seq >> 16);
  t[6] = static_cast<uint8_t>(seq >> 8);
  t[7] = static_cast<uint8_t>(seq);
  t[11] = 7;  // ack
  t[12] = 8 << 4;
  t[13] = flags;
  t[14] = 0x01;  // window
  t[20] = 1;
  t[21] = 1;
  t[22] = 8;
  t[23] = 10;  // timestamps
  t[27] = 99;
  for (size_t i = 0; i < payload; ++i) p[hdrs + i] = static_cast<uint8_t>(i * 7 + 3);
  uint16_t ipc = Checksum({p.data(), 20});
  p[10] = static_cast<uint8_t>(ipc >> 8);
  p[11] = static_cast<uint8_t>(ipc);
  // TCP checksum: pseudo header + segment.
  std::vector<uint8_t> ph(p.begin() + 12, p.begin() + 20);
  const size_t tl = p.size() - 20;
  ph.insert(ph.end(), {0, 6, static_cast<uint8_t>(tl >> 8), static_cast<uint8_t>(tl)});
  ph.insert(ph.end(), p.begin() + 20, p.end());
  const uint16_t c = Checksum(ph);
  t[16] = static_cast<uint8_t>(c >> 8);
  t[17] = static_cast<uint8_t>(c);
  return p;
}

bool TcpChecksumOk(const uint8_t* ip, size_t len) {
  std::vector<uint8_t> ph(ip + 12, ip + 20);
  const size_t tl = len - 20;
  ph.insert(ph.end(), {0, 6, static_cast<uint8_t>(tl >> 8), static_cast<uint8_t>(tl)});
  ph.insert(ph.end(), ip + 20, ip + len);
  return Checksum(ph) == 0;
}

TEST(SumFolded, AgreesWithTheSimpleChecksumOnEveryLengthAndAlignment) {
  std::vector<uint8_t> d(300);
  for (size_t i = 0; i < d.size(); ++i) d[i] = static_cast<uint8_t>(i * 37 + 11);
  for (size_t off = 0; off < 4; ++off) {
    for (size_t len = 0; len < 200; ++len) {
      std::span<const uint8_t> s(d.data() + off, len);
      ASSERT_EQ(static_cast<uint16_t>(~SumFolded(s)), Checksum(s)) << off << " " << len;
    }
  }
}

TEST(SumFolded, AgreesOnLargeBuffersAtEveryAlignment) {
  // The vectorised part (64 bytes at a time) with the scalar tail, up to more than 64 KiB.
  std::vector<uint8_t> d(140000);
  uint32_t x = 12345;
  for (uint8_t& b : d) {
    x = x * 1103515245 + 12345;
    b = static_cast<uint8_t>(x >> 16);
  }
  for (size_t off = 0; off < 3; ++off) {
    for (size_t len : {64u, 65u, 127u, 128u, 1472u, 1500u, 9000u, 65535u, 65536u, 139990u}) {
      std::span<const uint8_t> s(d.data() + off, len);
      ASSERT_EQ(static_cast<uint16_t>(~SumFolded(s)), Checksum(s)) << off << " " << len;
    }
  }
  // All ones: the largest word sums, where an accumulator would overflow first (64 KiB: the
  // simple checksum's own 32-bit sum holds no more).
  std::vector<uint8_t> ff(65536, 0xff);
  EXPECT_EQ(static_cast<uint16_t>(~SumFolded(ff)), Checksum(ff));
}

TEST(SegmentTcp4Headers, HeadersMatchTheCopyingCut) {
  const size_t mss = 1000;
  auto big = Tcp(3500, 1000000, 0x18);
  std::vector<uint8_t> out(10000);
  const Segments s = SegmentTcp4(big, mss, out);
  std::vector<uint8_t> headers(size_t{4} * 52);
  const SegmentPlan plan = SegmentTcp4Headers(big, mss, headers);
  ASSERT_EQ(plan.count, 4u);
  EXPECT_EQ(plan.header_len, 52u);
  EXPECT_EQ(plan.payload, 3500u);
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(std::vector<uint8_t>(&headers[i * 52], &headers[i * 52] + 52),
              std::vector<uint8_t>(&out[i * (52 + mss)], &out[i * (52 + mss)] + 52))
        << i;
  }
  EXPECT_EQ(s.count, 4u);
  std::vector<uint8_t> few(size_t{3} * 52);
  EXPECT_EQ(SegmentTcp4Headers(big, mss, few).count, 0u);
}

TEST(SegmentTcp4, CutsLikeTheKernelWithValidChecksums) {
  const size_t mss = 1000;
  auto big = Tcp(3500, 1000000, 0x19);  // ACK|PSH|FIN
  std::vector<uint8_t> out(10000);
  const Segments s = SegmentTcp4(big, mss, out);
  ASSERT_EQ(s.count, 4u);
  EXPECT_EQ(s.segment_len, 52u + mss);
  EXPECT_EQ(s.bytes, 4 * 52u + 3500);
  size_t off = 0;
  for (size_t i = 0; i < 4; ++i) {
    const uint8_t* p = &out[off];
    const size_t len = G16(p + 2);
    EXPECT_EQ(len, 52 + (i < 3 ? mss : 500)) << i;
    EXPECT_EQ(Checksum({p, 20}), 0) << i;
    EXPECT_TRUE(TcpChecksumOk(p, len)) << i;
    EXPECT_EQ(G32(p + 24), 1000000 + i * mss);
    EXPECT_EQ(G16(p + 4), 0x1234 + i);
    EXPECT_EQ(p[33], i < 3 ? 0x10 : 0x19) << i;  // PSH and FIN on the last only
    EXPECT_EQ(std::vector<uint8_t>(p + 52, p + 52 + 16),
              std::vector<uint8_t>(big.begin() + 52 + i * mss, big.begin() + 52 + i * mss + 16));
    off += len;
  }
  EXPECT_EQ(off, s.bytes);
  // Too small an output, or not TCP: nothing.
  std::vector<uint8_t> small(100);
  EXPECT_EQ(SegmentTcp4(big, mss, small).bytes, 0u);
  auto udp = big;
  udp[9] = 17;
  EXPECT_EQ(SegmentTcp4(udp, mss, out).bytes, 0u);
}

TEST(FinishChecksum, CompletesAPartialTcpChecksum) {
  auto p = Tcp(777, 5);
  const uint16_t full = G16(&p[36]);
  // What the kernel hands over with NEEDS_CSUM: the pseudo-header sum in the field.
  const size_t tl = p.size() - 20;
  uint32_t ps = G16(&p[12]) + G16(&p[14]) + G16(&p[16]) + G16(&p[18]) + 6 + tl;
  while (ps >> 16) ps = (ps & 0xffff) + (ps >> 16);
  p[36] = static_cast<uint8_t>(ps >> 8);
  p[37] = static_cast<uint8_t>(ps);
  ASSERT_TRUE(FinishChecksum(p, 20, 16));
  EXPECT_EQ(G16(&p[36]), full);
  EXPECT_FALSE(FinishChecksum(p, p.size() - 10, 16));
}

std::vector<uint8_t> Join(const TcpCoalescer::Output& o) {
  std::vector<uint8_t> v;
  for (int i = 0; i < o.iovcnt; ++i) {
    auto* b = static_cast<const uint8_t*>(o.iov[i].iov_base);
    v.insert(v.end(), b, b + o.iov[i].iov_len);
  }
  return v;
}

TEST(TcpCoalescer, JoinsInOrderSegmentsOfOneStreamIntoOneGsoPacket) {
  const size_t mss = 1000;
  auto big = Tcp(2500, 42, 0x18);
  std::vector<uint8_t> out(10000);
  const Segments s = SegmentTcp4(big, mss, out);
  ASSERT_EQ(s.count, 3u);
  TcpCoalescer c;
  size_t off = 0;
  for (size_t i = 0; i < 3; ++i) {
    const size_t len = G16(&out[off + 2]);
    ASSERT_TRUE(c.Offer({&out[off], len})) << i;
    off += len;
  }
  const auto o = c.Flush();
  const auto v = Join(o);
  ASSERT_EQ(v.size(), sizeof(VnetHdr) + big.size());
  VnetHdr h;
  std::memcpy(&h, v.data(), sizeof h);
  EXPECT_EQ(h.gso_type, kGsoTcp4);
  EXPECT_EQ(h.gso_size, mss);
  EXPECT_EQ(h.hdr_len, 52);
  EXPECT_EQ(h.csum_start, 20);
  EXPECT_EQ(h.csum_offset, 16);
  EXPECT_EQ(h.flags, kVnetNeedsCsum);
  const uint8_t* p = v.data() + sizeof h;
  EXPECT_EQ(G16(p + 2), big.size());
  EXPECT_EQ(Checksum({p, 20}), 0);
  EXPECT_EQ(p[33], 0x18);                                        // the last one's PSH kept
  EXPECT_TRUE(std::equal(big.begin() + 52, big.end(), p + 52));  // payload in order
  // Completing the partial checksum gives the original packet's.
  std::vector<uint8_t> done(p, p + big.size());
  ASSERT_TRUE(FinishChecksum(done, 20, 16));
  EXPECT_EQ(G16(&done[36]), G16(&big[36]));
  EXPECT_TRUE(c.empty());
}

TEST(TcpCoalescer, RefusesWhatMustNotBeJoined) {
  auto a = Tcp(1000, 100, 0x10);
  auto gap = Tcp(1000, 1200, 0x10);  // not contiguous
  TcpCoalescer c;
  ASSERT_TRUE(c.Offer(a));
  EXPECT_FALSE(c.Offer(gap));
  auto other_ack = Tcp(1000, 1100, 0x10);
  other_ack[31] = 8;
  EXPECT_FALSE(c.Offer(other_ack));
  auto bigger = Tcp(1200, 1100, 0x10);  // more than the first segment's size
  EXPECT_FALSE(c.Offer(bigger));
  auto other_port = Tcp(1000, 1100, 0x10);
  other_port[23] = 0x52;
  EXPECT_FALSE(c.Offer(other_port));
  auto fin = Tcp(1000, 1100, 0x11);
  EXPECT_FALSE(c.Offer(fin));
  auto shorter = Tcp(400, 1100, 0x10);  // joins, and ends the run
  EXPECT_TRUE(c.Offer(shorter));
  auto next = Tcp(1000, 1500, 0x10);
  EXPECT_FALSE(c.Offer(next));
  c.Flush();
  // A single segment is handed over as it came, marked valid.
  auto syn = Tcp(0, 1, 0x02);
  EXPECT_FALSE(c.Offer(syn));
  ASSERT_TRUE(c.Offer(a));
  const auto v = Join(c.Flush());
  VnetHdr h;
  std::memcpy(&h, v.data(), sizeof h);
  EXPECT_EQ(h.gso_type, kGsoNone);
  EXPECT_EQ(h.flags, kVnetDataValid);
  EXPECT_TRUE(std::equal(a.begin(), a.end(), v.begin() + sizeof h));
}

}  // namespace
}  // namespace tartan::backend::udp
