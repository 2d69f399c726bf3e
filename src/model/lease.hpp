// A lease: one host's subnet and what peers need to reach it. Key and JSON codecs match
// flannel byte for byte (docs: ../shared/docs/flannel-compat.md sections 2 and 3).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/result.hpp"
#include "net/ip.hpp"

namespace tartan::model {

// The subnet(s) a lease covers, which is also the last segment of its etcd key:
// "10.5.52.0-24" or, dual-stack, "10.12.13.0-24&fd00:12:13::-56".
struct SubnetKey {
  net::Ip4Net ipv4;                 // canonical
  std::optional<net::Ip6Net> ipv6;  // canonical, dual-stack only

  // Parses the last key segment (no prefix). Rejects non-canonical networks and anything
  // else flannel's key pattern would not accept; unlike flannel's unanchored pattern, the
  // whole segment must match. The IPv6 part may be written uncompressed (flannel's pattern
  // allows lowercase hex and colons); ToString always writes it compressed.
  static Result<SubnetKey> Parse(std::string_view key_segment);
  std::string ToString() const;

  auto operator<=>(const SubnetKey&) const = default;
};

// Which flannel era's lease value a key space holds (docs: flannel-compat.md section 3).
enum class LeaseShape {
  // flannel >= v0.12 (the etcd v3 key space): PublicIPv6 always present, BackendData verbatim.
  kCurrent,
  // flannel v0.11 (the etcd v2 key space), as it writes values itself: no PublicIPv6, and vxlan's
  // BackendData holds only VtepMAC (no VNI).
  kV011,
};

// The JSON value stored under a subnet key.
struct LeaseAttrs {
  // nullopt when absent or "0.0.0.0" (flannel's zero value); ToJson then writes "0.0.0.0",
  // as flannel does, so the field is always present for flanneld to decode.
  std::optional<net::Ip4> public_ip;
  std::optional<net::Ip6> public_ipv6;  // never IPv4-mapped (Parse rejects those)
  std::string backend_type;             // "" when absent (udp leases carry none)
  std::string backend_data;             // compact JSON text of BackendData, "" when absent
  std::string backend_v6_data;          // compact JSON text of BackendV6Data, "" when absent

  // Accepts every era's shape (v0.11 without PublicIPv6, udp without BackendType, ...).
  // Field names match case-insensitively, unknown fields are ignored, the last duplicate
  // wins (Go's encoding/json). A present PublicIP must be a dotted-quad string (null is an
  // error, as in flannel); null PublicIPv6/BackendType/BackendData/BackendV6Data count as
  // absent. BackendData is kept as Go would re-emit it: compacted, key order, duplicates
  // and number spelling preserved, <, >, & escaped. Garbage, or nesting deeper than 64,
  // gives an error value; never throws.
  static Result<LeaseAttrs> Parse(std::string_view json_text);
  // What current flannel writes:
  // {"PublicIP":"…","PublicIPv6":null,"BackendType":"…","BackendData":{…},"BackendV6Data":{…}}
  // with PublicIPv6 always present (null when unset) and the other three omitted when empty.
  // kV011: what flanneld v0.11 writes, {"PublicIP":"…","BackendType":"vxlan",
  // "BackendData":{"VtepMAC":"…"}}: PublicIPv6 only when set (v0.11 has no IPv6 and ignores
  // the field; a dual-stack tartan peer needs it), BackendV6Data likewise, and for vxlan only
  // the VtepMAC member of BackendData (the whole BackendData when it has none).
  std::string ToJson(LeaseShape shape = LeaseShape::kCurrent) const;

  bool operator==(const LeaseAttrs&) const = default;
};

struct Lease {
  SubnetKey subnet;
  LeaseAttrs attrs;
  // The etcd lease the key is attached to; 0 for a reservation (a key without a lease,
  // pinned by an operator, which never expires and is never handed to another host).
  int64_t etcd_lease_id = 0;
  // When the lease runs out; unset for reservations.
  std::optional<std::chrono::system_clock::time_point> expiration;
  // etcd's mod_revision of the key, so watchers can order events.
  int64_t revision = 0;
  // Set by an acquisition only: the store's identity of the holder (store::Registry::
  // OwnerToken), recorded so that a restart knows the lease is its own (docs/adr/0013).
  int64_t owner_token = 0;

  bool is_reservation() const { return etcd_lease_id == 0; }
  bool operator==(const Lease&) const = default;
};

}  // namespace tartan::model
