// Choosing the external interface and public IP as flanneld does (compat doc section 9):
// --iface entries (names or addresses) in order, then --iface-regex (matched against
// addresses, then names), then --iface-can-reach, else the interface of the default route.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "backend/backend.hpp"
#include "common/result.hpp"
#include "kernel/rtnl.hpp"

namespace tartan::agent {

struct IfaceChoice {
  std::vector<std::string> iface;        // --iface
  std::vector<std::string> iface_regex;  // --iface-regex
  std::optional<net::Ip4> can_reach;     // --iface-can-reach
  std::optional<net::Ip4> public_ip;     // --public-ip
};

// On success the interface, its first IPv4 address, MTU, connected networks and the public
// IP (--public-ip, else the interface address). Errors say what was looked for and what exists.
Result<backend::ExternalInterface> SelectExternalInterface(kernel::Rtnl& rtnl,
                                                           const IfaceChoice& choice);

// The interface `link` as SelectExternalInterface describes a chosen one: its first IPv4
// address (or `preferred_addr` when it holds it), MTU, connected networks, public IP.
Result<backend::ExternalInterface> DescribeInterface(kernel::Rtnl& rtnl, const kernel::Link& link,
                                                     std::optional<net::Ip4> preferred_addr,
                                                     const IfaceChoice& choice);

}  // namespace tartan::agent
