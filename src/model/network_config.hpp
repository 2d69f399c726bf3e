// The cluster's network configuration, stored at <prefix>/config, with flannel's semantics
// (docs: ../shared/docs/flannel-compat.md section 4).
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/result.hpp"
#include "net/ip.hpp"

namespace tartan::model {

struct NetworkConfig {
  bool enable_ipv4 = true;
  bool enable_ipv6 = false;
  bool enable_nftables = false;

  // IPv4 space; set whenever enable_ipv4 (Parse fails otherwise).
  std::optional<net::Ip4Net> network;  // canonical form
  uint8_t subnet_len = 0;
  net::Ip4 subnet_min;  // network address of the first subnet that may be handed out
  net::Ip4 subnet_max;  // network address of the last one

  // IPv6 space; set whenever enable_ipv6.
  std::optional<net::Ip6Net> ipv6_network;
  uint8_t ipv6_subnet_len = 0;
  net::Ip6 ipv6_subnet_min;
  net::Ip6 ipv6_subnet_max;

  // Backend.Type lowercased; "udp" when Backend is missing or has no Type (flannel's code).
  std::string backend_type;
  // The whole Backend object as given (an empty object when missing), for the backend to read
  // its own keys (VNI, Port, DirectRouting, ...) from.
  nlohmann::json backend = nlohmann::json::object();

  // Parses and validates. Field names match case-insensitively; unknown fields are ignored.
  // Errors name the field and the rule broken, e.g. "SubnetLen 31 is larger than 30".
  static Result<NetworkConfig> Parse(std::string_view json_text);

  // True when `subnet` could have been allocated under this config: inside Network, of
  // SubnetLen, between SubnetMin and SubnetMax. Used to decide whether a lease is reusable.
  bool Fits(const net::Ip4Net& subnet) const;
  bool Fits(const net::Ip6Net& subnet) const;

  // The member of `backend` named `name` (e.g. "VNI"), matched the way flannel's Go decoder
  // matches struct fields: case-insensitively. nullptr when absent. Parse already dropped
  // spellings that a later one in the document overrides ({"vni":1,"VNI":2} keeps only "VNI"),
  // so at most one member matches.
  const nlohmann::json* BackendField(std::string_view name) const;
};

// Whether tartand can run `config` as it is today: IPv4 only (EnableIPv4 true, EnableIPv6
// false) and iptables (EnableNFTables false; flannel would write nftables rules, which tartan
// does not yet, and iptables rules beside an nftables ruleset would be a silent divergence).
// FailedPrecondition naming the field and what to change otherwise.
Status CheckTartanSupports(const NetworkConfig& config);

// True when JSON member name `key` selects the Go struct field `field` (ASCII case folding,
// plus the two non-ASCII runes Go folds onto ASCII letters: U+212A KELVIN SIGN for 'k' and
// U+017F LONG S for 's').
bool JsonNameMatches(std::string_view key, std::string_view field);

}  // namespace tartan::model
