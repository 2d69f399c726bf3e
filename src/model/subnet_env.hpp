// subnet.env: the file docker (--bip) or the CNI plugin reads to put this host's pods on its
// subnet (compat doc section 6).
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "common/result.hpp"
#include "net/ip.hpp"

namespace tartan::model {

struct SubnetEnv {
  std::optional<net::Ip4Net> network;       // FLANNEL_NETWORK
  std::optional<net::Ip4Net> subnet;        // the lease's subnet (canonical, .0)
  std::optional<net::Ip6Net> ipv6_network;  // FLANNEL_IPV6_NETWORK
  std::optional<net::Ip6Net> ipv6_subnet;   // the lease's IPv6 subnet (canonical)
  int mtu = 0;                              // FLANNEL_MTU
  bool ipmasq = false;                      // FLANNEL_IPMASQ

  // flannel's exact text and order. FLANNEL_SUBNET / FLANNEL_IPV6_SUBNET carry the first
  // usable address (.1), the gateway docker and the CNI bridge take; a /32 (/128) subnet,
  // which has no such address, is written as its network address.
  std::string Format() const;
  // Reads flannel's format back (FLANNEL_SUBNET's .1 becomes .0; networks are canonicalised).
  // Blank lines, # comments and unknown keys are ignored; "export ", spaces around '=', CRLF
  // and quoted values are tolerated, as dotenv readers do; the last duplicate wins.
  // FLANNEL_IPMASQ takes Go's strconv.ParseBool spellings. A malformed known line, or a line
  // without '=', is an error naming its number.
  static Result<SubnetEnv> Parse(std::string_view text);

  bool operator==(const SubnetEnv&) const = default;
};

// Writes atomically: parent directory created (0755), a temp file in the same directory,
// fsync, mode 0644, rename over `path`. Never leaves a partial file at `path`.
Status WriteSubnetEnv(const std::string& path, const SubnetEnv& env);
// Reads and parses `path`; Error::Code::kNotFound when the file does not exist.
Result<SubnetEnv> ReadSubnetEnv(const std::string& path);

}  // namespace tartan::model
