#include "net/ip.hpp"

#include <arpa/inet.h>

#include <charconv>
#include <cstdio>
#include <vector>

namespace tartan::net {
namespace {

std::string Quote(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", static_cast<unsigned char>(c));
      out += buf;
    } else {
      out += c;
    }
  }
  return out + "\"";
}

// Parses a decimal number in [0, max] without sign, leading zeros or trailing text.
std::optional<unsigned> ParseDecimal(std::string_view s, unsigned max) {
  if (s.empty() || s.size() > 3 || (s.size() > 1 && s[0] == '0')) return std::nullopt;
  unsigned v = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || ptr != s.data() + s.size() || v > max) return std::nullopt;
  return v;
}

std::optional<uint8_t> ParsePrefixLen(std::string_view s, unsigned max) {
  auto v = ParseDecimal(s, max);
  if (!v) return std::nullopt;
  return static_cast<uint8_t>(*v);
}

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

// ---- Ip4 -------------------------------------------------------------------------------

Result<Ip4> Ip4::Parse(std::string_view text) {
  uint32_t v = 0;
  std::string_view rest = text;
  for (int i = 0; i < 4; ++i) {
    size_t dot = rest.find('.');
    std::string_view part = i < 3 ? rest.substr(0, dot) : rest;
    if (i < 3 && dot == std::string_view::npos) {
      return Error::InvalidArgument("invalid IPv4 address " + Quote(text));
    }
    auto octet = ParseDecimal(part, 255);
    if (!octet) return Error::InvalidArgument("invalid IPv4 address " + Quote(text));
    v = (v << 8) | *octet;
    if (i < 3) rest.remove_prefix(dot + 1);
  }
  return Ip4(v);
}

Ip4 Ip4::FromNetworkOrder(uint32_t be) { return Ip4(ntohl(be)); }
uint32_t Ip4::network_order() const { return htonl(v_); }

std::array<uint8_t, 4> Ip4::bytes() const {
  return {static_cast<uint8_t>(v_ >> 24), static_cast<uint8_t>(v_ >> 16),
          static_cast<uint8_t>(v_ >> 8), static_cast<uint8_t>(v_)};
}

// Without printf: this runs for every peer in every pass, and printf's code is the largest
// part of libc that tartand's steady state would otherwise map (docs/adr/0020).
std::string Ip4::ToString() const {
  char buf[16];
  char* p = buf;
  char* const end = buf + sizeof buf;
  for (uint8_t byte : bytes()) {
    if (p != buf) *p++ = '.';
    p = std::to_chars(p, end, byte).ptr;
  }
  return std::string(buf, p);
}

// ---- Ip6 -------------------------------------------------------------------------------

Result<Ip6> Ip6::Parse(std::string_view text) {
  auto fail = [&] { return Error::InvalidArgument("invalid IPv6 address " + Quote(text)); };
  if (text.size() < 2 || text.size() > 45) return fail();

  std::vector<uint16_t> head, tail;
  bool seen_gap = false;
  std::string_view s = text;
  if (s.substr(0, 2) == "::") {
    seen_gap = true;
    s.remove_prefix(2);
  } else if (s[0] == ':') {
    return fail();
  }
  std::optional<Ip4> embedded;
  while (!s.empty()) {
    size_t colon = s.find(':');
    std::string_view group = s.substr(0, colon);
    if (colon == std::string_view::npos && group.find('.') != std::string_view::npos) {
      auto v4 = Ip4::Parse(group);
      if (!v4) return fail();
      embedded = *v4;
      s = {};
      break;
    }
    if (group.empty() || group.size() > 4) return fail();
    unsigned v = 0;
    for (char c : group) {
      int d = HexDigit(c);
      if (d < 0) return fail();
      v = v * 16 + static_cast<unsigned>(d);
    }
    (seen_gap ? tail : head).push_back(static_cast<uint16_t>(v));
    if (colon == std::string_view::npos) {
      s = {};
      break;
    }
    s.remove_prefix(colon + 1);
    if (!s.empty() && s[0] == ':') {
      if (seen_gap) return fail();
      seen_gap = true;
      s.remove_prefix(1);
    } else if (s.empty()) {
      return fail();  // trailing single ':'
    }
  }
  size_t groups = head.size() + tail.size() + (embedded ? 2 : 0);
  if (seen_gap ? groups > 7 : groups != 8) return fail();

  Bytes b{};
  size_t pos = 0;
  for (uint16_t g : head) {
    b[pos++] = static_cast<uint8_t>(g >> 8);
    b[pos++] = static_cast<uint8_t>(g);
  }
  size_t tail_bytes = tail.size() * 2 + (embedded ? 4 : 0);
  pos = 16 - tail_bytes;
  for (uint16_t g : tail) {
    b[pos++] = static_cast<uint8_t>(g >> 8);
    b[pos++] = static_cast<uint8_t>(g);
  }
  if (embedded) {
    for (uint8_t o : embedded->bytes()) b[pos++] = o;
  }
  return Ip6(b);
}

std::string Ip6::ToString() const {
  static constexpr std::array<uint8_t, 12> kMappedPrefix = {0, 0, 0, 0, 0,    0,
                                                            0, 0, 0, 0, 0xff, 0xff};
  if (std::equal(kMappedPrefix.begin(), kMappedPrefix.end(), b_.begin())) {
    return Ip4(b_[12], b_[13], b_[14], b_[15]).ToString();
  }
  std::array<uint16_t, 8> g{};
  for (int i = 0; i < 8; ++i) g[i] = static_cast<uint16_t>((b_[2 * i] << 8) | b_[2 * i + 1]);

  int best = -1, best_len = 0;
  for (int i = 0; i < 8;) {
    if (g[i] != 0) {
      ++i;
      continue;
    }
    int j = i;
    while (j < 8 && g[j] == 0) ++j;
    if (j - i > best_len) {
      best = i;
      best_len = j - i;
    }
    i = j;
  }
  if (best_len < 2) best = -1;

  std::string out;
  char buf[8];
  for (int i = 0; i < 8; ++i) {
    if (i == best) {
      out += "::";
      i += best_len - 1;
      continue;
    }
    if (!out.empty() && out.back() != ':') out += ':';
    int n = std::snprintf(buf, sizeof buf, "%x", g[i]);
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

// ---- Ip4Net ----------------------------------------------------------------------------

Result<Ip4Net> Ip4Net::Parse(std::string_view text) {
  size_t slash = text.find('/');
  if (slash == std::string_view::npos) {
    return Error::InvalidArgument("invalid IPv4 network " + Quote(text) +
                                  ": missing prefix length (expected a.b.c.d/n)");
  }
  auto ip = Ip4::Parse(text.substr(0, slash));
  if (!ip) return Error::InvalidArgument("invalid IPv4 network " + Quote(text) + ": bad address");
  auto len = ParsePrefixLen(text.substr(slash + 1), 32);
  if (!len) {
    return Error::InvalidArgument("invalid IPv4 network " + Quote(text) +
                                  ": prefix length must be 0-32");
  }
  return Ip4Net(*ip, *len);
}

Ip4Net Ip4Net::Next() const {
  uint64_t next = uint64_t{Network().ip().value()} + Size();
  return {Ip4(static_cast<uint32_t>(next)), len_};
}

std::string Ip4Net::ToString() const { return ip_.ToString() + "/" + std::to_string(len_); }

// ---- Ip6Net ----------------------------------------------------------------------------

Result<Ip6Net> Ip6Net::Parse(std::string_view text) {
  size_t slash = text.find('/');
  if (slash == std::string_view::npos) {
    return Error::InvalidArgument("invalid IPv6 network " + Quote(text) +
                                  ": missing prefix length (expected addr/n)");
  }
  auto ip = Ip6::Parse(text.substr(0, slash));
  if (!ip) return Error::InvalidArgument("invalid IPv6 network " + Quote(text) + ": bad address");
  auto len = ParsePrefixLen(text.substr(slash + 1), 128);
  if (!len) {
    return Error::InvalidArgument("invalid IPv6 network " + Quote(text) +
                                  ": prefix length must be 0-128");
  }
  return Ip6Net(*ip, *len);
}

Ip6Net Ip6Net::Network() const {
  Ip6::Bytes b = ip_.bytes();
  for (int i = 0; i < 16; ++i) {
    int bits = static_cast<int>(len_) - 8 * i;
    if (bits >= 8) continue;
    b[i] = bits <= 0 ? 0 : static_cast<uint8_t>(b[i] & (0xff << (8 - bits)));
  }
  return {Ip6(b), len_};
}

bool Ip6Net::Contains(const Ip6& ip) const {
  return Ip6Net(ip, len_).Network().ip_ == Network().ip_;
}

Ip6Net Ip6Net::Next() const {
  Ip6::Bytes b = Network().ip().bytes();
  if (len_ == 0) return {Ip6(Ip6::Bytes{}), 0};
  // Add 1 at bit position len_-1 (counted from the most significant bit), with carry.
  int bit = len_ - 1;
  int byte = bit / 8;
  unsigned carry = 1u << (7 - bit % 8);
  for (int i = byte; i >= 0 && carry; --i) {
    unsigned sum = b[i] + carry;
    b[i] = static_cast<uint8_t>(sum);
    carry = sum >> 8;
  }
  return {Ip6(b), len_};
}

std::string Ip6Net::ToString() const { return ip_.ToString() + "/" + std::to_string(len_); }

// ---- Mac -------------------------------------------------------------------------------

Result<Mac> Mac::Parse(std::string_view text) {
  auto fail = [&] { return Error::InvalidArgument("invalid MAC address " + Quote(text)); };
  if (text.size() != 17) return fail();
  Bytes b{};
  for (int i = 0; i < 6; ++i) {
    int hi = HexDigit(text[3 * i]);
    int lo = HexDigit(text[3 * i + 1]);
    if (hi < 0 || lo < 0) return fail();
    if (i < 5 && text[3 * i + 2] != ':' && text[3 * i + 2] != '-') return fail();
    if (i < 5 && text[3 * i + 2] != text[2]) return fail();  // one separator throughout
    b[i] = static_cast<uint8_t>(hi * 16 + lo);
  }
  return Mac(b);
}

Mac Mac::LocallyAdministered(uint64_t random_bits) {
  Bytes b{};
  for (int i = 0; i < 6; ++i) b[i] = static_cast<uint8_t>(random_bits >> (8 * i));
  b[0] = static_cast<uint8_t>((b[0] & 0xfe) | 0x02);  // unicast, locally administered
  return Mac(b);
}

std::string Mac::ToString() const {
  char buf[18];
  std::snprintf(buf, sizeof buf, "%02x:%02x:%02x:%02x:%02x:%02x", b_[0], b_[1], b_[2], b_[3], b_[4],
                b_[5]);
  return std::string(buf, 17);
}

}  // namespace tartan::net
