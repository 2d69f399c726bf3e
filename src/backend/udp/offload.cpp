#include "backend/udp/offload.hpp"

#include <algorithm>
#include <cstring>
#include <vector>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "backend/udp/packet.hpp"

namespace tartan::backend::udp {
namespace {

constexpr uint8_t kProtoTcp = 6;
constexpr uint8_t kFin = 0x01, kPsh = 0x08, kAck = 0x10, kCwr = 0x80;
// The largest IPv4 packet.
constexpr size_t kMaxIp = 65535;

uint16_t Get16(const uint8_t* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }
uint32_t Get32(const uint8_t* p) {
  return uint32_t{p[0]} << 24 | uint32_t{p[1]} << 16 | uint32_t{p[2]} << 8 | p[3];
}
void Put16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}
void Put32(uint8_t* p, uint32_t v) {
  Put16(p, static_cast<uint16_t>(v >> 16));
  Put16(p + 2, static_cast<uint16_t>(v));
}
uint32_t Fold(uint64_t s) {
  while (s >> 16) s = (s & 0xffff) + (s >> 16);
  return static_cast<uint32_t>(s);
}

// The TCP pseudo-header's sum for a segment of `tcp_len` bytes.
uint32_t Pseudo(const uint8_t* ip, size_t tcp_len) {
  return Fold(uint64_t{Get16(ip + 12)} + Get16(ip + 14) + Get16(ip + 16) + Get16(ip + 18) +
              kProtoTcp + tcp_len);
}

void IpChecksum(uint8_t* ip, size_t ihl) {
  Put16(ip + 10, 0);
  Put16(ip + 10, static_cast<uint16_t>(~SumFolded({ip, ihl}) & 0xffff));
}

#if defined(__x86_64__)
// Sums the 16-bit words of the first n - n % 64 bytes (native order, not folded) with AVX2:
// the sender sums every byte it segments, and this is several times the scalar loop's speed
// (perf: the checksum was the udp sender's largest item).
__attribute__((target("avx2"))) uint64_t SumWordsAvx2(const uint8_t*& p, size_t& n) {
  const __m256i zero = _mm256_setzero_si256();
  uint64_t total = 0;
  while (n >= 64) {
    __m256i a0 = zero, a1 = zero;
    // Each 32-bit lane takes two words (< 2^16) per round: 8192 rounds stay below 2^30, and
    // the two accumulators' sum below 2^31.
    for (size_t rounds = 0; n >= 64 && rounds < 8192; ++rounds) {
      __m256i v0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
      __m256i v1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + 32));
      a0 = _mm256_add_epi32(a0, _mm256_unpacklo_epi16(v0, zero));
      a1 = _mm256_add_epi32(a1, _mm256_unpackhi_epi16(v0, zero));
      a0 = _mm256_add_epi32(a0, _mm256_unpacklo_epi16(v1, zero));
      a1 = _mm256_add_epi32(a1, _mm256_unpackhi_epi16(v1, zero));
      p += 64;
      n -= 64;
    }
    alignas(32) uint32_t lanes[8] = {};
    _mm256_store_si256(reinterpret_cast<__m256i*>(lanes), _mm256_add_epi32(a0, a1));
    for (uint32_t l : lanes) total += l;
  }
  return total;
}

bool HaveAvx2() {
  static const bool have = __builtin_cpu_supports("avx2") != 0;
  return have;
}
#endif

}  // namespace

uint16_t SumFolded(std::span<const uint8_t> data, uint32_t initial) {
  // Summing native words and swapping the folded result gives the big-endian sum (RFC 1071,
  // byte order independence); this host is little endian. A 32-bit word counts as its two
  // 16-bit halves (2^16 = 1 in ones' complement), so the sums below can be mixed.
  uint64_t s = 0;
  const uint8_t* p = data.data();
  size_t n = data.size();
#if defined(__x86_64__)
  if (n >= 64 && HaveAvx2()) s = Fold(SumWordsAvx2(p, n));
#endif
  // Four independent sums of 32-bit words per 16 bytes: the adds do not wait on each other.
  uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  while (n >= 16) {
    uint32_t w[4] = {};
    std::memcpy(w, p, 16);
    s0 += w[0];
    s1 += w[1];
    s2 += w[2];
    s3 += w[3];
    p += 16;
    n -= 16;
  }
  s += Fold(s0) + Fold(s1) + Fold(s2) + Fold(s3);
  while (n >= 4) {
    uint32_t w = 0;
    std::memcpy(&w, p, 4);
    s += w;
    p += 4;
    n -= 4;
  }
  if (n >= 2) {
    uint16_t w = 0;
    std::memcpy(&w, p, 2);
    s += w;
    p += 2;
    n -= 2;
  }
  if (n == 1) s += p[0];  // the odd byte is a word's high byte: low in native order
  uint32_t native = Fold(s);
  uint32_t be = ((native & 0xff) << 8) | (native >> 8);
  return static_cast<uint16_t>(Fold(uint64_t{be} + initial));
}

bool FinishChecksum(std::span<uint8_t> packet, size_t csum_start, size_t csum_offset) {
  if (csum_start + csum_offset + 2 > packet.size()) return false;
  uint8_t* field = &packet[csum_start + csum_offset];
  const uint16_t sum = SumFolded(packet.subspan(csum_start));
  Put16(field, static_cast<uint16_t>(~sum & 0xffff));
  return true;
}

SegmentPlan SegmentTcp4Headers(std::span<const uint8_t> in, size_t mss,
                               std::span<uint8_t> headers) {
  if (in.size() < 40 || (in[0] >> 4) != 4 || in[9] != kProtoTcp || mss == 0) return {};
  const size_t ihl = size_t{in[0] & 0x0fu} * 4;
  if (ihl < 20 || in.size() < ihl + 20) return {};
  const size_t doff = static_cast<size_t>(in[ihl + 12] >> 4) * 4;
  const size_t hdrs = ihl + doff;
  const size_t total = Get16(&in[2]);
  if (doff < 20 || total < hdrs || total > in.size()) return {};
  const size_t payload = total - hdrs;
  const size_t count = payload == 0 ? 1 : (payload + mss - 1) / mss;
  if (count * hdrs > headers.size()) return {};
  const uint16_t id0 = Get16(&in[4]);
  const uint32_t seq0 = Get32(&in[ihl + 4]);
  const uint8_t flags0 = in[ihl + 13];
  for (size_t i = 0; i < count; ++i) {
    const size_t chunk = std::min(mss, payload - i * mss);
    uint8_t* o = &headers[i * hdrs];
    std::memcpy(o, in.data(), hdrs);
    Put16(o + 2, static_cast<uint16_t>(hdrs + chunk));
    Put16(o + 4, static_cast<uint16_t>(id0 + i));
    IpChecksum(o, ihl);
    uint8_t* tcp = o + ihl;
    Put32(tcp + 4, static_cast<uint32_t>(seq0 + i * mss));
    uint8_t flags = flags0;
    if (i + 1 != count) flags &= static_cast<uint8_t>(~(kFin | kPsh));
    if (i != 0) flags &= static_cast<uint8_t>(~kCwr);
    tcp[13] = flags;
    Put16(tcp + 16, 0);
    // The TCP header is a whole number of 32-bit words: the payload's sum continues it.
    const uint16_t head = SumFolded({tcp, doff}, Pseudo(o, doff + chunk));
    const uint16_t sum = SumFolded(in.subspan(hdrs + i * mss, chunk), head);
    Put16(tcp + 16, static_cast<uint16_t>(~sum & 0xffff));
  }
  return {hdrs, mss, count, payload};
}

Segments SegmentTcp4(std::span<const uint8_t> in, size_t mss, std::span<uint8_t> out) {
  const size_t max_count = in.size() / std::max<size_t>(mss, 1) + 1;
  // Headers into scratch space, then each put in front of its payload (not the packet path).
  std::vector<uint8_t> headers(max_count * 120);
  const SegmentPlan plan = SegmentTcp4Headers(in, mss, headers);
  if (plan.count == 0) return {};
  const size_t need = plan.count * plan.header_len + plan.payload;
  if (need > out.size()) return {};
  size_t off = 0;
  for (size_t i = 0; i < plan.count; ++i) {
    const size_t chunk = std::min(mss, plan.payload - i * mss);
    std::memcpy(&out[off], &headers[i * plan.header_len], plan.header_len);
    std::memcpy(&out[off + plan.header_len], &in[plan.header_len + i * mss], chunk);
    off += plan.header_len + chunk;
  }
  return {need, plan.count == 1 ? need : plan.header_len + mss, plan.count};
}

bool TcpCoalescer::Start(std::span<uint8_t> p) {
  // Only plain data segments of a TCP stream over IPv4 without options, not fragmented.
  if (p.size() < 40 || p[0] != 0x45 || p[9] != kProtoTcp || (Get16(&p[6]) & 0x3fff) != 0) {
    return false;
  }
  const size_t doff = static_cast<size_t>(p[20 + 12] >> 4) * 4;
  const size_t total = Get16(&p[2]);
  if (doff < 20 || 20 + doff >= total || total > p.size()) return false;
  const uint8_t flags = p[20 + 13];
  if ((flags & ~(kAck | kPsh)) != 0 || !(flags & kAck)) return false;
  ip_len_ = 20;
  hdr_len_ = 20 + doff;
  mss_ = total - hdr_len_;
  payload_ = mss_;
  next_seq_ = Get32(&p[24]) + static_cast<uint32_t>(mss_);
  closed_ = (flags & kPsh) != 0;
  std::memcpy(header_, p.data(), hdr_len_);
  iov_[1] = {header_, hdr_len_};
  iov_[2] = {p.data() + hdr_len_, mss_};
  count_ = 1;
  return true;
}

bool TcpCoalescer::Offer(std::span<uint8_t> p) {
  if (count_ == 0) return Start(p);
  if (closed_ || count_ == kMaxSegments || p.size() < hdr_len_ || p[0] != 0x45) return false;
  const size_t total = Get16(&p[2]);
  if (total <= hdr_len_ || total > p.size() || total - hdr_len_ > mss_) return false;
  const size_t len = total - hdr_len_;
  if (ip_len_ + (hdr_len_ - ip_len_) + payload_ + len > kMaxIp) return false;
  // Same stream and same header but for length, id, checksums, sequence number and PSH.
  const uint8_t* h = header_;
  if (std::memcmp(p.data() + 12, h + 12, 8) != 0 || p[1] != h[1] || p[6] != h[6] || p[8] != h[8] ||
      p[9] != h[9]) {
    return false;
  }
  const uint8_t* t = p.data() + 20;
  const uint8_t* ht = h + 20;
  if (std::memcmp(t, ht, 4) != 0 || Get32(t + 4) != next_seq_ ||
      std::memcmp(t + 8, ht + 8, 5) != 0 || (t[13] & ~kPsh) != ht[13] ||
      std::memcmp(t + 14, ht + 14, 2) != 0 || std::memcmp(t + 18, ht + 18, hdr_len_ - 38) != 0) {
    return false;
  }
  iov_[2 + count_] = {p.data() + hdr_len_, len};
  ++count_;
  payload_ += len;
  next_seq_ += static_cast<uint32_t>(len);
  if (len < mss_ || (t[13] & kPsh)) {
    closed_ = true;
    header_[20 + 13] |= t[13] & kPsh;
  }
  return true;
}

TcpCoalescer::Output TcpCoalescer::Flush() {
  const size_t count = std::exchange(count_, 0);
  if (count == 0) return {};
  const size_t tcp_len = hdr_len_ - ip_len_ + payload_;
  if (count == 1) {
    // One segment: as it came, its checksum covered by the datagram's.
    vnet_ = VnetHdr{};
    vnet_.flags = kVnetDataValid;
  } else {
    Put16(header_ + 2, static_cast<uint16_t>(hdr_len_ + payload_));
    IpChecksum(header_, ip_len_);
    // CHECKSUM_PARTIAL: the field holds the pseudo-header sum; the kernel (or the veth peer's
    // segmentation) completes it.
    Put16(header_ + ip_len_ + 16, static_cast<uint16_t>(Pseudo(header_, tcp_len)));
    vnet_.flags = kVnetNeedsCsum;
    vnet_.gso_type = kGsoTcp4;
    vnet_.hdr_len = static_cast<uint16_t>(hdr_len_);
    vnet_.gso_size = static_cast<uint16_t>(mss_);
    vnet_.csum_start = static_cast<uint16_t>(ip_len_);
    vnet_.csum_offset = 16;
  }
  iov_[0] = {&vnet_, sizeof vnet_};
  return {iov_, static_cast<int>(count + 2)};
}

}  // namespace tartan::backend::udp
