// An in-memory Rtnl for tests of code above the kernel layer (backends, the reconciler,
// interface choice): it keeps the objects it is given and answers with the kernel's rules
// where they matter to callers -- exclusive adds fail with AlreadyExists, deletes of absent
// objects with NotFound, objects on unknown links are refused, a deleted link takes its
// addresses, routes, neighbours and FDB entries with it.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "kernel/rtnl.hpp"

namespace tartan::kernel {

class FakeRtnl final : public Rtnl {
 public:
  // Adds a link as if it already existed (index assigned when 0); returns its index.
  int AddLinkForTest(Link link);
  // Makes the next call to the method named `op` ("ReplaceRoute", "ListRoutes", ...) fail.
  void FailNext(const std::string& op, Error error) { failures_[op] = std::move(error); }
  // Number of mutating calls so far (adds, replaces, deletes, link changes).
  int mutations() const { return mutations_; }

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
  // Longest prefix match over the main table, then the connected networks of the addresses;
  // FailedPrecondition ("Network is unreachable") when nothing matches.
  Result<RouteLookup> LookupRoute(net::Ip4 dst) override;

  Result<std::vector<Neighbour>> ListNeighbours(int link_index) override;
  Status ReplaceNeighbour(const Neighbour& n) override;
  Status DeleteNeighbour(const Neighbour& n) override;

  Result<std::vector<FdbEntry>> ListFdb(int link_index) override;
  Status AppendFdb(const FdbEntry& e) override;
  Status ReplaceFdb(const FdbEntry& e) override;
  Status DeleteFdb(const FdbEntry& e) override;

 private:
  std::optional<Error> Injected(const std::string& op);
  Status NeedLink(int index, const std::string& what) const;

  using RouteKey = std::tuple<uint32_t, net::Ip4Net, uint32_t>;  // table, dst, metric
  std::map<int, Link> links_;
  std::vector<Address> addresses_;
  std::map<RouteKey, Route> routes_;
  std::map<std::pair<int, net::Ip4>, Neighbour> neighbours_;
  std::vector<FdbEntry> fdb_;
  std::map<std::string, Error> failures_;
  int next_index_ = 1;
  int mutations_ = 0;
};

}  // namespace tartan::kernel
