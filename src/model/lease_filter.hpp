// Which keys under <prefix>/subnets count as leases (docs/adr/0012-lease-keys-are-untrusted.md).
//
// Anyone who can write to etcd can write any subnet key: "0.0.0.0-0", the hosts' own underlay
// network, the whole pod network. Routing such a key takes a host off its network, and letting
// it occupy address space stops every allocation. A key takes part in routing and in allocation
// only when it could be a lease of the configured network: inside Network with exactly
// SubnetLen (and, when IPv6 is enabled, inside IPv6Network with exactly IPv6SubnetLen).
// SubnetMin and SubnetMax are not checked: they bound what is handed out, and an operator may
// reserve a subnet outside them (the first one, say).
#pragma once

#include <optional>
#include <span>
#include <string>
#include <vector>

#include "model/lease.hpp"
#include "model/network_config.hpp"

namespace tartan::model {

// Why `subnet` cannot be a lease of `config`'s network, in an operator's words ("0.0.0.0/0 is
// not inside the Network 10.244.0.0/16"); nullopt when it can.
std::optional<std::string> LeaseSubnetProblem(const NetworkConfig& config, const SubnetKey& subnet);

// The address space an existing key keeps from allocation (what goes into AllocateSubnet's
// `taken`), or nullopt for none. A valid key holds itself. An invalid lease holds nothing. An
// invalid reservation holds, per family, the one subnet that contains it when it lies inside
// the network and is smaller than a subnet (a pin a flanneld peer would route as written, and a
// longer prefix wins); a larger one holds nothing, because it could take many or all subnets.
// A family that holds nothing is left out of the result: IPv4 as 0.0.0.0/0 with the IPv6 part
// set (allocation skips that form for IPv4), IPv6 as an absent part.
std::optional<SubnetKey> HeldSubnet(const NetworkConfig& config, const SubnetKey& subnet,
                                    bool reservation);

struct FilteredLeases {
  std::vector<Lease> valid;
  // One line per skipped key, naming the key as written in etcd and the reason; stable while
  // the key is (so a caller that logs changes of this set logs each key once).
  std::vector<std::string> skipped;
};

// Splits leases into the ones that may be routed and the ones that are skipped.
FilteredLeases FilterLeases(const NetworkConfig& config, std::span<const Lease> leases);

}  // namespace tartan::model
