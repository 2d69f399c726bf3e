#include "model/network_config.hpp"

#include <algorithm>
#include <exception>
#include <functional>
#include <map>
#include <utility>
#include <vector>

namespace tartan::model {
namespace {

using nlohmann::json;

// Go's decoder allows 10000 levels, but a value that deep makes every later copy of `backend`
// recurse that far. No real config nests more than three levels.
constexpr int kMaxNesting = 100;

constexpr uint64_t kMaxSubnetLen4 = 30;   // a /31 or /32 leaves no room for gateway and pods
constexpr uint64_t kMaxSubnetLen6 = 126;  // the IPv6 analogue flannel uses
constexpr uint8_t kMaxDefaultedPrefix4 = 28;
constexpr uint8_t kMaxDefaultedPrefix6 = 124;

// How much of a value from the config an error message shows: the config is retried every few
// seconds while it is wrong, and a 1 MB "Network" must not become a 1 MB log line each time.
constexpr size_t kMaxShown = 200;

// "...(1048576 bytes)" after a cut text, nothing after a whole one.
std::string SizeNote(size_t size, size_t shown) {
  return size > shown ? "...(" + std::to_string(size) + " bytes)" : "";
}

// Text from the config as it should appear in a message: printable ASCII as is, the rest
// escaped, so a stray control byte cannot garble a log line; cut after kMaxShown bytes.
std::string Quote(std::string_view whole) {
  static constexpr char kHex[] = "0123456789abcdef";
  const std::string_view s = whole.substr(0, kMaxShown);
  std::string out = "\"";
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u >= 0x7f || c == '"' || c == '\\') {
      out += "\\x";
      out += kHex[u >> 4];
      out += kHex[u & 0xf];
    } else {
      out += c;
    }
  }
  return out + "\"" + SizeNote(whole.size(), s.size());
}

// "string \"24\"", "number 24", "null": what the operator wrote, shortened for a message.
std::string Describe(const json& v) {
  std::string text = v.dump(-1, ' ', true, json::error_handler_t::replace);
  if (text.size() > 40) text = text.substr(0, 37) + "...";
  if (v.is_null()) return "null";
  return std::string(v.type_name()) + " " + text;
}

// Go folds a JSON member name onto a struct field name with Unicode simple case folding; for
// ASCII field names that is ASCII case-insensitivity plus these two runes. (Go >= 1.21 also
// folds U+0130 and U+0131 onto 'I'; older Go does not, and neither do we.)
std::string FoldName(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c >= 'a' && c <= 'z') {
      out += static_cast<char>(c - 'a' + 'A');
    } else if (s.substr(i, 3) == "\xE2\x84\xAA") {  // U+212A KELVIN SIGN
      out += 'K';
      i += 2;
    } else if (s.substr(i, 2) == "\xC5\xBF") {  // U+017F LATIN SMALL LETTER LONG S
      out += 'S';
      i += 1;
    } else {
      out += c;
    }
  }
  return out;
}

// Go's decoder accepts invalid UTF-8 inside strings and replaces each bad byte with U+FFFD;
// nlohmann rejects the whole document. Rewriting the bytes first makes both accept (and both
// reject) the same configs. Outside strings U+FFFD is still a syntax error, as in Go.
std::string ReplaceInvalidUtf8(std::string_view in) {
  auto cont = [&](size_t i, unsigned char lo = 0x80, unsigned char hi = 0xBF) {
    if (i >= in.size()) return false;
    auto b = static_cast<unsigned char>(in[i]);
    return b >= lo && b <= hi;
  };
  std::string out;
  out.reserve(in.size());
  size_t i = 0;
  while (i < in.size()) {
    auto b = static_cast<unsigned char>(in[i]);
    size_t n = 0;
    if (b < 0x80) {
      n = 1;
    } else if (b >= 0xC2 && b <= 0xDF) {
      n = cont(i + 1) ? 2 : 0;
    } else if (b == 0xE0) {
      n = cont(i + 1, 0xA0) && cont(i + 2) ? 3 : 0;
    } else if (b == 0xED) {  // no UTF-16 surrogates
      n = cont(i + 1, 0x80, 0x9F) && cont(i + 2) ? 3 : 0;
    } else if (b >= 0xE1 && b <= 0xEF) {
      n = cont(i + 1) && cont(i + 2) ? 3 : 0;
    } else if (b == 0xF0) {
      n = cont(i + 1, 0x90) && cont(i + 2) && cont(i + 3) ? 4 : 0;
    } else if (b >= 0xF1 && b <= 0xF3) {
      n = cont(i + 1) && cont(i + 2) && cont(i + 3) ? 4 : 0;
    } else if (b == 0xF4) {
      n = cont(i + 1, 0x80, 0x8F) && cont(i + 2) && cont(i + 3) ? 4 : 0;
    }
    if (n == 0) {
      out += "\xEF\xBF\xBD";
      ++i;
    } else {
      out.append(in.substr(i, n));
      i += n;
    }
  }
  return out;
}

// Deepest bracket nesting outside strings; only a guard, the parser judges validity.
int MaxNesting(std::string_view text) {
  int depth = 0, max_depth = 0;
  bool in_string = false, escaped = false;
  for (char c : text) {
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      max_depth = std::max(max_depth, ++depth);
    } else if (c == '}' || c == ']') {
      --depth;
    }
  }
  return max_depth;
}

// One top-level member in document order, duplicates included: Go decodes members one by one,
// so a later spelling of a field overrides an earlier one and the first bad value fails the
// whole config. nlohmann's object (a sorted map) would lose both facts.
struct Member {
  std::string key;
  json value;
  std::vector<std::string> child_keys;  // keys of `value` if it is an object, document order
};

Result<std::vector<Member>> ParseMembers(std::string_view text) {
  if (text.find_first_not_of(" \t\r\n") == std::string_view::npos) {
    return Error::InvalidArgument(
        "config is empty (expected a JSON object such as "
        "{\"Network\":\"10.5.0.0/16\",\"Backend\":{\"Type\":\"vxlan\"}})");
  }
  // nlohmann skips a byte order mark; flannel's decoder calls it an invalid character.
  if (text.substr(0, 3) == "\xEF\xBB\xBF") {
    return Error::InvalidArgument(
        "config is not valid JSON: it starts with a UTF-8 byte order mark, which flannel "
        "rejects; save it without one");
  }
  if (MaxNesting(text) > kMaxNesting) {
    return Error::InvalidArgument("config is not valid JSON: nested deeper than " +
                                  std::to_string(kMaxNesting) + " levels");
  }

  std::vector<Member> members;
  bool root_is_object = false;
  // Depth as nlohmann reports it: 1 for a top-level member, 2 for a key inside its value.
  json::parser_callback_t collect = [&](int depth, json::parse_event_t event, json& parsed) {
    using E = json::parse_event_t;
    if (depth == 0 && event == E::object_start) root_is_object = true;
    if (!root_is_object) return true;
    if (depth == 1 && event == E::key) {
      members.push_back({parsed.get<std::string>(), json(), {}});
      return true;
    }
    if (depth == 2 && event == E::key && !members.empty()) {
      members.back().child_keys.push_back(parsed.get<std::string>());
      return true;
    }
    if (depth == 1 && (event == E::value || event == E::object_end || event == E::array_end) &&
        !members.empty()) {
      // Moved out and dropped from the DOM: no copy, and duplicates survive.
      members.back().value = std::move(parsed);
      return false;
    }
    return true;
  };

  json root;
  try {
    std::string clean = ReplaceInvalidUtf8(text);
    root = json::parse(clean, collect);
  } catch (const json::exception& e) {
    std::string what = e.what();
    // "[json.exception.parse_error.101] parse error at ..." -> "parse error at ..."
    if (auto close = what.find("] ");
        what.rfind("[json.exception.", 0) == 0 && close != what.npos) {
      what = what.substr(close + 2);
    }
    // nlohmann quotes the token it choked on ("last read: '...'"), which can be the whole
    // rest of the document: keep the position and the start of it.
    if (what.size() > 2 * kMaxShown) {
      what = what.substr(0, 2 * kMaxShown) + SizeNote(what.size(), 2 * kMaxShown);
    }
    return Error::InvalidArgument("config is not valid JSON: " + what);
  } catch (const std::exception& e) {
    return Error::Internal(std::string("parsing config: ") + e.what());
  }
  if (!root.is_object()) {
    return Error::InvalidArgument(std::string("config must be a JSON object, got ") +
                                  root.type_name());
  }
  return members;
}

// What Go's decoder leaves after decoding every member, before flannel's checks. Optional
// fields are empty when absent or when flannel's code cannot tell them from absent.
struct Decoded {
  bool enable_ipv4 = true;
  bool enable_ipv6 = false;
  bool enable_nftables = false;
  std::optional<net::Ip4Net> network;
  uint64_t subnet_len = 0;
  std::optional<net::Ip4> subnet_min;
  std::optional<net::Ip4> subnet_max;
  std::optional<net::Ip6Net> ipv6_network;
  uint64_t ipv6_subnet_len = 0;
  std::optional<net::Ip6> ipv6_subnet_min;
  std::optional<net::Ip6> ipv6_subnet_max;
  std::optional<json> backend;  // empty when absent or null
  std::vector<std::string> backend_keys;
};

Status DecodeBool(std::string_view field, const json& v, bool& out) {
  if (v.is_null()) return {};  // Go leaves the field alone on null
  if (!v.is_boolean()) {
    return Error::InvalidArgument(std::string(field) + " must be true or false, got " +
                                  Describe(v));
  }
  out = v.get<bool>();
  return {};
}

Status DecodeLen(std::string_view field, const json& v, uint64_t& out) {
  if (v.is_null()) return {};
  // Go's uint accepts neither "-0", "24.0" nor 1e2; nlohmann types exactly those as
  // signed or float, so "unsigned" is the same rule.
  if (!v.is_number_unsigned()) {
    return Error::InvalidArgument(std::string(field) + " must be a non-negative integer, got " +
                                  Describe(v));
  }
  out = v.get<uint64_t>();
  return {};
}

// Go's ParseCIDR reads the prefix length with leading zeros allowed ("10.0.0.0/016");
// net::Ip4Net::Parse does not, so strip them first.
std::string StripPrefixZeros(const std::string& cidr) {
  size_t slash = cidr.find('/');
  if (slash == std::string::npos) return cidr;
  std::string_view digits = std::string_view(cidr).substr(slash + 1);
  size_t nonzero = digits.find_first_not_of('0');
  if (digits.empty() || nonzero == 0) return cidr;
  if (nonzero == std::string_view::npos) nonzero = digits.size() - 1;  // "/000" -> "/0"
  return cidr.substr(0, slash + 1) + std::string(digits.substr(nonzero));
}

Status DecodeNetwork4(const json& v, std::optional<net::Ip4Net>& out) {
  // flannel's CIDR type parses null as text and fails, so null is not "absent" here.
  if (!v.is_string()) {
    return Error::InvalidArgument("Network must be a string such as \"10.5.0.0/16\", got " +
                                  Describe(v));
  }
  const auto& text = v.get_ref<const std::string&>();
  auto parsed = net::Ip4Net::Parse(StripPrefixZeros(text));
  if (!parsed) {
    return Error::InvalidArgument("Network " + Quote(text) + " is not a CIDR (expected a.b.c.d/n)");
  }
  out = parsed->Network();  // Go's ParseCIDR clears host bits
  return {};
}

Status DecodeNetwork6(const json& v, std::optional<net::Ip6Net>& out) {
  if (!v.is_string()) {
    return Error::InvalidArgument("IPv6Network must be a string such as \"fd00:10:5::/48\", got " +
                                  Describe(v));
  }
  const auto& text = v.get_ref<const std::string&>();
  auto parsed = net::Ip6Net::Parse(StripPrefixZeros(text));
  if (!parsed) {
    return Error::InvalidArgument(
        "IPv6Network " + Quote(text) +
        " is not a CIDR (expected an IPv6 prefix such as fd00:10:5::/48)");
  }
  out = parsed->Network();
  return {};
}

Status DecodeIp4(std::string_view field, const json& v, std::optional<net::Ip4>& out) {
  // SubnetMin/Max are plain values in flannel: null fails to parse like any other text.
  if (!v.is_string()) {
    return Error::InvalidArgument(std::string(field) +
                                  " must be a string such as \"10.5.1.0\", got " + Describe(v));
  }
  const auto& text = v.get_ref<const std::string&>();
  auto parsed = net::Ip4::Parse(text);
  if (!parsed) {
    return Error::InvalidArgument(std::string(field) + " " + Quote(text) +
                                  " is not an IPv4 address (expected a.b.c.d)");
  }
  // flannel tests "== 0" to mean "not given", so an explicit 0.0.0.0 selects the default.
  if (parsed->value() == 0) {
    out.reset();
  } else {
    out = *parsed;
  }
  return {};
}

Status DecodeIp6(std::string_view field, const json& v, std::optional<net::Ip6>& out) {
  // flannel holds IPv6SubnetMin/Max by pointer: null resets it to "not given".
  if (v.is_null()) {
    out.reset();
    return {};
  }
  if (!v.is_string()) {
    return Error::InvalidArgument(
        std::string(field) + " must be a string such as \"fd00:10:5:1::\", got " + Describe(v));
  }
  const auto& text = v.get_ref<const std::string&>();
  auto parsed = net::Ip6::Parse(text);
  if (!parsed) {
    return Error::InvalidArgument(std::string(field) + " " + Quote(text) +
                                  " is not an IPv6 address");
  }
  // Like IPv4, flannel treats the all-zero address as "not given".
  if (*parsed == net::Ip6()) {
    out.reset();
  } else {
    out = *parsed;
  }
  return {};
}

Result<Decoded> Decode(std::vector<Member>& members) {
  Decoded d;
  using Handler = std::function<Status(Member&)>;
  const std::pair<std::string_view, Handler> fields[] = {
      {"EnableIPv4", [&](Member& m) { return DecodeBool("EnableIPv4", m.value, d.enable_ipv4); }},
      {"EnableIPv6", [&](Member& m) { return DecodeBool("EnableIPv6", m.value, d.enable_ipv6); }},
      {"EnableNFTables",
       [&](Member& m) { return DecodeBool("EnableNFTables", m.value, d.enable_nftables); }},
      {"Network", [&](Member& m) { return DecodeNetwork4(m.value, d.network); }},
      {"SubnetLen", [&](Member& m) { return DecodeLen("SubnetLen", m.value, d.subnet_len); }},
      {"SubnetMin", [&](Member& m) { return DecodeIp4("SubnetMin", m.value, d.subnet_min); }},
      {"SubnetMax", [&](Member& m) { return DecodeIp4("SubnetMax", m.value, d.subnet_max); }},
      {"IPv6Network", [&](Member& m) { return DecodeNetwork6(m.value, d.ipv6_network); }},
      {"IPv6SubnetLen",
       [&](Member& m) { return DecodeLen("IPv6SubnetLen", m.value, d.ipv6_subnet_len); }},
      {"IPv6SubnetMin",
       [&](Member& m) { return DecodeIp6("IPv6SubnetMin", m.value, d.ipv6_subnet_min); }},
      {"IPv6SubnetMax",
       [&](Member& m) { return DecodeIp6("IPv6SubnetMax", m.value, d.ipv6_subnet_max); }},
      // Kept raw like Go's json.RawMessage: its shape is judged once the last spelling won.
      {"Backend",
       [&](Member& m) {
         if (m.value.is_null()) {
           d.backend.reset();
           d.backend_keys.clear();
         } else {
           d.backend = std::move(m.value);
           d.backend_keys = std::move(m.child_keys);
         }
         return Status::Ok();
       }},
  };
  for (Member& m : members) {
    for (const auto& [name, handler] : fields) {
      if (!JsonNameMatches(m.key, name)) continue;
      if (Status s = handler(m); !s) return s.error();
      break;
    }
  }
  return d;
}

// Drops the spellings of a key that a later spelling overrides in Go's decoding, so a
// backend's case-insensitive lookup finds exactly the member flannel would have used.
void DropOverriddenSpellings(json& object, const std::vector<std::string>& keys_in_order) {
  std::map<std::string, std::string> last_spelling;  // folded name -> key that came last
  for (const auto& k : keys_in_order) last_spelling[FoldName(k)] = k;
  for (auto it = object.begin(); it != object.end();) {
    auto winner = last_spelling.find(FoldName(it.key()));
    if (winner != last_spelling.end() && winner->second != it.key()) {
      it = object.erase(it);
    } else {
      ++it;
    }
  }
}

// The IPv4 half of flannel's CheckNetworkConfig, plus SubnetMin <= SubnetMax which flannel
// leaves to the allocator finding nothing.
Status ValidateIpv4(const Decoded& d, NetworkConfig& c) {
  if (!d.network) {
    return Error::InvalidArgument(
        "Network is missing: set it to the IPv4 range pods get addresses from, e.g. "
        "\"Network\":\"10.5.0.0/16\" (or set \"EnableIPv4\":false for an IPv6-only network)");
  }
  const net::Ip4Net network = *d.network;
  // flannel cannot tell 0.0.0.0/0 from a missing Network and rejects it the same way.
  if (network == net::Ip4Net()) {
    return Error::InvalidArgument(
        "Network 0.0.0.0/0 is not usable: flannel treats it as no Network at all; choose a "
        "range such as \"10.5.0.0/16\"");
  }
  const uint8_t prefix = network.prefix_len();
  uint64_t len = d.subnet_len;
  if (len > 0) {
    if (len > kMaxSubnetLen4) {
      return Error::InvalidArgument("SubnetLen " + std::to_string(len) +
                                    " is larger than 30 (a node's subnet needs room for its "
                                    "gateway and pods)");
    }
    // The first subnet is never handed out, so fewer than four leave almost nothing.
    if (len < uint64_t{prefix} + 2) {
      return Error::InvalidArgument(
          "SubnetLen " + std::to_string(len) + " is too small for Network " + network.ToString() +
          ": the network must hold at least four subnets, so SubnetLen " + "must be at least " +
          std::to_string(prefix + 2) +
          (uint64_t{prefix} + 2 > kMaxSubnetLen4 ? " (so Network must be a /28 or larger)" : ""));
    }
  } else if (prefix > kMaxDefaultedPrefix4) {
    return Error::InvalidArgument("Network " + network.ToString() +
                                  " is too small: the smallest usable Network is a /28 (four "
                                  "/30 subnets)");
  } else {
    len = prefix <= 22 ? 24 : prefix + 2;
  }
  const auto subnet_len = static_cast<uint8_t>(len);

  const net::Ip4 min = d.subnet_min.value_or(net::Ip4Net(network.ip(), subnet_len).Next().ip());
  const net::Ip4 max =
      d.subnet_max.value_or(net::Ip4Net(network.Last(), subnet_len).Network().ip());
  for (auto [field, ip] : {std::pair{"SubnetMin", min}, std::pair{"SubnetMax", max}}) {
    if (!network.Contains(ip)) {
      return Error::InvalidArgument(std::string(field) + " " + ip.ToString() +
                                    " is not inside Network " + network.ToString());
    }
    if (net::Ip4Net aligned = net::Ip4Net(ip, subnet_len).Network(); aligned.ip() != ip) {
      return Error::InvalidArgument(
          std::string(field) + " " + ip.ToString() + " is not aligned to SubnetLen " +
          std::to_string(len) + " (the nearest subnet address is " + aligned.ip().ToString() + ")");
    }
  }
  if (min > max) {
    return Error::InvalidArgument("SubnetMin " + min.ToString() + " is greater than SubnetMax " +
                                  max.ToString() + ": no subnet could be handed out");
  }
  c.network = network;
  c.subnet_len = subnet_len;
  c.subnet_min = min;
  c.subnet_max = max;
  return {};
}

net::Ip6 LastAddress(const net::Ip6Net& n) {
  net::Ip6::Bytes b = n.Network().ip().bytes();
  for (int i = 0; i < 16; ++i) {
    int bits = static_cast<int>(n.prefix_len()) - 8 * i;
    if (bits >= 8) continue;
    b[i] |= static_cast<uint8_t>(bits <= 0 ? 0xff : 0xff >> bits);
  }
  return net::Ip6(b);
}

Status ValidateIpv6(const Decoded& d, NetworkConfig& c) {
  if (!d.ipv6_network) {
    return Error::InvalidArgument(
        "IPv6Network is missing: EnableIPv6 is true, so set the IPv6 range pods get addresses "
        "from, e.g. \"IPv6Network\":\"fd00:10:5::/48\"");
  }
  const net::Ip6Net network = *d.ipv6_network;
  if (network == net::Ip6Net(net::Ip6(), 0)) {
    return Error::InvalidArgument(
        "IPv6Network ::/0 is not usable: flannel treats it as no IPv6Network at all; choose a "
        "range such as \"fd00:10:5::/48\"");
  }
  const uint8_t prefix = network.prefix_len();
  uint64_t len = d.ipv6_subnet_len;
  if (len > 0) {
    if (len > kMaxSubnetLen6) {
      return Error::InvalidArgument("IPv6SubnetLen " + std::to_string(len) +
                                    " is larger than 126 (a node's subnet needs room for its "
                                    "gateway and pods)");
    }
    if (len < uint64_t{prefix} + 2) {
      return Error::InvalidArgument(
          "IPv6SubnetLen " + std::to_string(len) + " is too small for IPv6Network " +
          network.ToString() + ": the network must hold at least four subnets, so " +
          "IPv6SubnetLen must be at least " + std::to_string(prefix + 2) +
          (uint64_t{prefix} + 2 > kMaxSubnetLen6 ? " (so IPv6Network must be a /124 or larger)"
                                                 : ""));
    }
  } else if (prefix > kMaxDefaultedPrefix6) {
    return Error::InvalidArgument("IPv6Network " + network.ToString() +
                                  " is too small: the smallest usable IPv6Network is a /124 "
                                  "(four /126 subnets)");
  } else {
    len = prefix <= 62 ? 64 : prefix + 2;
  }
  const auto subnet_len = static_cast<uint8_t>(len);

  const net::Ip6 min =
      d.ipv6_subnet_min.value_or(net::Ip6Net(network.ip(), subnet_len).Next().ip());
  const net::Ip6 max =
      d.ipv6_subnet_max.value_or(net::Ip6Net(LastAddress(network), subnet_len).Network().ip());
  for (auto [field, ip] : {std::pair{"IPv6SubnetMin", min}, std::pair{"IPv6SubnetMax", max}}) {
    if (!network.Contains(ip)) {
      return Error::InvalidArgument(std::string(field) + " " + ip.ToString() +
                                    " is not inside IPv6Network " + network.ToString());
    }
    if (net::Ip6Net aligned = net::Ip6Net(ip, subnet_len).Network(); aligned.ip() != ip) {
      return Error::InvalidArgument(
          std::string(field) + " " + ip.ToString() + " is not aligned to IPv6SubnetLen " +
          std::to_string(len) + " (the nearest subnet address is " + aligned.ip().ToString() + ")");
    }
  }
  if (min > max) {
    return Error::InvalidArgument("IPv6SubnetMin " + min.ToString() +
                                  " is greater than IPv6SubnetMax " + max.ToString() +
                                  ": no subnet could be handed out");
  }
  c.ipv6_network = network;
  c.ipv6_subnet_len = subnet_len;
  c.ipv6_subnet_min = min;
  c.ipv6_subnet_max = max;
  return {};
}

// flannel reads Type out of Backend with Go's decoder: missing, null and "" are one case.
// flannel's code maps only a missing Backend to "udp" (so `{}` fails there as "unknown backend
// type"); tartan maps every spelling of "no type" to udp. Any other string is kept: which
// backends exist is the agent's business, and it reports an unknown one with the full list.
Status ResolveBackend(Decoded& d, NetworkConfig& c) {
  if (!d.backend) {
    c.backend = json::object();
    c.backend_type = "udp";
    return {};
  }
  if (!d.backend->is_object()) {
    return Error::InvalidArgument(
        "Backend must be a JSON object such as {\"Type\":\"vxlan\"}, got " + Describe(*d.backend));
  }
  DropOverriddenSpellings(*d.backend, d.backend_keys);
  c.backend = std::move(*d.backend);
  c.backend_type.clear();
  for (auto it = c.backend.cbegin(); it != c.backend.cend(); ++it) {
    const json& value = it.value();
    if (!JsonNameMatches(it.key(), "Type") || value.is_null()) continue;
    if (!value.is_string()) {
      return Error::InvalidArgument("Backend.Type must be a string such as \"vxlan\", got " +
                                    Describe(value));
    }
    c.backend_type = value.get<std::string>();
  }
  // Go's strings.ToLower; backend names are ASCII, anything else is unknown either way.
  std::transform(c.backend_type.begin(), c.backend_type.end(), c.backend_type.begin(),
                 [](char ch) { return ch >= 'A' && ch <= 'Z' ? static_cast<char>(ch + 32) : ch; });
  if (c.backend_type.empty()) c.backend_type = "udp";
  return {};
}

}  // namespace

bool JsonNameMatches(std::string_view key, std::string_view field) {
  return FoldName(key) == FoldName(field);
}

Result<NetworkConfig> NetworkConfig::Parse(std::string_view json_text) {
  try {
    auto members = ParseMembers(json_text);
    if (!members) return members.error();
    auto decoded = Decode(*members);
    if (!decoded) return decoded.error();
    Decoded& d = *decoded;

    NetworkConfig c;
    if (Status s = ResolveBackend(d, c); !s) return s.error();
    c.enable_ipv4 = d.enable_ipv4;
    c.enable_ipv6 = d.enable_ipv6;
    c.enable_nftables = d.enable_nftables;
    if (!c.enable_ipv4 && !c.enable_ipv6) {
      return Error::InvalidArgument(
          "EnableIPv4 and EnableIPv6 are both false: enable at least one address family");
    }
    if (c.enable_ipv4) {
      if (Status s = ValidateIpv4(d, c); !s) return s.error();
    }
    if (c.enable_ipv6) {
      if (Status s = ValidateIpv6(d, c); !s) return s.error();
    }
    return c;
  } catch (const std::exception& e) {
    // Nothing above is expected to throw past ParseMembers; allocation failure is the rest.
    return Error::Internal(std::string("parsing config: ") + e.what());
  }
}

Status CheckTartanSupports(const NetworkConfig& config) {
  if (!config.enable_ipv4 || config.enable_ipv6) {
    return Error::FailedPrecondition(
        "tartand routes IPv4 only for now; EnableIPv4 must be true and EnableIPv6 false");
  }
  if (config.enable_nftables) {
    return Error::FailedPrecondition(
        "EnableNFTables is true, but tartand writes iptables rules only (nftables mode is not "
        "implemented); set \"EnableNFTables\": false or remove it, or keep flanneld on this "
        "network");
  }
  return {};
}

bool NetworkConfig::Fits(const net::Ip4Net& subnet) const {
  return enable_ipv4 && network && subnet.prefix_len() == subnet_len && subnet.IsCanonical() &&
         network->Contains(subnet) && subnet_min <= subnet.ip() && subnet.ip() <= subnet_max;
}

bool NetworkConfig::Fits(const net::Ip6Net& subnet) const {
  return enable_ipv6 && ipv6_network && subnet.prefix_len() == ipv6_subnet_len &&
         subnet.IsCanonical() && ipv6_network->Contains(subnet) && ipv6_subnet_min <= subnet.ip() &&
         subnet.ip() <= ipv6_subnet_max;
}

const nlohmann::json* NetworkConfig::BackendField(std::string_view name) const {
  if (!backend.is_object()) return nullptr;
  for (auto it = backend.cbegin(); it != backend.cend(); ++it) {
    if (JsonNameMatches(it.key(), name)) return &it.value();
  }
  return nullptr;
}

}  // namespace tartan::model
