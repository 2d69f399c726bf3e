// The kernel's routing objects as the reconciler sees them: a seam between "what tartan wants"
// and "how it is asked of the kernel".
//
// NetlinkRtnl (netlink_rtnl.hpp) is the real thing; tests of backends and of the reconciler
// can implement this interface in memory. Every method reports failure as a value; none
// throws. Lists return only what the filter asks for, in the kernel's order.
#pragma once

#include <optional>
#include <string_view>
#include <vector>

#include "common/result.hpp"
#include "kernel/types.hpp"

namespace tartan::kernel {

struct RouteFilter {
  uint32_t table = kMainTable;
  std::optional<uint8_t> protocol;  // e.g. kTartanRouteProtocol: only tartan's own routes
  int link_index = 0;               // 0 = any
};

class Rtnl {
 public:
  virtual ~Rtnl() = default;

  // Links. Lookups fail with NotFound when there is no such link.
  virtual Result<Link> GetLink(int index) = 0;
  virtual Result<Link> GetLinkByName(std::string_view name) = 0;
  virtual Result<std::vector<Link>> ListLinks() = 0;
  // Creates `spec.name` (a vxlan device when spec.vxlan is set, else a device of spec.kind
  // that needs no further attributes) and returns it as the kernel reports it. AlreadyExists
  // when a link of that name exists: the caller decides whether the old one is compatible.
  virtual Result<Link> CreateLink(const Link& spec) = 0;
  virtual Status SetLinkUp(int index, bool up) = 0;
  virtual Status SetLinkMtu(int index, uint32_t mtu) = 0;
  virtual Status SetLinkMac(int index, const net::Mac& mac) = 0;
  virtual Status DeleteLink(int index) = 0;

  // IPv4 addresses; link_index 0 lists every link's.
  virtual Result<std::vector<Address>> ListAddresses(int link_index) = 0;
  virtual Status AddAddress(const Address& addr) = 0;  // AlreadyExists if present
  virtual Status DeleteAddress(const Address& addr) = 0;

  // IPv4 unicast routes.
  virtual Result<std::vector<Route>> ListRoutes(const RouteFilter& filter) = 0;
  virtual Status AddRoute(const Route& route) = 0;      // AlreadyExists if the dst is taken
  virtual Status ReplaceRoute(const Route& route) = 0;  // create or overwrite
  virtual Status DeleteRoute(const Route& route) = 0;   // NotFound if absent
  // The route the kernel would use to reach `dst` (like `ip route get`).
  virtual Result<RouteLookup> LookupRoute(net::Ip4 dst) = 0;

  // How a gateway route is put in is the implementation's business: NetlinkRtnl uses nexthop
  // objects where the kernel has them (ADR 0021), and a Route never names one. The reconciler
  // only says when a full listing has been acted on -- nexthops of tartan's that no route used
  // in it may go -- and asks whether a nexthop's removal was one of those.
  virtual Status DropUnusedNexthops() { return Status::Ok(); }
  virtual bool NexthopRemovalExpected(uint32_t /*id*/) const { return true; }

  // ARP entries; link_index 0 lists every link's.
  virtual Result<std::vector<Neighbour>> ListNeighbours(int link_index) = 0;
  virtual Status ReplaceNeighbour(const Neighbour& n) = 0;  // create or overwrite
  virtual Status DeleteNeighbour(const Neighbour& n) = 0;

  // FDB entries with an IPv4 destination on a vxlan device.
  virtual Result<std::vector<FdbEntry>> ListFdb(int link_index) = 0;
  // Adds another destination for the MAC (flooding entries); a MAC normally has one.
  virtual Status AppendFdb(const FdbEntry& e) = 0;
  virtual Status ReplaceFdb(const FdbEntry& e) = 0;  // create or point the MAC at e.dst
  virtual Status DeleteFdb(const FdbEntry& e) = 0;
};

}  // namespace tartan::kernel
