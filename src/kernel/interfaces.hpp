// Finding the external interface the way flanneld's --iface, --iface-regex and
// --iface-can-reach do, over any Rtnl (so the choice logic is testable with a fake).
#pragma once

#include <string_view>
#include <vector>

#include "common/result.hpp"
#include "kernel/rtnl.hpp"

namespace tartan::kernel {

// The link of the main table's default route (the one with the lowest metric); NotFound
// when there is no default route.
Result<Link> DefaultRouteLink(Rtnl& rtnl);

// The link that holds `ip` as one of its IPv4 addresses.
Result<Link> LinkByIp(Rtnl& rtnl, net::Ip4 ip);

// flannel's --iface-regex: the first link with an IPv4 address that the (unanchored,
// ECMAScript) regex finds a match in; failing that, the first link whose name it matches.
// InvalidArgument for a pattern that does not compile.
Result<Link> LinkByRegex(Rtnl& rtnl, std::string_view pattern);

// flannel's --iface-can-reach: the link the kernel would send packets for `dst` out of.
Result<Link> LinkThatReaches(Rtnl& rtnl, net::Ip4 dst);

// The IPv4 addresses on link `index`, in kernel order (the primary address first).
Result<std::vector<net::Ip4Net>> Ip4AddressesOf(Rtnl& rtnl, int index);

// The MTU of link `index` (flannel sizes flannel.1 and flannel0 from the external link's).
Result<uint32_t> MtuOf(Rtnl& rtnl, int index);

// True when `dst` is reached without a gateway: DirectRouting's test for "same L2 segment".
Result<bool> IsOnLink(Rtnl& rtnl, net::Ip4 dst);

}  // namespace tartan::kernel
