// Rtnl over a real rtnetlink socket, in the calling thread's network namespace.
#pragma once

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

  NetlinkSocket socket_;
};

// The name of link `index` for messages ("eth0"), or "#index" when it has none (any more).
std::string LinkName(int index);

}  // namespace tartan::kernel
