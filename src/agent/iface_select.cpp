#include "agent/iface_select.hpp"

#include "kernel/interfaces.hpp"

namespace tartan::agent {

Result<backend::ExternalInterface> DescribeInterface(kernel::Rtnl& rtnl, const kernel::Link& link,
                                                     std::optional<net::Ip4> preferred_addr,
                                                     const IfaceChoice& choice) {
  auto addrs = kernel::Ip4AddressesOf(rtnl, link.index);
  if (!addrs.ok()) return addrs.error().Context("reading the addresses of " + link.name);
  if (addrs->empty()) {
    return Error::FailedPrecondition("interface " + link.name + " has no IPv4 address");
  }
  backend::ExternalInterface ext;
  ext.index = link.index;
  ext.name = link.name;
  ext.mtu = link.mtu;
  ext.iface_addr = addrs->front().ip();  // the primary address, as flanneld takes it
  for (const net::Ip4Net& a : *addrs) {
    ext.connected.push_back(a.Network());
    if (preferred_addr && a.ip() == *preferred_addr) ext.iface_addr = a.ip();
  }
  ext.public_ip = choice.public_ip.value_or(ext.iface_addr);
  if (ext.mtu == 0) return Error::FailedPrecondition("interface " + link.name + " reports MTU 0");
  return ext;
}

namespace {

std::string Join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : ", ") + s;
  return out;
}

}  // namespace

Result<backend::ExternalInterface> SelectExternalInterface(kernel::Rtnl& rtnl,
                                                           const IfaceChoice& choice) {
  if (!choice.iface.empty()) {
    for (const std::string& want : choice.iface) {
      if (auto ip = net::Ip4::Parse(want); ip.ok()) {
        if (auto link = kernel::LinkByIp(rtnl, *ip); link.ok()) {
          return DescribeInterface(rtnl, *link, *ip, choice);
        }
      } else if (auto link = rtnl.GetLinkByName(want); link.ok()) {
        return DescribeInterface(rtnl, *link, std::nullopt, choice);
      }
    }
    return Error::NotFound("no interface matches --iface " + Join(choice.iface));
  }
  if (!choice.iface_regex.empty()) {
    for (const std::string& pattern : choice.iface_regex) {
      auto link = kernel::LinkByRegex(rtnl, pattern);
      if (link.ok()) return DescribeInterface(rtnl, *link, std::nullopt, choice);
      if (link.error().code == Error::Code::kInvalidArgument) return link.error();
    }
    return Error::NotFound("no interface name or address matches --iface-regex " +
                           Join(choice.iface_regex));
  }
  if (choice.can_reach) {
    auto link = kernel::LinkThatReaches(rtnl, *choice.can_reach);
    if (!link.ok()) {
      return link.error().Context("--iface-can-reach " + choice.can_reach->ToString());
    }
    return DescribeInterface(rtnl, *link, std::nullopt, choice);
  }
  auto link = kernel::DefaultRouteLink(rtnl);
  if (!link.ok()) {
    return Error::NotFound("no default route to take the interface from (" + link.error().message +
                           "); name one with --iface or --iface-regex");
  }
  return DescribeInterface(rtnl, *link, std::nullopt, choice);
}

}  // namespace tartan::agent
