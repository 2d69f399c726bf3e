#include "model/allocator.hpp"

#include <algorithm>
#include <vector>

namespace tartan::model {
namespace {

// flannel collects at most this many free subnets, in address order, and picks one of them
// at random; hosts racing for a subnet rarely collide, and the pool stays packed from below.
constexpr size_t kMaxCandidates = 100;

// Addresses as plain integers wide enough to step past the last subnet without wrapping:
// both families use unsigned __int128, and the end-of-space checks below stop the scan
// before it could wrap.
using U128 = unsigned __int128;

U128 ToU128(const net::Ip6& ip) {
  U128 v = 0;
  for (uint8_t b : ip.bytes()) v = (v << 8) | b;
  return v;
}

net::Ip6 FromU128(U128 v) {
  net::Ip6::Bytes b{};
  for (int i = 15; i >= 0; --i) {
    b[i] = static_cast<uint8_t>(v);
    v >>= 8;
  }
  return net::Ip6(b);
}

struct Interval {
  U128 first;
  U128 last;  // inclusive
};

// Sorted by start with overlapping or adjacent ranges merged, so the scan can jump over a
// whole taken block at once instead of testing every candidate against every lease.
std::vector<Interval> Merge(std::vector<Interval> v) {
  std::sort(v.begin(), v.end(), [](const Interval& a, const Interval& b) {
    return a.first < b.first || (a.first == b.first && a.last < b.last);
  });
  std::vector<Interval> out;
  for (const Interval& iv : v) {
    if (!out.empty() && (iv.first <= out.back().last || iv.first == out.back().last + 1)) {
      out.back().last = std::max(out.back().last, iv.last);
    } else {
      out.push_back(iv);
    }
  }
  return out;
}

// Free subnets of `block` addresses (a power of two, >= 1) aligned to `block`, from `min` to
// `max` inclusive, avoiding `taken`, in ascending order; at most kMaxCandidates. Equivalent
// to flannel's subnet-by-subnet scan, but skips over taken ranges.
std::vector<U128> FreeCandidates(U128 min, U128 max, U128 block, U128 space_last,
                                 const std::vector<Interval>& taken) {
  std::vector<U128> out;
  U128 start = min & ~(block - 1);
  if (start < min) {
    // An unaligned SubnetMin rounds up; stepping past the end of the space means none fit.
    if (start > space_last - block) return out;
    start += block;
  }
  size_t t = 0;
  while (start <= max && out.size() < kMaxCandidates) {
    U128 end = start + (block - 1);
    while (t < taken.size() && taken[t].last < start) ++t;
    U128 next_from;
    if (t < taken.size() && taken[t].first <= end) {
      // Overlaps: resume at the first aligned subnet past the taken range.
      if (taken[t].last >= space_last - (block - 1)) break;
      next_from = (taken[t].last + 1 + (block - 1)) & ~(block - 1);
    } else {
      out.push_back(start);
      if (end == space_last) break;
      next_from = end + 1;
    }
    if (next_from <= start) break;  // wrapped at the end of the address space
    start = next_from;
  }
  return out;
}

}  // namespace

Result<SubnetKey> AllocateSubnet(const NetworkConfig& config, std::span<const SubnetKey> taken,
                                 const RandomIndex& random_index) {
  if (!config.enable_ipv4 && !config.enable_ipv6) {
    return Error::InvalidArgument("cannot allocate a subnet: neither IPv4 nor IPv6 is enabled");
  }
  auto pick = [&](size_t n) -> size_t {
    // Defensive: a generator that ignores its bound must not index out of range.
    return static_cast<size_t>(random_index(n) % n);
  };

  // Both families are checked before either draw, so a failure consumes no randomness and
  // the draws happen in a fixed order (IPv4, then IPv6).
  std::vector<U128> free4, free6;
  if (config.enable_ipv4) {
    if (!config.network) {
      return Error::InvalidArgument("cannot allocate an IPv4 subnet: Network is not set");
    }
    const net::Ip4Net network = config.network->Network();
    if (config.subnet_len > 32 || config.subnet_len < network.prefix_len()) {
      return Error::InvalidArgument("cannot allocate an IPv4 subnet: SubnetLen " +
                                    std::to_string(config.subnet_len) + " does not fit " +
                                    network.ToString());
    }
    std::vector<Interval> used;
    used.reserve(taken.size());
    for (const SubnetKey& k : taken) {
      // An IPv6-only lease has 0.0.0.0/0 as its IPv4 part; it holds no IPv4 space.
      if (k.ipv6 && k.ipv4.prefix_len() == 0) continue;
      net::Ip4Net n = k.ipv4.Network();
      used.push_back({n.ip().value(), n.Last().value()});
    }
    const U128 block = U128{1} << (32 - config.subnet_len);
    free4 = FreeCandidates(config.subnet_min.value(), config.subnet_max.value(), block,
                           U128{0xffffffffu}, Merge(std::move(used)));
    if (free4.empty()) {
      return Error::Exhausted("out of subnets: no free /" + std::to_string(config.subnet_len) +
                              " in " + network.ToString() + " between " +
                              config.subnet_min.ToString() + " and " +
                              config.subnet_max.ToString());
    }
  }

  if (config.enable_ipv6) {
    if (!config.ipv6_network) {
      return Error::InvalidArgument("cannot allocate an IPv6 subnet: IPv6Network is not set");
    }
    const net::Ip6Net network = config.ipv6_network->Network();
    // A /0 "subnet" (the whole space) is not allocatable, and its size does not fit 128 bits.
    if (config.ipv6_subnet_len == 0 || config.ipv6_subnet_len > 128 ||
        config.ipv6_subnet_len < network.prefix_len()) {
      return Error::InvalidArgument("cannot allocate an IPv6 subnet: IPv6SubnetLen " +
                                    std::to_string(config.ipv6_subnet_len) + " does not fit " +
                                    network.ToString());
    }
    std::vector<Interval> used;
    for (const SubnetKey& k : taken) {
      if (!k.ipv6) continue;
      net::Ip6Net n = k.ipv6->Network();
      U128 first = ToU128(n.ip());
      U128 host_mask = n.prefix_len() == 0 ? ~U128{0} : (U128{1} << (128 - n.prefix_len())) - 1;
      used.push_back({first, first | host_mask});
    }
    const U128 block = U128{1} << (128 - config.ipv6_subnet_len);
    free6 = FreeCandidates(ToU128(config.ipv6_subnet_min), ToU128(config.ipv6_subnet_max), block,
                           ~U128{0}, Merge(std::move(used)));
    if (free6.empty()) {
      return Error::Exhausted("out of subnets: no free IPv6 /" +
                              std::to_string(config.ipv6_subnet_len) + " in " + network.ToString() +
                              " between " + config.ipv6_subnet_min.ToString() + " and " +
                              config.ipv6_subnet_max.ToString());
    }
  }

  // IPv6-only leases carry 0.0.0.0/0 as their IPv4 part, which is what flannel writes into
  // the key ("0.0.0.0-0&fd00::-64") in that mode.
  SubnetKey result;
  if (!free4.empty()) {
    result.ipv4 =
        net::Ip4Net(net::Ip4(static_cast<uint32_t>(free4[pick(free4.size())])), config.subnet_len);
  }
  if (!free6.empty()) {
    result.ipv6 = net::Ip6Net(FromU128(free6[pick(free6.size())]), config.ipv6_subnet_len);
  }
  return result;
}

}  // namespace tartan::model
