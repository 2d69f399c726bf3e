#include "kernel/message.hpp"

#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <linux/if.h>
#include <linux/if_link.h>
#include <linux/neighbour.h>
#include <linux/nexthop.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>

#include <array>
#include <cassert>
#include <cerrno>
#include <cstring>

namespace tartan::kernel::nl {
namespace {

// Attribute table indexed by type, for one level of attributes.
template <size_t N>
struct Attrs {
  std::array<const nlattr*, N + 1> at{};
  const nlattr* operator[](uint16_t type) const { return type <= N ? at[type] : nullptr; }
};

template <size_t N>
int CollectAttr(const nlattr* attr, void* data) {
  auto* table = static_cast<Attrs<N>*>(data);
  // mnl_attr_get_type masks NLA_F_NESTED / NLA_F_NET_BYTEORDER.
  uint16_t type = mnl_attr_get_type(attr);
  if (type <= N) table->at[type] = attr;
  return MNL_CB_OK;
}

// Attributes following a family header of `hdrlen` bytes; nullopt if the message is too short.
template <size_t N>
std::optional<Attrs<N>> ParseAttrs(const nlmsghdr* nlh, size_t hdrlen) {
  if (nlh->nlmsg_len < NLMSG_HDRLEN + hdrlen) return std::nullopt;
  Attrs<N> table;
  if (mnl_attr_parse(nlh, static_cast<unsigned>(hdrlen), CollectAttr<N>, &table) < 0) {
    return std::nullopt;
  }
  return table;
}

template <size_t N>
std::optional<Attrs<N>> ParseNested(const nlattr* nest) {
  Attrs<N> table;
  if (mnl_attr_parse_nested(nest, CollectAttr<N>, &table) < 0) return std::nullopt;
  return table;
}

std::optional<uint32_t> U32(const nlattr* a) {
  if (a == nullptr || mnl_attr_get_payload_len(a) < sizeof(uint32_t)) return std::nullopt;
  return mnl_attr_get_u32(a);
}

std::optional<uint8_t> U8(const nlattr* a) {
  if (a == nullptr || mnl_attr_get_payload_len(a) < sizeof(uint8_t)) return std::nullopt;
  return mnl_attr_get_u8(a);
}

std::optional<uint16_t> Be16(const nlattr* a) {
  if (a == nullptr || mnl_attr_get_payload_len(a) < sizeof(uint16_t)) return std::nullopt;
  return ntohs(mnl_attr_get_u16(a));
}

// Only a 4-byte payload is an IPv4 address; AF_BRIDGE FDB entries may carry IPv6 VTEPs.
std::optional<net::Ip4> Ip4Attr(const nlattr* a) {
  if (a == nullptr || mnl_attr_get_payload_len(a) != 4) return std::nullopt;
  uint32_t be;
  std::memcpy(&be, mnl_attr_get_payload(a), 4);
  return net::Ip4::FromNetworkOrder(be);
}

std::optional<net::Mac> MacAttr(const nlattr* a) {
  if (a == nullptr || mnl_attr_get_payload_len(a) != 6) return std::nullopt;
  net::Mac::Bytes b;
  std::memcpy(b.data(), mnl_attr_get_payload(a), 6);
  return net::Mac(b);
}

std::optional<std::string> StringAttr(const nlattr* a) {
  if (a == nullptr) return std::nullopt;
  const char* p = static_cast<const char*>(mnl_attr_get_payload(a));
  return std::string(p, strnlen(p, mnl_attr_get_payload_len(a)));
}

template <typename T>
const T* FamilyHeader(const nlmsghdr* nlh) {
  if (nlh->nlmsg_len < NLMSG_HDRLEN + sizeof(T)) return nullptr;
  return static_cast<const T*>(mnl_nlmsg_get_payload(nlh));
}

}  // namespace

Request::Request(uint16_t type, uint16_t flags) : buf_(kCapacity / sizeof(uint32_t), 0) {
  nlmsghdr* nlh = mnl_nlmsg_put_header(buf_.data());
  nlh->nlmsg_type = type;
  nlh->nlmsg_flags = static_cast<uint16_t>(NLM_F_REQUEST | flags);
}

void* Request::PutHeaderBytes(size_t len) {
  assert(header()->nlmsg_len == NLMSG_HDRLEN);
  return mnl_nlmsg_put_extra_header(header(), len);
}

#define TARTAN_PUT(call)             \
  do {                               \
    if (!(call)) overflowed_ = true; \
  } while (0)

void Request::PutU8(uint16_t type, uint8_t v) {
  TARTAN_PUT(mnl_attr_put_u8_check(header(), kCapacity, type, v));
}
void Request::PutU16(uint16_t type, uint16_t v) {
  TARTAN_PUT(mnl_attr_put_u16_check(header(), kCapacity, type, v));
}
void Request::PutU32(uint16_t type, uint32_t v) {
  TARTAN_PUT(mnl_attr_put_u32_check(header(), kCapacity, type, v));
}
void Request::PutBe16(uint16_t type, uint16_t host_order) {
  TARTAN_PUT(mnl_attr_put_u16_check(header(), kCapacity, type, htons(host_order)));
}
void Request::PutIp4(uint16_t type, net::Ip4 ip) {
  uint32_t be = ip.network_order();
  TARTAN_PUT(mnl_attr_put_check(header(), kCapacity, type, sizeof be, &be));
}
void Request::PutMac(uint16_t type, const net::Mac& mac) {
  TARTAN_PUT(mnl_attr_put_check(header(), kCapacity, type, mac.bytes().size(), mac.bytes().data()));
}
void Request::PutString(uint16_t type, std::string_view s) {
  std::string z(s);  // the kernel wants the terminating NUL inside the attribute
  TARTAN_PUT(mnl_attr_put_check(header(), kCapacity, type, z.size() + 1, z.c_str()));
}
void Request::PutFlag(uint16_t type) {
  TARTAN_PUT(mnl_attr_put_check(header(), kCapacity, type, 0, nullptr));
}
nlattr* Request::BeginNest(uint16_t type) {
  nlattr* nest = mnl_attr_nest_start_check(header(), kCapacity, type);
  if (nest == nullptr) overflowed_ = true;
  return nest;
}
void Request::EndNest(nlattr* nest) {
  if (nest != nullptr) mnl_attr_nest_end(header(), nest);
}

#undef TARTAN_PUT

// ---------------------------------------------------------------------------------- routes

Request RouteRequest(uint16_t type, uint16_t flags, const Route& route, uint32_t nexthop_id) {
  Request req(type, flags);
  auto& rtm = req.PutHeader<rtmsg>();
  rtm.rtm_family = AF_INET;
  rtm.rtm_dst_len = route.dst.prefix_len();
  rtm.rtm_table =
      route.table < 256 ? static_cast<uint8_t>(route.table) : static_cast<uint8_t>(RT_TABLE_UNSPEC);
  rtm.rtm_protocol = route.protocol;
  if (type == RTM_DELROUTE) {
    // RT_SCOPE_NOWHERE and type 0 are the kernel's wildcards for a delete.
    rtm.rtm_scope = RT_SCOPE_NOWHERE;
    rtm.rtm_type = RTN_UNSPEC;
  } else {
    rtm.rtm_scope = static_cast<uint8_t>(route.scope);
    rtm.rtm_type = route.type;
  }
  if (route.onlink && nexthop_id == 0) rtm.rtm_flags |= RTNH_F_ONLINK;
  req.PutU32(RTA_TABLE, route.table);
  req.PutIp4(RTA_DST, route.dst.Network().ip());
  if (nexthop_id != 0) {
    req.PutU32(RTA_NH_ID, nexthop_id);
  } else {
    if (route.gateway) req.PutIp4(RTA_GATEWAY, *route.gateway);
    if (route.link_index != 0) req.PutU32(RTA_OIF, static_cast<uint32_t>(route.link_index));
  }
  if (route.metric != 0) req.PutU32(RTA_PRIORITY, route.metric);
  return req;
}

// -------------------------------------------------------------------------------- nexthops

Request NexthopRequest(uint16_t type, uint16_t flags, const Nexthop& nh) {
  Request req(type, flags);
  auto& nhm = req.PutHeader<nhmsg>();
  nhm.nh_family = AF_INET;
  if (type != RTM_DELNEXTHOP) {
    nhm.nh_protocol = nh.protocol;
    if (nh.onlink) nhm.nh_flags |= RTNH_F_ONLINK;
  }
  req.PutU32(NHA_ID, nh.id);
  if (type != RTM_DELNEXTHOP) {
    if (nh.gateway) req.PutIp4(NHA_GATEWAY, *nh.gateway);
    if (nh.link_index != 0) req.PutU32(NHA_OIF, static_cast<uint32_t>(nh.link_index));
  }
  return req;
}

Request NexthopGet(uint32_t id) {
  Request req(RTM_GETNEXTHOP, 0);
  req.PutHeader<nhmsg>().nh_family = AF_INET;
  req.PutU32(NHA_ID, id);
  return req;
}

Request NexthopDump() {
  Request req(RTM_GETNEXTHOP, NLM_F_DUMP);
  req.PutHeader<nhmsg>().nh_family = AF_INET;
  return req;
}

std::optional<Nexthop> ParseNexthop(const nlmsghdr* nlh) {
  const auto* nhm = FamilyHeader<nhmsg>(nlh);
  if (nhm == nullptr || nhm->nh_family != AF_INET) return std::nullopt;
  auto attrs = ParseAttrs<NHA_MAX>(nlh, sizeof(nhmsg));
  if (!attrs) return std::nullopt;
  auto id = U32((*attrs)[NHA_ID]);
  if (!id || *id == 0) return std::nullopt;
  Nexthop nh;
  nh.id = *id;
  nh.gateway = Ip4Attr((*attrs)[NHA_GATEWAY]);
  nh.link_index = static_cast<int>(U32((*attrs)[NHA_OIF]).value_or(0));
  nh.onlink = (nhm->nh_flags & RTNH_F_ONLINK) != 0;
  nh.protocol = nhm->nh_protocol;
  return nh;
}

Request RouteDump() {
  Request req(RTM_GETROUTE, NLM_F_DUMP);
  req.PutHeader<rtmsg>().rtm_family = AF_INET;
  return req;
}

Request RouteGet(net::Ip4 dst) {
  Request req(RTM_GETROUTE, 0);
  auto& rtm = req.PutHeader<rtmsg>();
  rtm.rtm_family = AF_INET;
  rtm.rtm_dst_len = 32;
  req.PutIp4(RTA_DST, dst);
  return req;
}

static_assert(kRouteTypeUnicast == RTN_UNICAST && kRouteTypeBlackhole == RTN_BLACKHOLE &&
              kRouteTypeUnreachable == RTN_UNREACHABLE && kRouteTypeProhibit == RTN_PROHIBIT &&
              kRouteTypeThrow == RTN_THROW);

std::optional<Route> ParseRoute(const nlmsghdr* nlh, uint32_t* nexthop_id) {
  const auto* rtm = FamilyHeader<rtmsg>(nlh);
  if (rtm == nullptr || rtm->rtm_family != AF_INET || (rtm->rtm_flags & RTM_F_CLONED) != 0 ||
      rtm->rtm_dst_len > 32) {
    return std::nullopt;
  }
  // Local, broadcast and multicast routes are the kernel's own bookkeeping; the others hold a
  // destination (types.hpp).
  switch (rtm->rtm_type) {
    case RTN_UNICAST:
    case RTN_BLACKHOLE:
    case RTN_UNREACHABLE:
    case RTN_PROHIBIT:
    case RTN_THROW:
      break;
    default:
      return std::nullopt;
  }
  auto attrs = ParseAttrs<RTA_MAX>(nlh, sizeof(rtmsg));
  if (!attrs) return std::nullopt;
  Route r;
  net::Ip4 dst = Ip4Attr((*attrs)[RTA_DST]).value_or(net::Ip4());
  r.dst = net::Ip4Net(dst, rtm->rtm_dst_len).Network();
  r.gateway = Ip4Attr((*attrs)[RTA_GATEWAY]);
  r.link_index = static_cast<int>(U32((*attrs)[RTA_OIF]).value_or(0));
  r.protocol = rtm->rtm_protocol;
  r.table = U32((*attrs)[RTA_TABLE]).value_or(rtm->rtm_table);
  r.scope = static_cast<RouteScope>(rtm->rtm_scope);
  // Only ONLINK is part of the route's identity; LINKDOWN/DEAD come and go with the carrier.
  r.onlink = (rtm->rtm_flags & RTNH_F_ONLINK) != 0;
  r.metric = U32((*attrs)[RTA_PRIORITY]).value_or(0);
  r.type = rtm->rtm_type;
  if (nexthop_id != nullptr) *nexthop_id = U32((*attrs)[RTA_NH_ID]).value_or(0);
  return r;
}

std::optional<RouteLookup> ParseRouteLookup(const nlmsghdr* nlh) {
  const auto* rtm = FamilyHeader<rtmsg>(nlh);
  if (rtm == nullptr || rtm->rtm_family != AF_INET) return std::nullopt;
  auto attrs = ParseAttrs<RTA_MAX>(nlh, sizeof(rtmsg));
  if (!attrs) return std::nullopt;
  RouteLookup out;
  out.gateway = Ip4Attr((*attrs)[RTA_GATEWAY]);
  out.link_index = static_cast<int>(U32((*attrs)[RTA_OIF]).value_or(0));
  out.source = Ip4Attr((*attrs)[RTA_PREFSRC]);
  return out;
}

// ----------------------------------------------------------------------------------- links

namespace {

// An RTM_*LINK request on link `index` (0: the link named by IFLA_IFNAME, or every link), with
// the ifinfomsg flags in `change` set to `flags_set`.
Request LinkRequest(uint16_t type, uint16_t nl_flags, int index = 0, unsigned change = 0,
                    unsigned flags_set = 0) {
  Request req(type, nl_flags);
  auto& ifi = req.PutHeader<ifinfomsg>();
  ifi.ifi_family = AF_UNSPEC;
  ifi.ifi_index = index;
  ifi.ifi_change = change;
  ifi.ifi_flags = flags_set;
  return req;
}

}  // namespace

Request LinkGetByIndex(int index) { return LinkRequest(RTM_GETLINK, 0, index); }

Request LinkGetByName(std::string_view name) {
  Request req = LinkRequest(RTM_GETLINK, 0);
  req.PutString(IFLA_IFNAME, name);
  return req;
}

Request LinkDump() { return LinkRequest(RTM_GETLINK, NLM_F_DUMP); }

Request LinkCreate(const Link& link) {
  Request req = LinkRequest(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL);
  req.PutString(IFLA_IFNAME, link.name);
  if (link.mtu != 0) req.PutU32(IFLA_MTU, link.mtu);
  if (!link.mac.IsZero()) req.PutMac(IFLA_ADDRESS, link.mac);
  nlattr* info = req.BeginNest(IFLA_LINKINFO);
  req.PutString(IFLA_INFO_KIND, link.vxlan ? "vxlan" : link.kind);
  if (link.vxlan) {
    const VxlanAttrs& v = *link.vxlan;
    nlattr* data = req.BeginNest(IFLA_INFO_DATA);
    req.PutU32(IFLA_VXLAN_ID, v.vni);
    if (v.local) req.PutIp4(IFLA_VXLAN_LOCAL, *v.local);
    if (v.underlay_index != 0) req.PutU32(IFLA_VXLAN_LINK, static_cast<uint32_t>(v.underlay_index));
    if (v.port != 0) req.PutBe16(IFLA_VXLAN_PORT, v.port);
    req.PutU8(IFLA_VXLAN_LEARNING, v.learning ? 1 : 0);
    if (v.gbp) req.PutFlag(IFLA_VXLAN_GBP);
    req.EndNest(data);
  }
  req.EndNest(info);
  return req;
}

Request LinkChange(int index, std::optional<bool> up, std::optional<uint32_t> mtu,
                   std::optional<net::Mac> mac) {
  Request req = LinkRequest(RTM_NEWLINK, 0, index, up ? IFF_UP : 0, up && *up ? IFF_UP : 0);
  if (mtu) req.PutU32(IFLA_MTU, *mtu);
  if (mac) req.PutMac(IFLA_ADDRESS, *mac);
  return req;
}

Request LinkDelete(int index) { return LinkRequest(RTM_DELLINK, 0, index); }

std::optional<Link> ParseLink(const nlmsghdr* nlh) {
  const auto* ifi = FamilyHeader<ifinfomsg>(nlh);
  if (ifi == nullptr) return std::nullopt;
  auto attrs = ParseAttrs<IFLA_MAX>(nlh, sizeof(ifinfomsg));
  if (!attrs) return std::nullopt;
  Link link;
  link.index = ifi->ifi_index;
  link.up = (ifi->ifi_flags & IFF_UP) != 0;
  link.name = StringAttr((*attrs)[IFLA_IFNAME]).value_or("");
  link.mtu = U32((*attrs)[IFLA_MTU]).value_or(0);
  link.mac = MacAttr((*attrs)[IFLA_ADDRESS]).value_or(net::Mac());
  if (const nlattr* info_attr = (*attrs)[IFLA_LINKINFO]) {
    auto info = ParseNested<IFLA_INFO_MAX>(info_attr);
    if (!info) return std::nullopt;
    link.kind = StringAttr((*info)[IFLA_INFO_KIND]).value_or("");
    const nlattr* data_attr = (*info)[IFLA_INFO_DATA];
    if (link.kind == "vxlan" && data_attr != nullptr) {
      auto data = ParseNested<IFLA_VXLAN_MAX>(data_attr);
      if (!data) return std::nullopt;
      VxlanAttrs v;
      v.vni = U32((*data)[IFLA_VXLAN_ID]).value_or(0);
      v.local = Ip4Attr((*data)[IFLA_VXLAN_LOCAL]);
      v.underlay_index = static_cast<int>(U32((*data)[IFLA_VXLAN_LINK]).value_or(0));
      v.port = Be16((*data)[IFLA_VXLAN_PORT]).value_or(0);
      v.learning = U8((*data)[IFLA_VXLAN_LEARNING]).value_or(0) != 0;
      v.gbp = (*data)[IFLA_VXLAN_GBP] != nullptr;
      link.vxlan = v;
    }
  }
  return link;
}

// ------------------------------------------------------------------------------- addresses

Request AddressRequest(uint16_t type, uint16_t flags, const Address& addr) {
  Request req(type, flags);
  auto& ifa = req.PutHeader<ifaddrmsg>();
  ifa.ifa_family = AF_INET;
  ifa.ifa_prefixlen = addr.net.prefix_len();
  ifa.ifa_index = static_cast<uint32_t>(addr.link_index);
  req.PutIp4(IFA_LOCAL, addr.net.ip());
  req.PutIp4(IFA_ADDRESS, addr.net.ip());
  return req;
}

Request AddressDump() {
  Request req(RTM_GETADDR, NLM_F_DUMP);
  req.PutHeader<ifaddrmsg>().ifa_family = AF_INET;
  return req;
}

std::optional<Address> ParseAddress(const nlmsghdr* nlh) {
  const auto* ifa = FamilyHeader<ifaddrmsg>(nlh);
  if (ifa == nullptr || ifa->ifa_family != AF_INET || ifa->ifa_prefixlen > 32) return std::nullopt;
  auto attrs = ParseAttrs<IFA_MAX>(nlh, sizeof(ifaddrmsg));
  if (!attrs) return std::nullopt;
  // On point-to-point links IFA_ADDRESS is the peer; IFA_LOCAL is always our own address.
  auto ip = Ip4Attr((*attrs)[IFA_LOCAL]);
  if (!ip) ip = Ip4Attr((*attrs)[IFA_ADDRESS]);
  if (!ip) return std::nullopt;
  return Address{net::Ip4Net(*ip, ifa->ifa_prefixlen), static_cast<int>(ifa->ifa_index)};
}

// ------------------------------------------------------------------ neighbours and the FDB

namespace {

// The neighbour table holds both ARP entries (AF_INET) and bridge FDB entries (AF_BRIDGE): one
// message layout, told apart by the family.
Request NdRequest(uint16_t type, uint16_t flags, uint8_t family, int link_index, uint16_t state,
                  uint8_t ndm_flags = 0) {
  Request req(type, flags);
  auto& ndm = req.PutHeader<ndmsg>();
  ndm.ndm_family = family;
  ndm.ndm_ifindex = link_index;
  ndm.ndm_state = state;
  ndm.ndm_flags = ndm_flags;
  return req;
}

Request NdDump(uint8_t family) {
  Request req(RTM_GETNEIGH, NLM_F_DUMP);
  req.PutHeader<ndmsg>().ndm_family = family;
  return req;
}

struct NdMessage {
  const ndmsg* ndm;
  Attrs<NDA_MAX> attrs;
};

// The message's header and attributes when it is of `family`.
std::optional<NdMessage> ParseNd(const nlmsghdr* nlh, uint8_t family) {
  const auto* ndm = FamilyHeader<ndmsg>(nlh);
  if (ndm == nullptr || ndm->ndm_family != family) return std::nullopt;
  auto attrs = ParseAttrs<NDA_MAX>(nlh, sizeof(ndmsg));
  if (!attrs) return std::nullopt;
  return NdMessage{ndm, *attrs};
}

}  // namespace

Request NeighbourRequest(uint16_t type, uint16_t flags, const Neighbour& n) {
  Request req = NdRequest(type, flags, AF_INET, n.link_index, n.state);
  req.PutIp4(NDA_DST, n.ip);
  if (type != RTM_DELNEIGH && !n.mac.IsZero()) req.PutMac(NDA_LLADDR, n.mac);
  return req;
}

Request NeighbourDump() { return NdDump(AF_INET); }

std::optional<Neighbour> ParseNeighbour(const nlmsghdr* nlh) {
  auto msg = ParseNd(nlh, AF_INET);
  if (!msg) return std::nullopt;
  auto ip = Ip4Attr(msg->attrs[NDA_DST]);
  if (!ip) return std::nullopt;
  Neighbour n;
  n.ip = *ip;
  n.mac = MacAttr(msg->attrs[NDA_LLADDR]).value_or(net::Mac());
  n.link_index = msg->ndm->ndm_ifindex;
  n.state = msg->ndm->ndm_state;
  return n;
}

Request FdbRequest(uint16_t type, uint16_t flags, const FdbEntry& e) {
  Request req =
      NdRequest(type, flags, AF_BRIDGE, e.link_index, e.permanent ? NUD_PERMANENT : NUD_REACHABLE,
                e.self ? NTF_SELF : NTF_MASTER);
  req.PutMac(NDA_LLADDR, e.mac);
  req.PutIp4(NDA_DST, e.dst);
  return req;
}

Request FdbDump() { return NdDump(AF_BRIDGE); }

std::optional<FdbEntry> ParseFdb(const nlmsghdr* nlh) {
  auto msg = ParseNd(nlh, AF_BRIDGE);
  if (!msg) return std::nullopt;
  auto mac = MacAttr(msg->attrs[NDA_LLADDR]);
  auto dst = Ip4Attr(msg->attrs[NDA_DST]);
  // Entries without an IPv4 destination (a bridge port's own addresses, IPv6 VTEPs) are
  // nothing tartan programs.
  if (!mac || !dst) return std::nullopt;
  FdbEntry e;
  e.mac = *mac;
  e.dst = *dst;
  e.link_index = msg->ndm->ndm_ifindex;
  e.permanent = (msg->ndm->ndm_state & NUD_PERMANENT) != 0;
  e.self = (msg->ndm->ndm_flags & NTF_SELF) != 0;
  return e;
}

// ----------------------------------------------------------------------------------- acks

std::optional<AckError> ParseAck(const nlmsghdr* nlh) {
  if (nlh->nlmsg_type != NLMSG_ERROR || nlh->nlmsg_len < NLMSG_HDRLEN + sizeof(int)) {
    return std::nullopt;
  }
  const auto* err = static_cast<const nlmsgerr*>(mnl_nlmsg_get_payload(nlh));
  AckError out;
  out.error = err->error;
  if ((nlh->nlmsg_flags & NLM_F_ACK_TLVS) == 0) return out;
  // The TLVs follow the echoed request: only its header when capped or on success, the
  // whole request otherwise.
  size_t offset = sizeof(nlmsgerr);
  if (nlh->nlmsg_len < NLMSG_HDRLEN + offset) return out;
  if (err->error != 0 && (nlh->nlmsg_flags & NLM_F_CAPPED) == 0) {
    offset = sizeof(int) + NLMSG_ALIGN(err->msg.nlmsg_len);
  }
  if (nlh->nlmsg_len < NLMSG_HDRLEN + offset) return out;
  auto attrs = ParseAttrs<NLMSGERR_ATTR_MAX>(nlh, offset);
  if (attrs) out.message = StringAttr((*attrs)[NLMSGERR_ATTR_MSG]).value_or("");
  return out;
}

Error ErrnoError(int err, std::string_view what, std::string_view kernel_message) {
  if (err < 0) err = -err;
  std::string msg(what);
  msg += ": ";
  msg += std::strerror(err);
  if (!kernel_message.empty()) {
    msg += " (";
    msg += kernel_message;
    msg += ")";
  }
  switch (err) {
    case EEXIST:
      return Error::AlreadyExists(std::move(msg));
    case ENOENT:
    case ESRCH:
    case ENODEV:
    case EADDRNOTAVAIL:
      return Error::NotFound(std::move(msg));
    case EPERM:
    case EACCES:
      return Error::PermissionDenied(std::move(msg));
    case ENETUNREACH:
    case EHOSTUNREACH:
      return Error::FailedPrecondition(std::move(msg));
    case EINVAL:
    case ERANGE:
    case EAFNOSUPPORT:
    case EOPNOTSUPP:
      return Error::InvalidArgument(std::move(msg));
    case EAGAIN:
    case EBUSY:
    case EINTR:
    case ENOBUFS:
    case ENOMEM:
      return Error::Unavailable(std::move(msg));
    default:
      return Error::Internal(std::move(msg));
  }
}

}  // namespace tartan::kernel::nl
