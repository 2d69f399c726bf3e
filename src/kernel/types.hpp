// Kernel networking objects as plain values.
//
// These are what backends put into a desired state and what the netlink layer reads back
// from the kernel, so the reconciler can diff the two with set operations. No syscalls here:
// the header is usable from pure unit tests. Every field that the kernel reports back takes
// part in == and ordering, so an object read from a dump compares equal to the one that was
// asked for only when the kernel really holds that object.
#pragma once

#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "net/ip.hpp"

namespace tartan::kernel {

// rtm_protocol value that marks routes installed by tartan, so the reconciler only ever
// touches its own routes. 0x54 ('T') is not reserved in iproute2's rt_protos and not used by
// any routing daemon we know of; flannel itself installs routes with RTPROT_BOOT (3).
inline constexpr uint8_t kTartanRouteProtocol = 0x54;
inline constexpr uint8_t kRouteProtocolBoot = 3;    // RTPROT_BOOT: `ip route add`, flannel
inline constexpr uint8_t kRouteProtocolKernel = 2;  // RTPROT_KERNEL: connected routes
inline constexpr uint32_t kMainTable = 254;         // RT_TABLE_MAIN

// rtm_type values of the routes a reconciler must see: tartan installs unicast routes only,
// but an operator's `ip route add blackhole|unreachable|prohibit|throw <dst>` holds a
// destination just as well, and must never be overwritten by one of tartan's.
inline constexpr uint8_t kRouteTypeUnicast = 1;      // RTN_UNICAST
inline constexpr uint8_t kRouteTypeBlackhole = 6;    // RTN_BLACKHOLE
inline constexpr uint8_t kRouteTypeUnreachable = 7;  // RTN_UNREACHABLE
inline constexpr uint8_t kRouteTypeProhibit = 8;     // RTN_PROHIBIT
inline constexpr uint8_t kRouteTypeThrow = 9;        // RTN_THROW

enum class RouteScope : uint8_t {
  kUniverse = 0,  // RT_SCOPE_UNIVERSE: via a gateway
  kLink = 253,    // RT_SCOPE_LINK: directly attached
  kHost = 254,    // RT_SCOPE_HOST
};

// An IPv4 route (unicast, or one of the types above). Identity in the kernel is (table, dst,
// tos, metric); the other fields are the route's content, which a reconciler compares to decide
// on a replace.
struct Route {
  net::Ip4Net dst;  // canonical network (host bits zero)
  std::optional<net::Ip4> gateway;
  int link_index = 0;  // RTA_OIF; 0 = let the kernel choose from the gateway
  uint8_t protocol = kTartanRouteProtocol;
  uint32_t table = kMainTable;
  RouteScope scope = RouteScope::kUniverse;
  bool onlink = false;  // RTNH_F_ONLINK: gateway need not be on a connected subnet
  uint32_t metric = 0;  // RTA_PRIORITY
  uint8_t type = kRouteTypeUnicast;

  // `dst via gw dev link` (host-gw, DirectRouting), scope universe.
  static Route Via(net::Ip4Net dst, net::Ip4 gw, int link_index);
  // `dst via gw dev link onlink` (vxlan: the gateway is the peer's VTEP address, a /32 that
  // no connected route covers).
  static Route ViaOnlink(net::Ip4Net dst, net::Ip4 gw, int link_index);
  // `dst dev link` with scope link (udp: the whole network into the TUN).
  static Route Direct(net::Ip4Net dst, int link_index);
  // `blackhole dst metric m` (--ip-blackhole-route: this host's own subnet).
  static Route Blackhole(net::Ip4Net dst, uint32_t metric);

  // "10.244.3.0/24 via 192.0.2.3 dev eth0 onlink", "blackhole 10.244.7.0/24 metric 9" (the
  // protocol only when it is not tartan's);
  // `dev` is the link's name when the caller knows it, else the index is written as "#2".
  std::string ToString(std::string_view dev = {}) const;
  auto operator<=>(const Route&) const = default;
};

// A nexthop object (`ip nexthop`, Linux >= 5.3): a gateway and device that routes refer to by
// id. NetlinkRtnl installs tartan's gateway routes through them (ADR 0021); a Route stays the
// value the reconciler reasons about and never names one.
struct Nexthop {
  uint32_t id = 0;
  std::optional<net::Ip4> gateway;  // none for a blackhole or a group
  int link_index = 0;
  bool onlink = false;
  uint8_t protocol = kTartanRouteProtocol;

  std::string ToString(std::string_view dev = {}) const;  // "id 7 via 192.0.2.3 dev eth0"
  auto operator<=>(const Nexthop&) const = default;
};

inline constexpr uint16_t kNudPermanent = 0x80;  // NUD_PERMANENT
inline constexpr uint16_t kNudNoArp = 0x40;      // NUD_NOARP

// An ARP (IPv4 neighbour) entry.
struct Neighbour {
  net::Ip4 ip;
  net::Mac mac;  // zero when the kernel has no link-layer address (INCOMPLETE, FAILED)
  int link_index = 0;
  uint16_t state = kNudPermanent;  // NUD_* bits as the kernel reports them

  bool permanent() const { return (state & kNudPermanent) != 0; }
  std::string ToString(
      std::string_view dev = {}) const;  // "10.244.1.0 lladdr 42:.. dev x permanent"
  auto operator<=>(const Neighbour&) const = default;
};

// A bridge forwarding entry on a vxlan device: frames for `mac` go to the VTEP at `dst`.
struct FdbEntry {
  net::Mac mac;
  net::Ip4 dst;
  int link_index = 0;  // the vxlan device
  bool permanent = true;
  bool self = true;  // NTF_SELF: the entry lives in the vxlan device's own table, not a bridge's

  std::string ToString(
      std::string_view dev = {}) const;  // "42:.. dst 192.0.2.2 dev x self permanent"
  auto operator<=>(const FdbEntry&) const = default;
};

// An IPv4 address on a link; `net` keeps the host bits ("10.244.38.0/32", "192.0.2.1/24").
struct Address {
  net::Ip4Net net;
  int link_index = 0;

  std::string ToString(std::string_view dev = {}) const;  // "192.0.2.1/24 dev eth0"
  auto operator<=>(const Address&) const = default;
};

inline constexpr uint16_t kVxlanDefaultPort = 8472;  // Linux's (and flannel's) default

struct VxlanAttrs {
  uint32_t vni = 1;
  std::optional<net::Ip4> local;
  int underlay_index = 0;  // IFLA_VXLAN_LINK; 0 = none
  uint16_t port = kVxlanDefaultPort;
  bool learning = false;  // flannel: nolearning, the FDB is programmed from etcd
  bool gbp = false;

  auto operator<=>(const VxlanAttrs&) const = default;
};

struct Link {
  int index = 0;
  std::string name;
  uint32_t mtu = 0;  // 0 in a create request: kernel default
  net::Mac mac;      // zero in a create request: kernel picks a random one
  bool up = false;   // IFF_UP (administrative state)
  std::string kind;  // IFLA_INFO_KIND: "vxlan", "veth", "tun", ... empty for plain devices
  std::optional<VxlanAttrs> vxlan;

  std::string ToString() const;  // "flannel.1 (#3, vxlan vni 1, mtu 1450)"
  auto operator<=>(const Link&) const = default;
};

// The kernel's answer to "which route would carry a packet to this address".
struct RouteLookup {
  std::optional<net::Ip4> gateway;  // none: the destination is on-link
  int link_index = 0;
  std::optional<net::Ip4> source;  // RTA_PREFSRC
  auto operator<=>(const RouteLookup&) const = default;
};

}  // namespace tartan::kernel
