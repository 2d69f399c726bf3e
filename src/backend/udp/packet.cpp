#include "backend/udp/packet.hpp"

#include <algorithm>
#include <cstring>

namespace tartan::backend::udp {
namespace {

constexpr uint8_t kProtoIcmp = 1;
constexpr uint8_t kIcmpDestUnreachable = 3;
constexpr uint8_t kIcmpNetUnreachable = 0;
constexpr uint8_t kIcmpTimeExceeded = 11;
constexpr uint8_t kIcmpTtlExceededInTransit = 0;

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

// The parts of an IPv4 header the decisions need; `length` is the total length, which may be
// shorter than what was read (a TUN or a peer may pad), never longer.
struct Ip4Header {
  size_t header_len = 0;
  size_t length = 0;
  uint32_t src = 0;
  uint32_t dst = 0;
};

bool Parse(std::span<const uint8_t> p, Ip4Header& h) {
  if (p.size() < 20 || (p[0] >> 4) != 4) return false;
  h.header_len = size_t{p[0] & 0x0fu} * 4;
  h.length = Get16(&p[2]);
  if (h.header_len < 20 || h.length < h.header_len || h.length > p.size()) return false;
  h.src = Get32(&p[12]);
  h.dst = Get32(&p[16]);
  return true;
}

// TTL minus one with the header checksum updated incrementally (RFC 1624, eqn. 3): the TTL is
// the high byte of the 16-bit word it shares with the protocol.
void DecrementTtl(uint8_t* ip) {
  const uint16_t old_word = Get16(&ip[8]);
  ip[8] = static_cast<uint8_t>(ip[8] - 1);
  const uint16_t new_word = Get16(&ip[8]);
  uint32_t sum = static_cast<uint16_t>(~Get16(&ip[10])) + static_cast<uint16_t>(~old_word) +
                 uint32_t{new_word};
  sum = (sum & 0xffff) + (sum >> 16);
  sum = (sum & 0xffff) + (sum >> 16);
  Put16(&ip[10], static_cast<uint16_t>(~sum));
}

bool Multicast(uint32_t a) { return (a >> 28) == 0xe; }

// Whether an ICMP error may answer this packet (RFC 1812 4.3.2.7): never for an ICMP error,
// a fragment other than the first, or an address that names no single host.
bool MayAnswer(std::span<const uint8_t> p, const Ip4Header& h) {
  if ((Get16(&p[6]) & 0x1fff) != 0) return false;
  if (h.src == 0 || h.src == 0xffffffffu || Multicast(h.src) || Multicast(h.dst) ||
      h.dst == 0xffffffffu) {
    return false;
  }
  if (p[9] == kProtoIcmp) {
    if (h.length < h.header_len + 1) return false;
    switch (p[h.header_len]) {
      case 0:   // echo reply
      case 8:   // echo request
      case 13:  // timestamp
      case 14:  // timestamp reply
        return true;
      default:
        return false;  // errors, and what nobody uses any more
    }
  }
  return true;
}

// Builds the ICMP error answering `p` into `out`; returns its length, 0 when none is allowed.
// Its source is the offending packet's destination: the TUN's own address would be a local
// source arriving from outside, which the kernel drops as a martian.
size_t IcmpError(std::span<const uint8_t> p, const Ip4Header& h, uint8_t type, uint8_t code,
                 std::span<uint8_t, kIcmpErrorMax> out) {
  if (!MayAnswer(p, h)) return 0;
  // The offending header and the first 8 bytes of its payload (RFC 792).
  const size_t quoted = h.header_len + std::min<size_t>(8, h.length - h.header_len);
  const size_t total = 20 + 8 + quoted;
  uint8_t* o = out.data();
  std::memset(o, 0, 28);
  o[0] = 0x45;
  o[1] = 0xc0;  // internetwork control, as routers send their errors
  Put16(&o[2], static_cast<uint16_t>(total));
  o[8] = 64;
  o[9] = kProtoIcmp;
  Put32(&o[12], h.dst);
  Put32(&o[16], h.src);
  Put16(&o[10], Checksum({o, 20}));
  o[20] = type;
  o[21] = code;
  std::memcpy(&o[28], p.data(), quoted);
  Put16(&o[22], Checksum({o + 20, total - 20}));
  return total;
}

}  // namespace

uint16_t Checksum(std::span<const uint8_t> data) {
  uint32_t sum = 0;
  size_t i = 0;
  for (; i + 1 < data.size(); i += 2) sum += Get16(&data[i]);
  if (i < data.size()) sum += uint32_t{data[i]} << 8;
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(~sum);
}

std::string_view DropName(Drop d) {
  switch (d) {
    case Drop::kMalformed:
      return "malformed";
    case Drop::kNotIpv4:
      return "not-ipv4";
    case Drop::kUnknownSender:
      return "unknown-sender";
    case Drop::kForeignDestination:
      return "foreign-destination";
    case Drop::kTtlExpired:
      return "ttl-expired";
    case Drop::kNoRoute:
      return "no-route";
    case Drop::kSendFailed:
      return "send-failed";
    case Drop::kTunWriteFailed:
      return "tun-write-failed";
    case Drop::kCount:
      break;
  }
  return "?";
}

PeerTable::PeerTable(net::Ip4Net own, std::vector<Peer> peers) : own_(own.Network()) {
  own_net_ = own_.ip().value();
  own_mask_ = own_.mask();
  std::sort(peers.begin(), peers.end(), [](const Peer& a, const Peer& b) {
    return a.subnet.Network().ip() < b.subnet.Network().ip();
  });
  for (const Peer& p : peers) {
    const net::Ip4Net n = p.subnet.Network();
    if (n.Overlaps(own_) || p.public_ip.value() == 0) continue;
    // Sorted by start: only the previous kept subnet can overlap this one.
    if (!nets_.empty() && (n.ip().value() & masks_.back()) == nets_.back()) continue;
    nets_.push_back(n.ip().value());
    masks_.push_back(n.mask());
    next_hop_.push_back(p.public_ip.value());
    public_ips_.push_back(p.public_ip.value());
  }
  std::sort(public_ips_.begin(), public_ips_.end());
  public_ips_.erase(std::unique(public_ips_.begin(), public_ips_.end()), public_ips_.end());
}

uint32_t PeerTable::Lookup(uint32_t dst) const {
  // The last subnet starting at or before dst is the only one that can hold it.
  auto it = std::upper_bound(nets_.begin(), nets_.end(), dst);
  if (it == nets_.begin()) return 0;
  const size_t i = static_cast<size_t>(it - nets_.begin()) - 1;
  return (dst & masks_[i]) == nets_[i] ? next_hop_[i] : 0;
}

bool PeerTable::IsPeer(uint32_t addr) const {
  return std::binary_search(public_ips_.begin(), public_ips_.end(), addr);
}

Verdict FromTun(std::span<uint8_t> packet, const PeerTable& table,
                std::span<uint8_t, kIcmpErrorMax> icmp) {
  Verdict v;
  Ip4Header h;
  if (!packet.empty() && (packet[0] >> 4) == 6) {
    v.reason = Drop::kNotIpv4;
    return v;
  }
  if (!Parse(packet, h)) return v;  // kMalformed
  v.peer = table.Lookup(h.dst);
  if (v.peer == 0) {
    v.reason = Drop::kNoRoute;
    v.length = IcmpError(packet, h, kIcmpDestUnreachable, kIcmpNetUnreachable, icmp);
    if (v.length != 0) v.action = Verdict::Action::kIcmp;
    return v;
  }
  if (packet[8] <= 1) {
    v.reason = Drop::kTtlExpired;
    v.length = IcmpError(packet, h, kIcmpTimeExceeded, kIcmpTtlExceededInTransit, icmp);
    if (v.length != 0) v.action = Verdict::Action::kIcmp;
    return v;
  }
  DecrementTtl(packet.data());
  v.action = Verdict::Action::kPass;
  v.length = h.length;
  return v;
}

Verdict FromPeer(uint32_t sender, std::span<uint8_t> packet, const PeerTable& table,
                 std::span<uint8_t, kIcmpErrorMax> icmp) {
  Verdict v;
  if (!table.IsPeer(sender)) {
    v.reason = Drop::kUnknownSender;
    return v;
  }
  Ip4Header h;
  if (!Parse(packet, h)) return v;
  if (!table.IsOwn(h.dst)) {
    v.reason = Drop::kForeignDestination;
    return v;
  }
  if (packet[8] <= 1) {
    v.reason = Drop::kTtlExpired;
    v.length = IcmpError(packet, h, kIcmpTimeExceeded, kIcmpTtlExceededInTransit, icmp);
    if (v.length != 0) v.action = Verdict::Action::kIcmp;
    return v;
  }
  DecrementTtl(packet.data());
  v.action = Verdict::Action::kPass;
  v.length = h.length;
  return v;
}

}  // namespace tartan::backend::udp
