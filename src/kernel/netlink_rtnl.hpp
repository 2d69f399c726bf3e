// Rtnl over a real rtnetlink socket, in the calling thread's network namespace.
#pragma once

#include <optional>
#include <vector>

#include "kernel/netlink_socket.hpp"
#include "kernel/rtnl.hpp"

namespace tartan::kernel {

class NetlinkRtnl final : public Rtnl {
 public:
  static Result<NetlinkRtnl> Open();
  explicit NetlinkRtnl(NetlinkSocket socket) : socket_(std::move(socket)) {}

  Result<Link> GetLink(int index) override;
  Result<Link> GetLinkByName(std::string_view name) override;
  Result<std::vector<Link>> ListLinks() override;
  Result<Link> CreateLink(const Link& spec) override;
  Status SetLinkUp(int index, bool up) override;
  Status SetLinkMtu(int index, uint32_t mtu) override;
  Status SetLinkMac(int index, const net::Mac& mac) override;
  Status DeleteLink(int index) override;

  Result<std::vector<Address>> ListAddresses(int link_index) override;
  Status AddAddress(const Address& addr) override;
  Status DeleteAddress(const Address& addr) override;

  Result<std::vector<Route>> ListRoutes(const RouteFilter& filter) override;
  Status AddRoute(const Route& route) override;
  Status ReplaceRoute(const Route& route) override;
  Status DeleteRoute(const Route& route) override;
  Result<RouteLookup> LookupRoute(net::Ip4 dst) override;
  Status DropUnusedNexthops() override;
  bool NexthopRemovalExpected(uint32_t id) const override;
  // Whether gateway routes go in through nexthop objects (the kernel has them and reports
  // their gateway in route messages, net.ipv4.nexthop_compat_mode=1).
  bool uses_nexthops() const { return nexthops_ && compat_; }

  Result<std::vector<Neighbour>> ListNeighbours(int link_index) override;
  Status ReplaceNeighbour(const Neighbour& n) override;
  Status DeleteNeighbour(const Neighbour& n) override;

  Result<std::vector<FdbEntry>> ListFdb(int link_index) override;
  Status AppendFdb(const FdbEntry& e) override;
  Status ReplaceFdb(const FdbEntry& e) override;
  Status DeleteFdb(const FdbEntry& e) override;

 private:
  template <typename T, typename Parse, typename Keep>
  Result<std::vector<T>> Dump(nl::Request (*make)(), std::string_view what, Parse parse, Keep keep);

  // Adds (or finds, when tartan added it before) the nexthop object a gateway route of
  // tartan's goes through: id = the gateway address, so one per gateway (ADR 0021).
  // nullopt when the route goes in the classic way instead.
  std::optional<uint32_t> EnsureNexthop(const Route& route);
  Status WriteRoute(const Route& route, uint16_t flags, std::string_view verb);

  NetlinkSocket socket_;
  bool nexthops_ = false;  // the kernel has nexthop objects (probed at Open)
  bool compat_ = true;     // net.ipv4.nexthop_compat_mode, read at each listing
  // Nexthop ids the routes of the last full listing used (sorted), those tartan added or found
  // since, and those DropUnusedNexthops removed (whose removal events are its own).
  std::vector<uint32_t> listed_nexthops_;
  bool listed_ = false;
  std::vector<uint32_t> used_since_listing_;
  std::vector<uint32_t> dropped_;
};

// The name of link `index` for messages ("eth0"), or "#index" when it has none (any more).
std::string LinkName(int index);

}  // namespace tartan::kernel
