#include "model/lease.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>

namespace tartan::model {
namespace {

// Nesting deeper than this in a lease value is rejected. flannel's own values nest two
// levels; the bound keeps a hostile value from costing more than it is worth.
constexpr int kMaxJsonDepth = 64;

std::string Quote(std::string_view s, size_t max_len = 64) {
  std::string out = "\"";
  for (size_t i = 0; i < s.size() && i < max_len; ++i) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\') {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  if (s.size() > max_len) out += "...";
  return out + "\"";
}

// Go's net.IP prints an IPv4-mapped IPv6 address as a bare dotted quad, which neither
// flannel's key pattern nor an IPv6 parser reads back; such an address is never a real
// pod subnet or public IPv6 address, so readers reject it.
bool IsIpv4Mapped(const net::Ip6& ip) {
  const auto& b = ip.bytes();
  for (int i = 0; i < 10; ++i) {
    if (b[i] != 0) return false;
  }
  return b[10] == 0xff && b[11] == 0xff;
}

// Digits only, no sign, no leading zero (a key flannel writes never has one).
std::optional<unsigned> ParsePrefixLen(std::string_view s, unsigned max) {
  if (s.empty() || s.size() > 3 || (s.size() > 1 && s[0] == '0')) return std::nullopt;
  unsigned v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + static_cast<unsigned>(c - '0');
  }
  if (v > max) return std::nullopt;
  return v;
}

// ---- minimal JSON text walking -----------------------------------------------------------
// nlohmann validates the whole text first; these helpers then only find the extent of
// members so that BackendData can be kept byte for byte (number spelling, key order and
// duplicate keys are preserved, as Go's json.RawMessage does).

bool IsJsonSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

size_t SkipSpace(std::string_view s, size_t i) {
  while (i < s.size() && IsJsonSpace(s[i])) ++i;
  return i;
}

// `i` is at an opening quote; returns the index just past the closing quote.
size_t SkipString(std::string_view s, size_t i) {
  for (++i; i < s.size(); ++i) {
    if (s[i] == '\\') {
      ++i;
    } else if (s[i] == '"') {
      return i + 1;
    }
  }
  return s.size();
}

// `i` is at the first character of a value; returns the index just past it.
size_t SkipValue(std::string_view s, size_t i) {
  if (i >= s.size()) return i;
  if (s[i] == '"') return SkipString(s, i);
  if (s[i] == '{' || s[i] == '[') {
    int depth = 0;
    while (i < s.size()) {
      char c = s[i];
      if (c == '"') {
        i = SkipString(s, i);
        continue;
      }
      if (c == '{' || c == '[') ++depth;
      if (c == '}' || c == ']') {
        if (--depth == 0) return i + 1;
      }
      ++i;
    }
    return i;
  }
  while (i < s.size() && s[i] != ',' && s[i] != '}' && s[i] != ']' && !IsJsonSpace(s[i])) ++i;
  return i;
}

int MaxDepth(std::string_view s) {
  int depth = 0, max = 0;
  for (size_t i = 0; i < s.size();) {
    char c = s[i];
    if (c == '"') {
      i = SkipString(s, i);
      continue;
    }
    if (c == '{' || c == '[') max = std::max(max, ++depth);
    if (c == '}' || c == ']') --depth;
    ++i;
  }
  return max;
}

// Go's json.Marshal writes a RawMessage compacted and with <, >, & and U+2028/U+2029
// escaped inside strings; doing the same keeps our lease values byte-identical to flannel's.
std::string CompactJson(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  bool in_string = false;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (!in_string) {
      if (IsJsonSpace(c)) continue;
      if (c == '"') in_string = true;
      out += c;
      continue;
    }
    if (c == '\\' && i + 1 < s.size()) {
      out += c;
      out += s[++i];
    } else if (c == '"') {
      in_string = false;
      out += c;
    } else if (c == '<') {
      out += "\\u003c";
    } else if (c == '>') {
      out += "\\u003e";
    } else if (c == '&') {
      out += "\\u0026";
    } else if (static_cast<unsigned char>(c) == 0xe2 && i + 2 < s.size() &&
               static_cast<unsigned char>(s[i + 1]) == 0x80 &&
               (static_cast<unsigned char>(s[i + 2]) & 0xfe) == 0xa8) {
      out += static_cast<unsigned char>(s[i + 2]) == 0xa8 ? "\\u2028" : "\\u2029";
      i += 2;
    } else {
      out += c;
    }
  }
  return out;
}

// A JSON string literal as Go's encoding/json writes it (HTML-safe escaping; invalid UTF-8
// becomes U+FFFD).
std::string GoJsonString(std::string_view s) {
  std::string out = "\"";
  char buf[8];
  for (size_t i = 0; i < s.size();) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      switch (c) {
        case '"':
          out += "\\\"";
          break;
        case '\\':
          out += "\\\\";
          break;
        case '\n':
          out += "\\n";
          break;
        case '\r':
          out += "\\r";
          break;
        case '\t':
          out += "\\t";
          break;
        case '<':
        case '>':
        case '&':
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
          break;
        default:
          if (c < 0x20) {
            std::snprintf(buf, sizeof buf, "\\u%04x", c);
            out += buf;
          } else {
            out += static_cast<char>(c);
          }
      }
      ++i;
      continue;
    }
    // Validate one UTF-8 sequence.
    size_t len = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 0;
    uint32_t cp = len == 4 ? (c & 0x07u) : len == 3 ? (c & 0x0fu) : (c & 0x1fu);
    bool valid = len != 0 && c <= 0xf4 && i + len <= s.size();
    for (size_t k = 1; valid && k < len; ++k) {
      auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xc0) != 0x80) valid = false;
      cp = (cp << 6) | (cc & 0x3fu);
    }
    if (valid) {
      static constexpr uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
      valid = cp >= kMin[len] && cp <= 0x10ffff && !(cp >= 0xd800 && cp <= 0xdfff);
    }
    if (!valid) {
      out += "\\ufffd";
      ++i;
    } else if (cp == 0x2028 || cp == 0x2029) {
      out += cp == 0x2028 ? "\\u2028" : "\\u2029";
      i += len;
    } else {
      out.append(s.substr(i, len));
      i += len;
    }
  }
  return out + "\"";
}

// Decodes one JSON string literal (already validated as part of the whole text).
std::optional<std::string> DecodeString(std::string_view token) {
  try {
    auto j = nlohmann::json::parse(token, nullptr, /*allow_exceptions=*/false);
    if (!j.is_string()) return std::nullopt;
    return j.get<std::string>();
  } catch (...) {
    return std::nullopt;
  }
}

// Go's encoding/json matches field names case-insensitively. (It also folds the Kelvin
// sign and long s; no real writer produces those, so ASCII folding is all we do.)
bool EqualFold(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           auto lx = (x >= 'A' && x <= 'Z') ? static_cast<char>(x - 'A' + 'a') : x;
           auto ly = (y >= 'A' && y <= 'Z') ? static_cast<char>(y - 'A' + 'a') : y;
           return lx == ly;
         });
}

Error BadField(std::string_view field, const std::string& why) {
  return Error::InvalidArgument("lease " + std::string(field) + ": " + why);
}

}  // namespace

// ---- SubnetKey -----------------------------------------------------------------------------

// flannel matches keys with an unanchored pattern (a key with trailing garbage, or embedded
// in a longer string, still matches). We match the whole segment on purpose: a key that
// does not round-trip exactly is not one any flanneld wrote, and accepting it would let two
// different keys name the same lease.
Result<SubnetKey> SubnetKey::Parse(std::string_view key_segment) {
  auto fail = [&](const std::string& why) {
    return Error::InvalidArgument("invalid subnet key " + Quote(key_segment) + ": " + why);
  };
  if (key_segment.empty()) return fail("empty");

  std::string_view v4_part = key_segment;
  std::string_view v6_part;
  bool dual = false;
  if (size_t amp = key_segment.find('&'); amp != std::string_view::npos) {
    v4_part = key_segment.substr(0, amp);
    v6_part = key_segment.substr(amp + 1);
    dual = true;
  }

  size_t dash = v4_part.rfind('-');
  if (dash == std::string_view::npos) return fail("expected <address>-<prefix length>");
  auto ip4 = net::Ip4::Parse(v4_part.substr(0, dash));
  if (!ip4) return fail("bad IPv4 address");
  auto len4 = ParsePrefixLen(v4_part.substr(dash + 1), 32);
  if (!len4) return fail("IPv4 prefix length must be 0-32");
  SubnetKey key;
  key.ipv4 = net::Ip4Net(*ip4, static_cast<uint8_t>(*len4));
  if (!key.ipv4.IsCanonical()) return fail("IPv4 address has host bits set");

  if (dual) {
    dash = v6_part.rfind('-');
    if (dash == std::string_view::npos) return fail("expected <IPv6 address>-<prefix length>");
    std::string_view addr = v6_part.substr(0, dash);
    // flannel's pattern allows only lowercase hex digits and colons in the IPv6 part.
    bool charset_ok = std::all_of(addr.begin(), addr.end(), [](char c) {
      return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || c == ':';
    });
    if (!charset_ok) return fail("IPv6 address must be lowercase hex and colons");
    auto ip6 = net::Ip6::Parse(addr);
    if (!ip6) return fail("bad IPv6 address");
    if (IsIpv4Mapped(*ip6)) return fail("IPv4-mapped IPv6 address");
    auto len6 = ParsePrefixLen(v6_part.substr(dash + 1), 128);
    if (!len6) return fail("IPv6 prefix length must be 0-128");
    net::Ip6Net n6(*ip6, static_cast<uint8_t>(*len6));
    if (!n6.IsCanonical()) return fail("IPv6 address has host bits set");
    key.ipv6 = n6;
  }
  return key;
}

std::string SubnetKey::ToString() const {
  std::string out = ipv4.ip().ToString() + "-" + std::to_string(ipv4.prefix_len());
  if (ipv6) out += "&" + ipv6->ip().ToString() + "-" + std::to_string(ipv6->prefix_len());
  return out;
}

// ---- LeaseAttrs ----------------------------------------------------------------------------

Result<LeaseAttrs> LeaseAttrs::Parse(std::string_view json_text) {
  bool valid = false;
  try {
    valid = nlohmann::json::accept(json_text);
  } catch (...) {
    valid = false;
  }
  if (!valid) return Error::InvalidArgument("lease value is not valid JSON: " + Quote(json_text));
  if (MaxDepth(json_text) > kMaxJsonDepth) {
    return Error::InvalidArgument("lease value nests deeper than " + std::to_string(kMaxJsonDepth) +
                                  " levels");
  }
  size_t i = SkipSpace(json_text, 0);
  if (i >= json_text.size() || json_text[i] != '{') {
    return Error::InvalidArgument("lease value is not a JSON object: " + Quote(json_text));
  }

  LeaseAttrs attrs;
  i = SkipSpace(json_text, i + 1);
  while (i < json_text.size() && json_text[i] != '}') {
    size_t key_end = SkipString(json_text, i);
    auto name = DecodeString(json_text.substr(i, key_end - i));
    if (!name) return Error::InvalidArgument("lease value has an undecodable member name");
    i = SkipSpace(json_text, key_end);
    i = SkipSpace(json_text, i + 1);  // ':'
    size_t value_end = SkipValue(json_text, i);
    std::string_view value = json_text.substr(i, value_end - i);
    i = SkipSpace(json_text, value_end);
    if (i < json_text.size() && json_text[i] == ',') i = SkipSpace(json_text, i + 1);

    // Duplicate names: the last one wins, as in Go.
    const bool is_null = value == "null";
    const bool is_string = !value.empty() && value[0] == '"';
    if (EqualFold(*name, "PublicIP")) {
      // flannel's IP4 type fails to decode anything but a dotted-quad string (null
      // included); absent leaves it zero.
      if (!is_string) return BadField("PublicIP", "must be a string, got " + Quote(value));
      auto text = DecodeString(value);
      if (!text) return BadField("PublicIP", "undecodable string");
      auto ip = net::Ip4::Parse(*text);
      if (!ip) return BadField("PublicIP", ip.error().message);
      // flannel's zero IP4 (written "0.0.0.0") means "no public IP"; mapping it to nullopt
      // makes ToJson(Parse(x)) and x agree both ways.
      attrs.public_ip = ip->value() == 0 ? std::nullopt : std::optional<net::Ip4>(*ip);
    } else if (EqualFold(*name, "PublicIPv6")) {
      if (is_null) {
        attrs.public_ipv6.reset();
        continue;
      }
      if (!is_string)
        return BadField("PublicIPv6", "must be a string or null, got " + Quote(value));
      auto text = DecodeString(value);
      if (!text) return BadField("PublicIPv6", "undecodable string");
      auto ip = net::Ip6::Parse(*text);
      if (!ip) return BadField("PublicIPv6", ip.error().message);
      if (IsIpv4Mapped(*ip)) return BadField("PublicIPv6", "IPv4-mapped address " + Quote(*text));
      attrs.public_ipv6 = *ip;
    } else if (EqualFold(*name, "BackendType")) {
      // Go leaves a string field untouched on null.
      if (is_null) continue;
      if (!is_string) return BadField("BackendType", "must be a string, got " + Quote(value));
      auto text = DecodeString(value);
      if (!text) return BadField("BackendType", "undecodable string");
      attrs.backend_type = *text;
    } else if (EqualFold(*name, "BackendData")) {
      attrs.backend_data = is_null ? std::string() : CompactJson(value);
    } else if (EqualFold(*name, "BackendV6Data")) {
      attrs.backend_v6_data = is_null ? std::string() : CompactJson(value);
    }
  }
  return attrs;
}

namespace {

// flannel v0.11's vxlan lease data is {"VtepMAC":"…"}: keeps that member of `data` (the last
// one when repeated, names matched case-insensitively as Go does), or all of `data` when it
// has none.
std::string V011VxlanData(std::string_view data) {
  std::optional<std::string_view> mac;
  size_t i = SkipSpace(data, 0);
  if (i >= data.size() || data[i] != '{') return std::string(data);
  i = SkipSpace(data, i + 1);
  while (i < data.size() && data[i] == '"') {
    const size_t key_end = SkipString(data, i);
    auto name = DecodeString(data.substr(i, key_end - i));
    i = SkipSpace(data, key_end);
    if (i >= data.size() || data[i] != ':') break;
    i = SkipSpace(data, i + 1);
    const size_t value_end = SkipValue(data, i);
    if (name && EqualFold(*name, "VtepMAC")) mac = data.substr(i, value_end - i);
    i = SkipSpace(data, value_end);
    if (i < data.size() && data[i] == ',') i = SkipSpace(data, i + 1);
  }
  if (!mac || mac->empty()) return std::string(data);
  return "{\"VtepMAC\":" + std::string(*mac) + "}";
}

}  // namespace

// An unset PublicIP is written "0.0.0.0", as flannel marshals its zero IP4: the field is
// always present so every flanneld can decode the value.
std::string LeaseAttrs::ToJson(LeaseShape shape) const {
  const bool v011 = shape == LeaseShape::kV011;
  std::string out = "{\"PublicIP\":\"";
  out += public_ip ? public_ip->ToString() : "0.0.0.0";
  out += "\"";
  if (public_ipv6) {
    out += ",\"PublicIPv6\":\"" + public_ipv6->ToString() + "\"";
  } else if (!v011) {
    out += ",\"PublicIPv6\":null";
  }
  if (!backend_type.empty()) out += ",\"BackendType\":" + GoJsonString(backend_type);
  if (!backend_data.empty()) {
    const std::string data =
        v011 && backend_type == "vxlan" ? V011VxlanData(backend_data) : backend_data;
    out += ",\"BackendData\":" + CompactJson(data);
  }
  if (!backend_v6_data.empty()) out += ",\"BackendV6Data\":" + CompactJson(backend_v6_data);
  out += "}";
  return out;
}

}  // namespace tartan::model
