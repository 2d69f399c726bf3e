// The udp backend's packet path, free of I/O: which peer a packet from flannel0 goes to, which
// datagrams from the network may enter the host, TTL handling and the ICMP errors flannel's
// udp backend answers with. The workers (dataplane.hpp) only move bytes around these calls.
//
// Wire format (flannel's): the UDP payload is the bare IPv4 packet, nothing before it.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "net/ip.hpp"

namespace tartan::backend::udp {

// A fixed-capacity open-addressing hash map from a uint32 key to a non-zero uint32 value, with one
// writer and any number of readers that take no lock.
//
// Each slot is one std::atomic<uint64_t> holding key and value together (key << 32 | value),
// so a reader always sees a whole entry, old or new, never half of each. An entry is never
// moved once written: an update overwrites the value in place, a removal leaves a tombstone
// (value 0), and a new key fills the first tombstone or empty slot of its probe sequence. A
// reader probing linearly therefore finds a key that is present throughout its probe, and
// stops at an empty slot (the writer keeps at most 3/4 of the slots used, so one exists).
// Growing is not done in place: the writer builds a larger map and publishes it (see
// PeerTableWriter), which the readers take at their next batch.
//
// Memory ordering: slots are read and written relaxed. No other data is published through a
// slot (the word is the whole entry), so there is nothing for acquire/release to order; the
// map's allocation and initial contents reach the readers through the release/acquire pair
// that publishes the map (DataPlane::SetPeers / TableView::Get).
class SlotMap {
 public:
  // Room for at least `entries` keys before Full.
  explicit SlotMap(size_t entries);

  // Reader, any thread: the value for `key`, or 0.
  uint32_t Find(uint32_t key) const;

  // Writer: sets `key` (value != 0), in place when present; false (nothing changed) when the
  // key is new and the map has no room left.
  bool Put(uint32_t key, uint32_t value);
  // Writer: removes `key` (a tombstone; the slot is reused by a later Put).
  void Erase(uint32_t key);
  // Writer: whether Put(key, ...) would succeed (the key is present, a tombstone on its way
  // can take it, or an empty slot may still be used).
  bool CanPut(uint32_t key) const;
  size_t size() const { return live_; }
  // Writer: every entry, in slot order.
  template <typename F>
  void ForEach(F&& f) const {
    for (size_t i = 0; i <= mask_; ++i) {
      const uint64_t w = slots_[i].load(std::memory_order_relaxed);
      if (static_cast<uint32_t>(w) != 0)
        f(static_cast<uint32_t>(w >> 32), static_cast<uint32_t>(w));
    }
  }

 private:
  size_t Home(uint32_t key) const {
    // Fibonacci hashing: subnets differ in their middle bits, the multiply spreads them.
    return static_cast<size_t>((uint64_t{key} * 0x9e3779b97f4a7c15ull) >> shift_);
  }

  std::unique_ptr<std::atomic<uint64_t>[]> slots_;
  size_t mask_ = 0;     // capacity - 1 (a power of two)
  unsigned shift_ = 0;  // 64 - log2(capacity)
  size_t limit_ = 0;    // most slots used (live + tombstones): 3/4 of the capacity
  size_t used_ = 0;     // writer only
  size_t live_ = 0;     // writer only
};

// The peers as the workers see them: which public IP holds the subnet a packet is addressed
// to, and whether a datagram's sender holds a lease. Addresses are in host byte order.
//
// Readers (the workers) take no lock and allocate nothing: a lookup is a hash and a short
// linear probe over atomic slots. One writer (the agent's loop, through PeerTableWriter)
// changes a peer in place in O(1), concurrently with the readers; see SlotMap for why that is
// safe. Every subnet in the table has the length of our own (the agent only hands over leases
// with exactly SubnetLen, ADR 0012), so subnets are equal or disjoint and the lookup is one
// probe with the subnet mask.
class PeerTable {
 public:
  struct Peer {
    net::Ip4Net subnet;
    net::Ip4 public_ip;
  };
  enum class Change : uint8_t {
    kApplied,  // the table holds the peer now
    kLeftOut,  // not a subnet the table can hold (see Set); nothing changed
    kFull,     // no room for a new entry: build a larger table (nothing changed)
  };

  // No own subnet, no peers.
  PeerTable() : PeerTable(net::Ip4Net(), 0) {}
  // `own` is this host's subnet: only packets addressed into it are let into the host. Room
  // for at least `room` peers before Set answers kFull.
  PeerTable(net::Ip4Net own, size_t room);
  // A table holding `peers` (as Set would take them one by one, later ones winning).
  PeerTable(net::Ip4Net own, const std::vector<Peer>& peers);

  // The public IP of the peer whose subnet holds `dst`, or 0 (no peer ever has 0.0.0.0).
  uint32_t Lookup(uint32_t dst) const {
    return subnet_mask_ == 0 ? 0 : subnets_.Find(dst & subnet_mask_);
  }
  // Whether a datagram from `addr` comes from a host that holds a lease.
  bool IsPeer(uint32_t addr) const { return addr != 0 && ips_.Find(addr) != 0; }
  bool IsOwn(uint32_t dst) const { return (dst & own_mask_) == own_net_ && own_mask_ != 0; }
  const net::Ip4Net& own() const { return own_; }

  // Writer, one thread at a time (readers may run meanwhile). Sets the peer holding `subnet`
  // (a moved peer is updated in place: a reader sees the old or the new address, never none).
  // Left out: a subnet of another length than ours (ambiguous lookups), our own subnet, and
  // public IP 0.0.0.0 (then the subnet is removed, as no peer can be reached through it).
  Change Set(net::Ip4Net subnet, net::Ip4 public_ip);
  // Writer: no peer holds `subnet` any more.
  void Remove(net::Ip4Net subnet);
  // Writer: the peers held, in no particular order.
  std::vector<Peer> Peers() const;
  size_t size() const { return subnets_.size(); }

 private:
  void Unref(uint32_t public_ip);

  net::Ip4Net own_;
  uint32_t own_net_ = 0;
  uint32_t own_mask_ = 0;
  uint32_t subnet_mask_ = 0;  // our subnet's mask: every peer's subnet has the same length
  SlotMap subnets_;           // subnet address -> public IP
  SlotMap ips_;               // public IP -> how many subnets it holds (the writer's count)
};

// The writer's side of the table the workers read: applies one peer's change in place, and
// only when the table is full or our own subnet changed builds a new one and hands it over
// through `publish` (DataPlane::SetPeers). A table built for n peers has room for n/2 more
// new ones (tombstones of removed peers count as used until then), so building one (O(n))
// happens at most once per n/2 changes: O(1) amortised per change.
class PeerTableWriter {
 public:
  using Publish = std::function<void(std::shared_ptr<const PeerTable>)>;
  explicit PeerTableWriter(Publish publish) : publish_(std::move(publish)) {}

  // Our own subnet; a change builds and publishes a new table with the same peers.
  void SetOwn(net::Ip4Net own);
  void Set(net::Ip4Net subnet, net::Ip4 public_ip);
  void Remove(net::Ip4Net subnet);

  // The table the workers read (publish it to a data plane made again).
  std::shared_ptr<const PeerTable> table() const { return table_; }
  // Tables built and published so far.
  uint64_t publishes() const { return publishes_; }

 private:
  void Rebuild(net::Ip4Net own, size_t room);

  Publish publish_;
  std::shared_ptr<PeerTable> table_ = std::make_shared<PeerTable>();
  uint64_t publishes_ = 0;
};

// Why a packet was not passed on. Counted per reason (tartan_udp_dropped_total on /metrics,
// dataplane.hpp); the counts are also logged when they move.
enum class Drop : uint8_t {
  kMalformed,           // not a complete IPv4 packet
  kNotIpv4,             // IPv6 from the TUN (the kernel's own router solicitations and MLD)
  kUnknownSender,       // datagram from an address no lease announces (spoofed or stray)
  kForeignDestination,  // datagram from a peer whose packet is not addressed into our subnet
  kTtlExpired,          // TTL ran out here (answered with ICMP time-exceeded when allowed)
  kNoRoute,             // from the TUN to an address no peer holds (ICMP net-unreachable)
  kSendFailed,          // the kernel refused the datagram (sendmmsg, or an ICMP error's sendto)
  kTunWriteFailed,      // the kernel refused the write into the TUN
  kCount,
};
std::string_view DropName(Drop d);

// Room for the ICMP errors built here: IP (20) + ICMP (8) + the offending header (<= 60) + 8.
inline constexpr size_t kIcmpErrorMax = 96;

struct Verdict {
  enum class Action : uint8_t { kPass, kDrop, kIcmp };
  Action action = Action::kDrop;
  Drop reason = Drop::kMalformed;  // set when not kPass
  uint32_t peer = 0;               // FromTun kPass: the peer's public IP
  size_t length = 0;               // kPass: the packet's length; kIcmp: the ICMP error's
};

// A packet the kernel routed into flannel0. kPass: send `length` bytes to `peer` (the TTL has
// been decremented in place). kIcmp: write `icmp[0, length)` back into the TUN (net-unreachable
// for an address no peer holds, time-exceeded when the TTL runs out); `reason` says which.
Verdict FromTun(std::span<uint8_t> packet, const PeerTable& table,
                std::span<uint8_t, kIcmpErrorMax> icmp);

// A datagram's payload from `sender` (host byte order). kPass: write `length` bytes into the
// TUN (TTL decremented). Only a peer's datagram whose packet is addressed into our own subnet
// passes: nothing relayed or spoofed enters the host. kIcmp (time-exceeded): send `icmp` back
// to `sender` as a datagram -- its destination is the offending packet's source, behind that
// peer.
Verdict FromPeer(uint32_t sender, std::span<uint8_t> packet, const PeerTable& table,
                 std::span<uint8_t, kIcmpErrorMax> icmp);

// Internet checksum (RFC 1071) of `data`, folded and complemented.
uint16_t Checksum(std::span<const uint8_t> data);

}  // namespace tartan::backend::udp
