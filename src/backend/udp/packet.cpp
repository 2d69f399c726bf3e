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

namespace {

constexpr uint64_t Word(uint32_t key, uint32_t value) { return uint64_t{key} << 32 | value; }
constexpr uint32_t KeyOf(uint64_t w) { return static_cast<uint32_t>(w >> 32); }
constexpr uint32_t ValueOf(uint64_t w) { return static_cast<uint32_t>(w); }
// A removed entry: not empty (probes go on past it), value 0 (never a live entry).
constexpr uint64_t kTombstone = Word(~uint32_t{0}, 0);

}  // namespace

SlotMap::SlotMap(size_t entries) {
  // At most 3/4 of the slots used; at least twice the entries asked for, so that a table
  // built for n peers takes n/2 more new ones before it is full.
  size_t capacity = 16;
  unsigned bits = 4;
  while (capacity < 2 * entries) {
    capacity *= 2;
    ++bits;
  }
  slots_ = std::make_unique<std::atomic<uint64_t>[]>(capacity);  // value-initialised: 0
  mask_ = capacity - 1;
  shift_ = 64 - bits;
  limit_ = capacity / 4 * 3;
}

uint32_t SlotMap::Find(uint32_t key) const {
  for (size_t i = Home(key);; i = (i + 1) & mask_) {
    const uint64_t w = slots_[i].load(std::memory_order_relaxed);
    if (w == 0) return 0;  // empty: the key was never further along
    if (KeyOf(w) == key && ValueOf(w) != 0) return ValueOf(w);
  }
}

bool SlotMap::Put(uint32_t key, uint32_t value) {
  size_t free = mask_ + 1;  // the first tombstone on the way, if any
  size_t i = Home(key);
  for (;; i = (i + 1) & mask_) {
    const uint64_t w = slots_[i].load(std::memory_order_relaxed);
    if (w == 0) break;
    if (ValueOf(w) == 0) {
      if (free > mask_) free = i;
    } else if (KeyOf(w) == key) {
      slots_[i].store(Word(key, value), std::memory_order_relaxed);  // in place
      return true;
    }
  }
  if (free <= mask_) {
    i = free;  // a tombstone: used_ stays
  } else {
    if (used_ >= limit_) return false;
    ++used_;
  }
  slots_[i].store(Word(key, value), std::memory_order_relaxed);
  ++live_;
  return true;
}

bool SlotMap::CanPut(uint32_t key) const {
  if (used_ < limit_) return true;
  for (size_t i = Home(key);; i = (i + 1) & mask_) {
    const uint64_t w = slots_[i].load(std::memory_order_relaxed);
    if (w == 0) return false;
    if (ValueOf(w) == 0 || KeyOf(w) == key) return true;
  }
}

void SlotMap::Erase(uint32_t key) {
  for (size_t i = Home(key);; i = (i + 1) & mask_) {
    const uint64_t w = slots_[i].load(std::memory_order_relaxed);
    if (w == 0) return;
    if (KeyOf(w) == key && ValueOf(w) != 0) {
      // Not emptied: a reader probing for a key stored beyond this slot must go on past it.
      slots_[i].store(kTombstone, std::memory_order_relaxed);
      --live_;
      return;
    }
  }
}

PeerTable::PeerTable(net::Ip4Net own, size_t room)
    : own_(own.Network()),
      own_net_(own_.ip().value()),
      own_mask_(own_.mask()),
      subnet_mask_(own_.mask()),
      subnets_(room),
      ips_(room) {}

PeerTable::PeerTable(net::Ip4Net own, const std::vector<Peer>& peers)
    : PeerTable(own, peers.size()) {
  for (const Peer& p : peers) Set(p.subnet, p.public_ip);
}

PeerTable::Change PeerTable::Set(net::Ip4Net subnet, net::Ip4 public_ip) {
  const net::Ip4Net n = subnet.Network();
  if (own_mask_ == 0 || n.prefix_len() != own_.prefix_len() || n == own_) return Change::kLeftOut;
  const uint32_t key = n.ip().value();
  const uint32_t ip = public_ip.value();
  if (ip == 0) {
    Remove(n);
    return Change::kLeftOut;
  }
  const uint32_t old = subnets_.Find(key);
  if (old == ip) return Change::kApplied;
  const uint32_t count = ips_.Find(ip);
  // Checked before anything changes, so that kFull leaves the table as it was.
  if ((old == 0 && !subnets_.CanPut(key)) || (count == 0 && !ips_.CanPut(ip))) return Change::kFull;
  // The new address is a peer's before the subnet points at it, so that its datagrams are let
  // in as soon as ours go to it.
  ips_.Put(ip, count + 1);
  subnets_.Put(key, ip);
  if (old != 0) Unref(old);
  return Change::kApplied;
}

void PeerTable::Remove(net::Ip4Net subnet) {
  const net::Ip4Net n = subnet.Network();
  if (n.prefix_len() != own_.prefix_len()) return;
  const uint32_t key = n.ip().value();
  const uint32_t old = subnets_.Find(key);
  if (old == 0) return;
  subnets_.Erase(key);
  Unref(old);
}

void PeerTable::Unref(uint32_t public_ip) {
  const uint32_t count = ips_.Find(public_ip);
  if (count > 1) {
    ips_.Put(public_ip, count - 1);  // present: in place, never short of room
  } else if (count == 1) {
    ips_.Erase(public_ip);
  }
}

std::vector<PeerTable::Peer> PeerTable::Peers() const {
  std::vector<Peer> out;
  out.reserve(subnets_.size());
  subnets_.ForEach([&](uint32_t key, uint32_t ip) {
    out.push_back({net::Ip4Net(net::Ip4(key), own_.prefix_len()), net::Ip4(ip)});
  });
  return out;
}

void PeerTableWriter::Rebuild(net::Ip4Net own, size_t room) {
  auto next = std::make_shared<PeerTable>(own, room);
  for (const PeerTable::Peer& p : table_->Peers()) next->Set(p.subnet, p.public_ip);
  table_ = next;
  ++publishes_;
  // The workers take it at their next batch; until then they read the previous one, which
  // this writer no longer changes (and which lives until the last of them has let go).
  publish_(std::move(next));
}

void PeerTableWriter::SetOwn(net::Ip4Net own) {
  if (own.Network() != table_->own()) Rebuild(own, table_->size());
}

void PeerTableWriter::Set(net::Ip4Net subnet, net::Ip4 public_ip) {
  if (table_->Set(subnet, public_ip) != PeerTable::Change::kFull) return;
  // Room for half as many again: the next rebuild is at least n/2 new peers away.
  Rebuild(table_->own(), table_->size() + table_->size() / 2 + 1);
  table_->Set(subnet, public_ip);  // a fresh table with room to spare: cannot be full
}

void PeerTableWriter::Remove(net::Ip4Net subnet) { table_->Remove(subnet); }

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
