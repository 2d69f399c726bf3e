// Choosing a free subnet the way flannel does (compat doc section 5): scan from SubnetMin,
// skip every subnet overlapping an existing lease or reservation, collect up to 100 free
// candidates, pick one at random.
#pragma once

#include <cstdint>
#include <functional>
#include <span>

#include "common/result.hpp"
#include "model/lease.hpp"
#include "model/network_config.hpp"

namespace tartan::model {

// Returns a uniformly distributed number in [0, n). Injected so tests are deterministic.
using RandomIndex = std::function<uint64_t(uint64_t n)>;

// `taken` holds every existing lease's subnet, reservations included. For a dual-stack
// config (enable_ipv6) the result carries an IPv6 subnet too, chosen in step with the IPv4
// one as flannel does: random_index is called once for IPv4, then once for IPv6, and not at
// all on failure. IPv6-only (enable_ipv4 false) gives ipv4 0.0.0.0/0, flannel's key form,
// and taken keys of that form do not hold IPv4 space. Fails with Error::Code::kExhausted
// ("out of subnets ...", naming the range) when no subnet is free, kInvalidArgument when
// the config lacks a network or its subnet length does not fit.
Result<SubnetKey> AllocateSubnet(const NetworkConfig& config, std::span<const SubnetKey> taken,
                                 const RandomIndex& random_index);

}  // namespace tartan::model
