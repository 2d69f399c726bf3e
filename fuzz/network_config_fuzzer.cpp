// Feeds arbitrary bytes to NetworkConfig::Parse. Parse must never crash or throw; whatever it
// accepts must be a config the allocator can use safely, and writing the accepted config back
// out as JSON must parse to the same config.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "model/network_config.hpp"

namespace {

using tartan::model::NetworkConfig;
using tartan::net::Ip4Net;
using tartan::net::Ip6Net;

void Check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "network_config invariant broken: %s\n", what);
    std::abort();
  }
}

void CheckIpv4(const NetworkConfig& c) {
  if (!c.enable_ipv4) {
    Check(!c.network.has_value(), "network set while IPv4 disabled");
    Check(!c.Fits(Ip4Net(c.subnet_min, c.subnet_len)), "Fits() while IPv4 disabled");
    return;
  }
  Check(c.network.has_value(), "IPv4 enabled without network");
  const Ip4Net& n = *c.network;
  Check(n.IsCanonical(), "network not canonical");
  Check(n.prefix_len() >= 1, "network is the whole address space");
  Check(c.subnet_len <= 30, "subnet_len > 30");
  Check(c.subnet_len >= n.prefix_len() + 2, "fewer than four subnets");
  Check(c.subnet_min <= c.subnet_max, "subnet_min > subnet_max");
  Check(n.Contains(c.subnet_min) && n.Contains(c.subnet_max), "min/max outside network");
  const Ip4Net min(c.subnet_min, c.subnet_len), max(c.subnet_max, c.subnet_len);
  Check(min.IsCanonical() && max.IsCanonical(), "min/max not aligned to subnet_len");
  Check(c.Fits(min) && c.Fits(max), "min/max do not Fit");
  Check(!c.Fits(Ip4Net(c.subnet_min, c.subnet_len - 1)), "Fits() a subnet of another length");
  Check(!c.Fits(max.Next()) || max.Next().ip() <= c.subnet_max, "Fits() past subnet_max");
}

void CheckIpv6(const NetworkConfig& c) {
  if (!c.enable_ipv6) {
    Check(!c.ipv6_network.has_value(), "ipv6_network set while IPv6 disabled");
    Check(!c.Fits(Ip6Net(c.ipv6_subnet_min, c.ipv6_subnet_len)), "Fits() while IPv6 disabled");
    return;
  }
  Check(c.ipv6_network.has_value(), "IPv6 enabled without network");
  const Ip6Net& n = *c.ipv6_network;
  Check(n.IsCanonical(), "ipv6 network not canonical");
  Check(n.prefix_len() >= 1, "ipv6 network is the whole address space");
  Check(c.ipv6_subnet_len <= 126, "ipv6_subnet_len > 126");
  Check(c.ipv6_subnet_len >= n.prefix_len() + 2, "fewer than four ipv6 subnets");
  Check(c.ipv6_subnet_min <= c.ipv6_subnet_max, "ipv6 min > max");
  Check(n.Contains(c.ipv6_subnet_min) && n.Contains(c.ipv6_subnet_max), "ipv6 min/max outside");
  const Ip6Net min(c.ipv6_subnet_min, c.ipv6_subnet_len), max(c.ipv6_subnet_max, c.ipv6_subnet_len);
  Check(min.IsCanonical() && max.IsCanonical(), "ipv6 min/max not aligned");
  Check(c.Fits(min) && c.Fits(max), "ipv6 min/max do not Fit");
}

// The accepted config written back in flannel's field names.
std::string Reserialize(const NetworkConfig& c) {
  nlohmann::json j = nlohmann::json::object();
  j["EnableIPv4"] = c.enable_ipv4;
  j["EnableIPv6"] = c.enable_ipv6;
  j["EnableNFTables"] = c.enable_nftables;
  if (c.enable_ipv4) {
    j["Network"] = c.network->ToString();
    j["SubnetLen"] = c.subnet_len;
    j["SubnetMin"] = c.subnet_min.ToString();
    j["SubnetMax"] = c.subnet_max.ToString();
  }
  if (c.enable_ipv6) {
    j["IPv6Network"] = c.ipv6_network->ToString();
    j["IPv6SubnetLen"] = c.ipv6_subnet_len;
    j["IPv6SubnetMin"] = c.ipv6_subnet_min.ToString();
    j["IPv6SubnetMax"] = c.ipv6_subnet_max.ToString();
  }
  j["Backend"] = c.backend;
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

bool SameConfig(const NetworkConfig& a, const NetworkConfig& b) {
  return a.enable_ipv4 == b.enable_ipv4 && a.enable_ipv6 == b.enable_ipv6 &&
         a.enable_nftables == b.enable_nftables && a.network == b.network &&
         a.subnet_len == b.subnet_len && a.subnet_min == b.subnet_min &&
         a.subnet_max == b.subnet_max && a.ipv6_network == b.ipv6_network &&
         a.ipv6_subnet_len == b.ipv6_subnet_len && a.ipv6_subnet_min == b.ipv6_subnet_min &&
         a.ipv6_subnet_max == b.ipv6_subnet_max && a.backend_type == b.backend_type &&
         a.backend == b.backend;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto parsed = NetworkConfig::Parse(text);
  if (!parsed) {
    Check(parsed.error().code == tartan::Error::Code::kInvalidArgument,
          "rejection is not InvalidArgument");
    Check(!parsed.error().message.empty(), "empty error message");
    return 0;
  }
  const NetworkConfig& c = *parsed;
  Check(c.enable_ipv4 || c.enable_ipv6, "no address family enabled");
  Check(c.backend.is_object(), "backend is not an object");
  Check(!c.backend_type.empty(), "empty backend_type");
  for (char ch : c.backend_type) Check(ch < 'A' || ch > 'Z', "backend_type not lowercase");
  CheckIpv4(c);
  CheckIpv6(c);

  auto again = NetworkConfig::Parse(Reserialize(c));
  Check(again.ok(), "reserialized config rejected");
  Check(SameConfig(c, *again), "reserialized config differs");
  return 0;
}
