#include "model/lease_filter.hpp"

namespace tartan::model {
namespace {

template <typename Net>
std::optional<std::string> FamilyProblem(const Net& subnet, const std::optional<Net>& network,
                                         uint8_t subnet_len, const char* network_field,
                                         const char* len_field) {
  if (!network) return std::string("the config has no ") + network_field;
  if (!network->Contains(subnet)) {
    return subnet.ToString() + " is not inside the " + network_field + " " + network->ToString();
  }
  if (subnet.prefix_len() != subnet_len) {
    return subnet.ToString() + " is a /" + std::to_string(subnet.prefix_len()) + ", not a /" +
           std::to_string(subnet_len) + " (" + len_field + ")";
  }
  if (!subnet.IsCanonical()) return subnet.ToString() + " has host bits set";
  return std::nullopt;
}

// The subnet of `network` that contains `part`, when `part` is inside it and no larger than one
// subnet; nullopt otherwise.
template <typename Net>
std::optional<Net> Containing(const Net& part, const std::optional<Net>& network,
                              uint8_t subnet_len) {
  if (!network || !network->Contains(part) || part.prefix_len() < subnet_len) return std::nullopt;
  return Net(part.ip(), subnet_len).Network();
}

}  // namespace

std::optional<std::string> LeaseSubnetProblem(const NetworkConfig& config,
                                              const SubnetKey& subnet) {
  if (config.enable_ipv4) {
    if (auto p =
            FamilyProblem(subnet.ipv4, config.network, config.subnet_len, "Network", "SubnetLen")) {
      return p;
    }
  }
  if (config.enable_ipv6) {
    if (!subnet.ipv6) return std::string("it has no IPv6 subnet, and EnableIPv6 is set");
    if (auto p = FamilyProblem(*subnet.ipv6, config.ipv6_network, config.ipv6_subnet_len,
                               "IPv6Network", "IPv6SubnetLen")) {
      return p;
    }
  }
  return std::nullopt;
}

std::optional<SubnetKey> HeldSubnet(const NetworkConfig& config, const SubnetKey& subnet,
                                    bool reservation) {
  if (!LeaseSubnetProblem(config, subnet)) return subnet;
  if (!reservation) return std::nullopt;
  std::optional<net::Ip4Net> v4;
  std::optional<net::Ip6Net> v6;
  if (config.enable_ipv4) v4 = Containing(subnet.ipv4, config.network, config.subnet_len);
  if (config.enable_ipv6 && subnet.ipv6) {
    v6 = Containing(*subnet.ipv6, config.ipv6_network, config.ipv6_subnet_len);
  }
  if (!v4 && !v6) return std::nullopt;
  return SubnetKey{v4.value_or(net::Ip4Net()), v6};
}

FilteredLeases FilterLeases(const NetworkConfig& config, std::span<const Lease> leases) {
  FilteredLeases out;
  for (const Lease& l : leases) {
    auto problem = LeaseSubnetProblem(config, l.subnet);
    if (!problem) {
      out.valid.push_back(l);
      continue;
    }
    std::string held = "it holds no address space";
    if (auto h = HeldSubnet(config, l.subnet, l.is_reservation())) {
      held = "as a reservation it keeps ";
      if (h->ipv4.prefix_len() != 0) held += h->ipv4.ToString();
      if (h->ipv6) held += (h->ipv4.prefix_len() != 0 ? " and " : "") + h->ipv6->ToString();
      held += " from allocation";
    }
    out.skipped.push_back("lease key " + l.subnet.ToString() + " skipped: " + *problem +
                          "; not routed, " + held);
  }
  return out;
}

}  // namespace tartan::model
