// rtnetlink message building and parsing, with no socket in sight.
//
// Everything here works on memory only (libmnl's attribute helpers do not touch the kernel),
// so the exact bytes tartan sends and the way it reads the kernel's answers are covered by
// unit tests without root. The socket layer (netlink_socket.hpp) only moves these buffers.
#pragma once

#include <linux/netlink.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"
#include "kernel/types.hpp"

struct nlattr;

namespace tartan::kernel::nl {

// One netlink request under construction. The buffer is sized for the largest request tartan
// builds (a vxlan create is ~150 bytes). A put that does not fit marks the request overflowed
// instead of writing, and the socket refuses to send it: a request missing an attribute
// could match more than intended (a delete without its gateway).
class Request {
 public:
  static constexpr size_t kCapacity = 1024;

  Request(uint16_t type, uint16_t flags);
  Request(Request&&) = default;
  Request& operator=(Request&&) = default;
  Request(const Request&) = delete;
  Request& operator=(const Request&) = delete;

  // The family header (rtmsg, ifinfomsg, ...), zeroed; call once, before any attribute.
  template <typename T>
  T& PutHeader() {
    return *static_cast<T*>(PutHeaderBytes(sizeof(T)));
  }

  void PutU8(uint16_t type, uint8_t v);
  void PutU16(uint16_t type, uint16_t v);
  void PutU32(uint16_t type, uint32_t v);
  void PutBe16(uint16_t type, uint16_t host_order);
  void PutIp4(uint16_t type, net::Ip4 ip);
  void PutMac(uint16_t type, const net::Mac& mac);
  void PutString(uint16_t type, std::string_view s);
  void PutFlag(uint16_t type);
  nlattr* BeginNest(uint16_t type);
  void EndNest(nlattr* nest);

  nlmsghdr* header() { return reinterpret_cast<nlmsghdr*>(buf_.data()); }
  const nlmsghdr* header() const { return reinterpret_cast<const nlmsghdr*>(buf_.data()); }
  const void* data() const { return buf_.data(); }
  size_t size() const { return header()->nlmsg_len; }
  bool overflowed() const { return overflowed_; }

 private:
  void* PutHeaderBytes(size_t len);

  // uint32_t elements: netlink messages must start 4-byte aligned.
  std::vector<uint32_t> buf_;
  bool overflowed_ = false;
};

// --- Requests. `flags` are added to NLM_F_REQUEST (the socket adds NLM_F_ACK). ---

// RTM_NEWROUTE / RTM_DELROUTE. A delete matches on dst, table, metric and on the protocol,
// gateway and link when they are set, so deleting one of tartan's routes never removes an
// operator's route to the same destination with another protocol.
//
// With `nexthop_id`, an RTM_NEWROUTE refers to that nexthop object (RTA_NH_ID) instead of
// carrying the route's gateway, device and onlink flag, which the nexthop holds.
Request RouteRequest(uint16_t type, uint16_t flags, const Route& route, uint32_t nexthop_id = 0);
Request RouteDump();
// RTM_GETROUTE for one destination: the kernel answers with the route it would use.
Request RouteGet(net::Ip4 dst);

// RTM_NEWNEXTHOP / RTM_DELNEXTHOP (a delete needs only the id), RTM_GETNEXTHOP for one id,
// and a dump of every nexthop.
Request NexthopRequest(uint16_t type, uint16_t flags, const Nexthop& nh);
Request NexthopGet(uint32_t id);
Request NexthopDump();

Request LinkGetByIndex(int index);
Request LinkGetByName(std::string_view name);
Request LinkDump();
// RTM_NEWLINK creating `link.name` of `link.kind` (with IFLA_INFO_DATA for vxlan); mtu and
// mac only when non-zero.
Request LinkCreate(const Link& link);
// RTM_NEWLINK changing an existing link; unset fields stay as they are.
Request LinkChange(int index, std::optional<bool> up, std::optional<uint32_t> mtu,
                   std::optional<net::Mac> mac);
Request LinkDelete(int index);

Request AddressRequest(uint16_t type, uint16_t flags, const Address& addr);
Request AddressDump();

Request NeighbourRequest(uint16_t type, uint16_t flags, const Neighbour& n);
Request NeighbourDump();

// AF_BRIDGE neighbour messages addressed to the vxlan device itself (NTF_SELF).
Request FdbRequest(uint16_t type, uint16_t flags, const FdbEntry& e);
Request FdbDump();

// --- Parsers: nullopt when the message is not of the kind asked for (another address
// family, a route neither unicast nor blackhole, a cloned cache entry) or is malformed. ---

// A route that refers to a nexthop object reads as the nexthop's gateway, device and onlink
// flag when the kernel adds them (net.ipv4.nexthop_compat_mode=1, the default); its id goes
// to `nexthop_id` (0 for a route of the classic form).
std::optional<Route> ParseRoute(const nlmsghdr* nlh, uint32_t* nexthop_id = nullptr);
// IPv4 nexthops (groups and blackholes too, without a gateway); nullopt for other families.
std::optional<Nexthop> ParseNexthop(const nlmsghdr* nlh);
std::optional<RouteLookup> ParseRouteLookup(const nlmsghdr* nlh);
std::optional<Link> ParseLink(const nlmsghdr* nlh);
std::optional<Address> ParseAddress(const nlmsghdr* nlh);
std::optional<Neighbour> ParseNeighbour(const nlmsghdr* nlh);
std::optional<FdbEntry> ParseFdb(const nlmsghdr* nlh);

// The payload of an NLMSG_ERROR message: error 0 is an ack; otherwise a negative errno and,
// when the kernel supports extended acks, its own explanation ("Nexthop has invalid gateway").
struct AckError {
  int error = 0;
  std::string message;
};
std::optional<AckError> ParseAck(const nlmsghdr* nlh);

// "<what>: <strerror(errno)>" plus " (<kernel's message>)" when there is one, with an
// Error::Code an operator's tooling can branch on (EEXIST -> AlreadyExists, ENOENT/ESRCH/
// ENODEV -> NotFound, EPERM -> PermissionDenied, ...).
Error ErrnoError(int err, std::string_view what, std::string_view kernel_message = {});

}  // namespace tartan::kernel::nl
