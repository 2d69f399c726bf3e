// Address value types: IPv4/IPv6 addresses, networks (CIDR) and MAC addresses.
//
// Plain values: cheap to copy, totally ordered, hashable, no allocation. Parsing never
// throws; it returns an Error naming the text that did not parse.
#pragma once

#include <array>
#include <compare>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "common/result.hpp"

namespace tartan::net {

class Ip4 {
 public:
  constexpr Ip4() = default;
  constexpr explicit Ip4(uint32_t host_order) : v_(host_order) {}
  constexpr Ip4(uint8_t a, uint8_t b, uint8_t c, uint8_t d)
      : v_((uint32_t{a} << 24) | (uint32_t{b} << 16) | (uint32_t{c} << 8) | d) {}

  // Dotted quad only ("10.1.2.3"); no leading zeros, no shorthand forms.
  static Result<Ip4> Parse(std::string_view text);
  static Ip4 FromNetworkOrder(uint32_t be);

  constexpr uint32_t value() const { return v_; }  // host byte order
  uint32_t network_order() const;
  std::array<uint8_t, 4> bytes() const;
  std::string ToString() const;

  auto operator<=>(const Ip4&) const = default;

 private:
  uint32_t v_ = 0;
};

class Ip6 {
 public:
  using Bytes = std::array<uint8_t, 16>;
  constexpr Ip6() = default;
  constexpr explicit Ip6(const Bytes& b) : b_(b) {}

  // Any RFC 4291 text form, including "::" compression and a trailing dotted quad.
  static Result<Ip6> Parse(std::string_view text);

  const Bytes& bytes() const { return b_; }
  // RFC 5952 form as Go's net.IP.String writes it: lowercase, no leading zeros, the longest
  // run (>= 2 groups, first on a tie) of zero groups compressed to "::". IPv4-mapped
  // addresses (::ffff:a.b.c.d) are written as the bare dotted quad, as Go does.
  std::string ToString() const;

  auto operator<=>(const Ip6&) const = default;

 private:
  Bytes b_{};
};

// An IPv4 network: address and prefix length. The address is kept as given; Network()
// zeroes host bits. flannel keys use the canonical (host-bits-zero) form.
class Ip4Net {
 public:
  constexpr Ip4Net() = default;
  constexpr Ip4Net(Ip4 ip, uint8_t prefix_len) : ip_(ip), len_(prefix_len > 32 ? 32 : prefix_len) {}

  // "10.1.0.0/16". Host bits may be set ("10.1.2.1/24") and are kept; see Network().
  static Result<Ip4Net> Parse(std::string_view text);

  Ip4 ip() const { return ip_; }
  uint8_t prefix_len() const { return len_; }
  uint32_t mask() const { return len_ == 0 ? 0 : ~uint32_t{0} << (32 - len_); }
  Ip4Net Network() const { return {Ip4(ip_.value() & mask()), len_}; }
  bool IsCanonical() const { return (ip_.value() & ~mask()) == 0; }
  Ip4 Last() const { return Ip4(ip_.value() | ~mask()); }
  // The next network of the same size (wraps at the end of the address space).
  Ip4Net Next() const;
  uint64_t Size() const { return uint64_t{1} << (32 - len_); }

  bool Contains(Ip4 ip) const { return (ip.value() & mask()) == (ip_.value() & mask()); }
  // True when `other` lies entirely inside this network.
  bool Contains(const Ip4Net& other) const { return other.len_ >= len_ && Contains(other.ip_); }
  bool Overlaps(const Ip4Net& other) const { return Contains(other.ip_) || other.Contains(ip_); }

  std::string ToString() const;  // "10.1.2.0/24" (address as stored)

  auto operator<=>(const Ip4Net&) const = default;

 private:
  Ip4 ip_;
  uint8_t len_ = 0;
};

class Ip6Net {
 public:
  Ip6Net() = default;
  Ip6Net(Ip6 ip, uint8_t prefix_len) : ip_(ip), len_(prefix_len > 128 ? 128 : prefix_len) {}

  static Result<Ip6Net> Parse(std::string_view text);

  Ip6 ip() const { return ip_; }
  uint8_t prefix_len() const { return len_; }
  Ip6Net Network() const;
  bool IsCanonical() const { return Network().ip_ == ip_; }
  Ip6Net Next() const;

  bool Contains(const Ip6& ip) const;
  bool Contains(const Ip6Net& other) const { return other.len_ >= len_ && Contains(other.ip_); }
  bool Overlaps(const Ip6Net& other) const { return Contains(other.ip_) || other.Contains(ip_); }

  std::string ToString() const;

  auto operator<=>(const Ip6Net&) const = default;

 private:
  Ip6 ip_;
  uint8_t len_ = 0;
};

class Mac {
 public:
  using Bytes = std::array<uint8_t, 6>;
  constexpr Mac() = default;
  constexpr explicit Mac(const Bytes& b) : b_(b) {}

  // "c6:d2:32:6f:8f:44" (also accepts '-' separators and upper case).
  static Result<Mac> Parse(std::string_view text);
  // A random locally administered unicast address, from the given 48 random bits.
  static Mac LocallyAdministered(uint64_t random_bits);

  const Bytes& bytes() const { return b_; }
  bool IsZero() const { return b_ == Bytes{}; }
  std::string ToString() const;  // lowercase, colon separated

  auto operator<=>(const Mac&) const = default;

 private:
  Bytes b_{};
};

}  // namespace tartan::net

template <>
struct std::hash<tartan::net::Ip4> {
  size_t operator()(const tartan::net::Ip4& ip) const noexcept {
    return std::hash<uint32_t>{}(ip.value());
  }
};
template <>
struct std::hash<tartan::net::Ip4Net> {
  size_t operator()(const tartan::net::Ip4Net& n) const noexcept {
    return std::hash<uint64_t>{}((uint64_t{n.ip().value()} << 8) | n.prefix_len());
  }
};
