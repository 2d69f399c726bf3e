#include "kernel/interfaces.hpp"

#include <limits>

// GCC 12 warns about its own <regex> internals when inlining under -fsanitize (GCC PR 105562,
// a false positive); keep -Werror usable for the sanitizer build.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <regex>

namespace tartan::kernel {

Result<Link> DefaultRouteLink(Rtnl& rtnl) {
  auto routes = rtnl.ListRoutes(RouteFilter{});
  if (!routes.ok()) return routes.error().Context("finding the default route interface");
  const Route* best = nullptr;
  for (const Route& r : *routes) {
    if (r.dst.prefix_len() != 0 || r.link_index == 0) continue;
    if (best == nullptr || r.metric < best->metric) best = &r;
  }
  if (best == nullptr) return Error::NotFound("no IPv4 default route to pick an interface from");
  return rtnl.GetLink(best->link_index);
}

Result<Link> LinkByIp(Rtnl& rtnl, net::Ip4 ip) {
  auto addrs = rtnl.ListAddresses(0);
  if (!addrs.ok()) return addrs.error().Context("finding the interface with " + ip.ToString());
  for (const Address& a : *addrs) {
    if (a.net.ip() == ip) return rtnl.GetLink(a.link_index);
  }
  return Error::NotFound("no interface has address " + ip.ToString());
}

Result<Link> LinkByRegex(Rtnl& rtnl, std::string_view pattern) {
  std::regex re;
  try {
    re = std::regex(pattern.begin(), pattern.end(), std::regex::ECMAScript);
  } catch (const std::regex_error& e) {
    return Error::InvalidArgument("interface regex \"" + std::string(pattern) + "\": " + e.what());
  }
  auto links = rtnl.ListLinks();
  if (!links.ok()) return links.error();
  auto addrs = rtnl.ListAddresses(0);
  if (!addrs.ok()) return addrs.error();
  // flannel tries every interface's addresses before any interface's name.
  for (const Link& link : *links) {
    for (const Address& a : *addrs) {
      if (a.link_index == link.index && std::regex_search(a.net.ip().ToString(), re)) return link;
    }
  }
  for (const Link& link : *links) {
    if (std::regex_search(link.name, re)) return link;
  }
  return Error::NotFound("no interface name or address matches \"" + std::string(pattern) + "\"");
}

Result<Link> LinkThatReaches(Rtnl& rtnl, net::Ip4 dst) {
  auto route = rtnl.LookupRoute(dst);
  if (!route.ok()) return route.error();
  if (route->link_index == 0) return Error::NotFound("no interface reaches " + dst.ToString());
  return rtnl.GetLink(route->link_index);
}

Result<std::vector<net::Ip4Net>> Ip4AddressesOf(Rtnl& rtnl, int index) {
  auto addrs = rtnl.ListAddresses(index);
  if (!addrs.ok()) return addrs.error();
  std::vector<net::Ip4Net> out;
  for (const Address& a : *addrs) out.push_back(a.net);
  return out;
}

Result<uint32_t> MtuOf(Rtnl& rtnl, int index) {
  auto link = rtnl.GetLink(index);
  if (!link.ok()) return link.error();
  return link->mtu;
}

Result<bool> IsOnLink(Rtnl& rtnl, net::Ip4 dst) {
  auto route = rtnl.LookupRoute(dst);
  if (!route.ok()) return route.error();
  return !route->gateway.has_value();
}

}  // namespace tartan::kernel

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
