// The udp backend's packet path, free of I/O: which peer a packet from flannel0 goes to, which
// datagrams from the network may enter the host, TTL handling and the ICMP errors flannel's
// udp backend answers with. The workers (dataplane.hpp) only move bytes around these calls.
//
// Wire format (flannel's): the UDP payload is the bare IPv4 packet, nothing before it.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "net/ip.hpp"

namespace tartan::backend::udp {

// An immutable view of the peers, built off the packet path and swapped in whole, so that a
// worker reads it without a lock (see dataplane.hpp). Addresses are in host byte order.
class PeerTable {
 public:
  struct Peer {
    net::Ip4Net subnet;
    net::Ip4 public_ip;
  };

  PeerTable() = default;
  // `own` is this host's subnet: only packets addressed into it are let into the host.
  // Peers whose subnet overlaps one already taken (a network never has such leases; a hostile
  // key could) are left out, so that lookups stay unambiguous.
  PeerTable(net::Ip4Net own, std::vector<Peer> peers);

  // The public IP of the peer whose subnet holds `dst`, or 0 (no peer ever has 0.0.0.0).
  // O(log n): a binary search over the subnets, sorted and disjoint.
  uint32_t Lookup(uint32_t dst) const;
  // Whether a datagram from `addr` comes from a host that holds a lease.
  bool IsPeer(uint32_t addr) const;
  bool IsOwn(uint32_t dst) const { return (dst & own_mask_) == own_net_ && own_mask_ != 0; }

  const net::Ip4Net& own() const { return own_; }
  size_t size() const { return nets_.size(); }
  bool operator==(const PeerTable& o) const {
    return own_ == o.own_ && nets_ == o.nets_ && masks_ == o.masks_ && next_hop_ == o.next_hop_;
  }

 private:
  net::Ip4Net own_;
  uint32_t own_net_ = 0;
  uint32_t own_mask_ = 0;
  // Parallel arrays sorted by network: the search touches only nets_.
  std::vector<uint32_t> nets_;
  std::vector<uint32_t> masks_;
  std::vector<uint32_t> next_hop_;
  std::vector<uint32_t> public_ips_;  // sorted, unique
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
