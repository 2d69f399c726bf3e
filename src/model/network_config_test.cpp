#include "model/network_config.hpp"

#include <gtest/gtest.h>

#include <ostream>
#include <string>
#include <vector>

namespace tartan::model {
namespace {

using net::Ip4;
using net::Ip4Net;
using net::Ip6;
using net::Ip6Net;

Ip4Net N4(const char* s) { return *Ip4Net::Parse(s); }
Ip6Net N6(const char* s) { return *Ip6Net::Parse(s); }

// Everything Parse derives, on one line, so a table row states the whole outcome and a
// mismatch shows as a readable diff.
std::string Summary(const NetworkConfig& c) {
  std::string s;
  if (c.enable_ipv4) {
    s += "ipv4 " + (c.network ? c.network->ToString() : "<none>") + " /" +
         std::to_string(c.subnet_len) + " " + c.subnet_min.ToString() + "-" +
         c.subnet_max.ToString();
  } else {
    s += "ipv4 off";
    if (c.network) s += " <network set>";
  }
  if (c.enable_ipv6) {
    s += " | ipv6 " + (c.ipv6_network ? c.ipv6_network->ToString() : "<none>") + " /" +
         std::to_string(c.ipv6_subnet_len) + " " + c.ipv6_subnet_min.ToString() + "-" +
         c.ipv6_subnet_max.ToString();
  } else {
    s += " | ipv6 off";
    if (c.ipv6_network) s += " <network set>";
  }
  s += c.enable_nftables ? " | nft" : "";
  s += " | " + c.backend_type;
  return s;
}

struct ValidCase {
  const char* name;
  std::string json;
  std::string summary;
};

void PrintTo(const ValidCase& tc, std::ostream* os) { *os << tc.name; }

class ParseValid : public testing::TestWithParam<ValidCase> {};

TEST_P(ParseValid, DerivesFields) {
  const ValidCase& tc = GetParam();
  auto c = NetworkConfig::Parse(tc.json);
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(Summary(*c), tc.summary);
  EXPECT_TRUE(c->backend.is_object());
}

std::string Nested(int depth) {
  return "{\"Network\":\"10.1.0.0/16\",\"Backend\":{\"Type\":\"vxlan\",\"X\":" +
         std::string(depth, '[') + std::string(depth, ']') + "}}";
}

const ValidCase kValid[] = {
    // Network sizes and the SubnetLen default.
    {"CompatDocHostGw", R"({"Network":"10.244.0.0/16","Backend":{"Type":"host-gw"}})",
     "ipv4 10.244.0.0/16 /24 10.244.1.0-10.244.255.0 | ipv6 off | host-gw"},
    {"NoBackendIsUdp", R"({"Network":"10.5.0.0/16"})",
     "ipv4 10.5.0.0/16 /24 10.5.1.0-10.5.255.0 | ipv6 off | udp"},
    {"CaseInsensitiveNames",
     R"({"network":"10.1.0.0/16","subnetlen":26,"BACKEND":{"type":"VXLAN","VNI":4}})",
     "ipv4 10.1.0.0/16 /26 10.1.0.64-10.1.255.192 | ipv6 off | vxlan"},
    {"Slash8", R"({"Network":"10.0.0.0/8"})",
     "ipv4 10.0.0.0/8 /24 10.0.1.0-10.255.255.0 | ipv6 off | udp"},
    {"Slash1", R"({"Network":"0.0.0.0/1"})",
     "ipv4 0.0.0.0/1 /24 0.0.1.0-127.255.255.0 | ipv6 off | udp"},
    {"Slash22Gets24", R"({"Network":"10.0.0.0/22"})",
     "ipv4 10.0.0.0/22 /24 10.0.1.0-10.0.3.0 | ipv6 off | udp"},
    {"Slash23GetsPrefixPlus2", R"({"Network":"10.0.0.0/23"})",
     "ipv4 10.0.0.0/23 /25 10.0.0.128-10.0.1.128 | ipv6 off | udp"},
    {"Slash28Gets30", R"({"Network":"10.0.0.0/28"})",
     "ipv4 10.0.0.0/28 /30 10.0.0.4-10.0.0.12 | ipv6 off | udp"},
    {"HostBitsCleared", R"({"Network":"10.244.7.9/16"})",
     "ipv4 10.244.0.0/16 /24 10.244.1.0-10.244.255.0 | ipv6 off | udp"},
    {"PrefixWithLeadingZerosAsGoAccepts", R"({"Network":"10.1.0.0/016"})",
     "ipv4 10.1.0.0/16 /24 10.1.1.0-10.1.255.0 | ipv6 off | udp"},
    // SubnetLen given.
    {"SubnetLen30", R"({"Network":"10.1.0.0/16","SubnetLen":30})",
     "ipv4 10.1.0.0/16 /30 10.1.0.4-10.1.255.252 | ipv6 off | udp"},
    {"SubnetLenPrefixPlus2", R"({"Network":"10.1.0.0/16","SubnetLen":18})",
     "ipv4 10.1.0.0/16 /18 10.1.64.0-10.1.192.0 | ipv6 off | udp"},
    {"SubnetLen30OnSlash28", R"({"Network":"10.0.0.0/28","SubnetLen":30})",
     "ipv4 10.0.0.0/28 /30 10.0.0.4-10.0.0.12 | ipv6 off | udp"},
    {"SubnetLenZeroMeansDefault", R"({"Network":"10.1.0.0/16","SubnetLen":0})",
     "ipv4 10.1.0.0/16 /24 10.1.1.0-10.1.255.0 | ipv6 off | udp"},
    {"NullMeansAbsentForLenAndBools",
     R"({"Network":"10.1.0.0/16","SubnetLen":null,"EnableIPv4":null,"EnableIPv6":null})",
     "ipv4 10.1.0.0/16 /24 10.1.1.0-10.1.255.0 | ipv6 off | udp"},
    // SubnetMin / SubnetMax given.
    {"ExplicitMinMax",
     R"({"Network":"10.1.0.0/16","SubnetMin":"10.1.10.0","SubnetMax":"10.1.20.0"})",
     "ipv4 10.1.0.0/16 /24 10.1.10.0-10.1.20.0 | ipv6 off | udp"},
    {"MinEqualsMax", R"({"Network":"10.1.0.0/16","SubnetMin":"10.1.7.0","SubnetMax":"10.1.7.0"})",
     "ipv4 10.1.0.0/16 /24 10.1.7.0-10.1.7.0 | ipv6 off | udp"},
    {"FirstSubnetWhenAskedFor", R"({"Network":"10.1.0.0/16","SubnetMin":"10.1.0.0"})",
     "ipv4 10.1.0.0/16 /24 10.1.0.0-10.1.255.0 | ipv6 off | udp"},
    {"ZeroMinMeansDefault",  // flannel compares with 0 to mean "not given"
     R"({"Network":"10.1.0.0/16","SubnetMin":"0.0.0.0","SubnetMax":"0.0.0.0"})",
     "ipv4 10.1.0.0/16 /24 10.1.1.0-10.1.255.0 | ipv6 off | udp"},
    {"MinMaxWithSubnetLen",
     R"({"Network":"10.1.0.0/16","SubnetLen":26,"SubnetMin":"10.1.3.64","SubnetMax":"10.1.3.192"})",
     "ipv4 10.1.0.0/16 /26 10.1.3.64-10.1.3.192 | ipv6 off | udp"},
    // IPv6.
    {"DualStack",
     R"({"EnableIPv6":true,"Network":"10.12.0.0/16","IPv6Network":"fd00:12::/56","Backend":{"Type":"vxlan"}})",
     "ipv4 10.12.0.0/16 /24 10.12.1.0-10.12.255.0 | ipv6 fd00:12::/56 /64 "
     "fd00:12:0:1::-fd00:12:0:ff:: "
     "| vxlan"},
    {"Ipv6Only", R"({"EnableIPv4":false,"EnableIPv6":true,"IPv6Network":"fd00::/48"})",
     "ipv4 off | ipv6 fd00::/48 /64 fd00:0:0:1::-fd00:0:0:ffff:: | udp"},
    {"Ipv4DisabledIgnoresItsRules",  // SubnetLen 31 would fail if IPv4 were enabled
     R"({"EnableIPv4":false,"EnableIPv6":true,"IPv6Network":"fd00::/48","Network":"10.1.0.0/29","SubnetLen":31})",
     "ipv4 off | ipv6 fd00::/48 /64 fd00:0:0:1::-fd00:0:0:ffff:: | udp"},
    {"Ipv6NetworkIgnoredWhenDisabled", R"({"Network":"10.1.0.0/16","IPv6Network":"fd00::/48"})",
     "ipv4 10.1.0.0/16 /24 10.1.1.0-10.1.255.0 | ipv6 off | udp"},
    {"Ipv6Slash62Gets64", R"({"EnableIPv4":false,"EnableIPv6":true,"IPv6Network":"fd00::/62"})",
     "ipv4 off | ipv6 fd00::/62 /64 fd00:0:0:1::-fd00:0:0:3:: | udp"},
    {"Ipv6Slash63GetsPrefixPlus2",
     R"({"EnableIPv4":false,"EnableIPv6":true,"IPv6Network":"fd00::/63"})",
     "ipv4 off | ipv6 fd00::/63 /65 fd00::8000:0:0:0-fd00:0:0:1:8000:: | udp"},
    {"Ipv6Slash124Gets126", R"({"EnableIPv4":false,"EnableIPv6":true,"IPv6Network":"fd00::/124"})",
     "ipv4 off | ipv6 fd00::/124 /126 fd00::4-fd00::c | udp"},
    {"Ipv6SubnetLen126",
     R"({"EnableIPv4":false,"EnableIPv6":true,"IPv6Network":"fd00::/120","IPv6SubnetLen":126})",
     "ipv4 off | ipv6 fd00::/120 /126 fd00::4-fd00::fc | udp"},
    {"Ipv6SubnetLenPrefixPlus2",
     R"({"EnableIPv4":false,"EnableIPv6":true,"IPv6Network":"fd00::/48","IPv6SubnetLen":50})",
     "ipv4 off | ipv6 fd00::/48 /50 fd00:0:0:4000::-fd00:0:0:c000:: | udp"},
    {"Ipv6HostBitsCleared",
     R"({"EnableIPv4":false,"EnableIPv6":true,"IPv6Network":"FD00:0:0:7::1/48"})",
     "ipv4 off | ipv6 fd00::/48 /64 fd00:0:0:1::-fd00:0:0:ffff:: | udp"},
    {"Ipv6ExplicitMinMax",
     R"({"EnableIPv4":false,"EnableIPv6":true,"IPv6Network":"fd00::/48","IPv6SubnetMin":"fd00:0:0:10::","IPv6SubnetMax":"fd00:0:0:20::"})",
     "ipv4 off | ipv6 fd00::/48 /64 fd00:0:0:10::-fd00:0:0:20:: | udp"},
    {"Ipv6NullAndZeroMinMaxMeanDefault",
     R"({"EnableIPv4":false,"EnableIPv6":true,"IPv6Network":"fd00::/48","IPv6SubnetMin":null,"IPv6SubnetMax":"::"})",
     "ipv4 off | ipv6 fd00::/48 /64 fd00:0:0:1::-fd00:0:0:ffff:: | udp"},
    {"Ipv6LaterNullResetsMin",
     R"({"EnableIPv4":false,"EnableIPv6":true,"IPv6Network":"fd00::/48","IPv6SubnetMin":"fd00:0:0:10::","ipv6subnetmin":null})",
     "ipv4 off | ipv6 fd00::/48 /64 fd00:0:0:1::-fd00:0:0:ffff:: | udp"},
    // Backend.
    {"BackendNullIsUdp", R"({"Network":"10.1.0.0/16","Backend":null})",
     "ipv4 10.1.0.0/16 /24 10.1.1.0-10.1.255.0 | ipv6 off | udp"},
    {"BackendWithoutTypeIsUdp", R"({"Network":"10.1.0.0/16","Backend":{"Port":8285}})",
     "ipv4 10.1.0.0/16 /24 10.1.1.0-10.1.255.0 | ipv6 off | udp"},
    {"BackendEmptyTypeIsUdp", R"({"Network":"10.1.0.0/16","Backend":{"Type":""}})",
     "ipv4 10.1.0.0/16 /24 10.1.1.0-10.1.255.0 | ipv6 off | udp"},
    {"BackendNullTypeIsUdp", R"({"Network":"10.1.0.0/16","Backend":{"Type":null}})",
     "ipv4 10.1.0.0/16 /24 10.1.1.0-10.1.255.0 | ipv6 off | udp"},
    {"BackendTypeLowercased", R"({"Network":"10.1.0.0/16","Backend":{"Type":"Host-GW"}})",
     "ipv4 10.1.0.0/16 /24 10.1.1.0-10.1.255.0 | ipv6 off | host-gw"},
    {"UnknownBackendTypeKeptForTheAgent", R"({"Network":"10.1.0.0/16","Backend":{"Type":"ipip"}})",
     "ipv4 10.1.0.0/16 /24 10.1.1.0-10.1.255.0 | ipv6 off | ipip"},
    {"LastBackendSpellingWins",  // Go keeps Backend raw: only the last one is judged
     R"({"Network":"10.1.0.0/16","Backend":"junk","backend":{"Type":"host-gw"}})",
     "ipv4 10.1.0.0/16 /24 10.1.1.0-10.1.255.0 | ipv6 off | host-gw"},
    {"LaterNullBackendMeansUdp",
     R"({"Network":"10.1.0.0/16","Backend":{"Type":"vxlan"},"backend":null})",
     "ipv4 10.1.0.0/16 /24 10.1.1.0-10.1.255.0 | ipv6 off | udp"},
    {"LastTypeSpellingWins",
     R"({"Network":"10.1.0.0/16","Backend":{"Type":"vxlan","type":"host-gw"}})",
     "ipv4 10.1.0.0/16 /24 10.1.1.0-10.1.255.0 | ipv6 off | host-gw"},
    {"LastTypeSpellingWinsReversed",
     R"({"Network":"10.1.0.0/16","Backend":{"type":"host-gw","Type":"vxlan"}})",
     "ipv4 10.1.0.0/16 /24 10.1.1.0-10.1.255.0 | ipv6 off | vxlan"},
    {"DeepButAllowedBackend", Nested(90),
     "ipv4 10.1.0.0/16 /24 10.1.1.0-10.1.255.0 | ipv6 off | vxlan"},
    // Go's decoding rules.
    {"UnknownFieldsIgnored",
     R"({"Network":"10.1.0.0/16","Foo":[1,{"x":null}],"Networks":"x","BackendType":5})",
     "ipv4 10.1.0.0/16 /24 10.1.1.0-10.1.255.0 | ipv6 off | udp"},
    {"LaterSpellingWins", R"({"Network":"10.1.0.0/16","network":"10.2.0.0/16"})",
     "ipv4 10.2.0.0/16 /24 10.2.1.0-10.2.255.0 | ipv6 off | udp"},
    {"LaterSpellingWinsEvenOverExactCase", R"({"network":"10.2.0.0/16","Network":"10.1.0.0/16"})",
     "ipv4 10.1.0.0/16 /24 10.1.1.0-10.1.255.0 | ipv6 off | udp"},
    {"ExactDuplicateLastWins", R"({"Network":"10.1.0.0/16","Network":"10.3.0.0/16"})",
     "ipv4 10.3.0.0/16 /24 10.3.1.0-10.3.255.0 | ipv6 off | udp"},
    {"KelvinSignFoldsToK",
     "{\"Network\":\"10.1.0.0/16\",\"Bac\xE2\x84\xAA"
     "end\":{\"Type\":\"vxlan\"}}",
     "ipv4 10.1.0.0/16 /24 10.1.1.0-10.1.255.0 | ipv6 off | vxlan"},
    {"LongSFoldsToS", "{\"Network\":\"10.1.0.0/16\",\"EnableNFTable\xC5\xBF\":true}",
     "ipv4 10.1.0.0/16 /24 10.1.1.0-10.1.255.0 | ipv6 off | nft | udp"},
    {"EscapedKeyName", R"({"N\u0065twork":"10.1.0.0/16"})",
     "ipv4 10.1.0.0/16 /24 10.1.1.0-10.1.255.0 | ipv6 off | udp"},
    {"EnableNFTables", R"({"Network":"10.1.0.0/16","EnableNFTables":true})",
     "ipv4 10.1.0.0/16 /24 10.1.1.0-10.1.255.0 | ipv6 off | nft | udp"},
    {"InvalidUtf8InAStringAsGoAccepts",
     "{\"Network\":\"10.1.0.0/16\",\"Note\":\"caf\xE9 \xED\xA0\x80\"}",
     "ipv4 10.1.0.0/16 /24 10.1.1.0-10.1.255.0 | ipv6 off | udp"},
    {"Whitespace", " \n\t{ \"Network\" : \"10.1.0.0/16\" }\r\n ",
     "ipv4 10.1.0.0/16 /24 10.1.1.0-10.1.255.0 | ipv6 off | udp"},
};

INSTANTIATE_TEST_SUITE_P(Configs, ParseValid, testing::ValuesIn(kValid),
                         [](const auto& info) { return std::string(info.param.name); });

struct InvalidCase {
  const char* name;
  std::string json;
  std::vector<std::string> fragments;  // each must appear in the message
};

void PrintTo(const InvalidCase& tc, std::ostream* os) { *os << tc.name; }

class ParseInvalid : public testing::TestWithParam<InvalidCase> {};

TEST_P(ParseInvalid, NamesTheProblem) {
  const InvalidCase& tc = GetParam();
  auto c = NetworkConfig::Parse(tc.json);
  ASSERT_FALSE(c.ok()) << "parsed as: " << Summary(*c);
  EXPECT_EQ(c.error().code, Error::Code::kInvalidArgument);
  for (const auto& f : tc.fragments) {
    EXPECT_NE(c.error().message.find(f), std::string::npos)
        << "missing \"" << f << "\" in: " << c.error().message;
  }
}

const InvalidCase kInvalid[] = {
    // Not a JSON object.
    {"Empty", "", {"config is empty", "{\"Network\":"}},
    {"OnlyWhitespace", " \n\t ", {"config is empty"}},
    {"Array", "[]", {"config must be a JSON object, got array"}},
    {"Null", "null", {"config must be a JSON object, got null"}},
    {"Number", "42", {"config must be a JSON object, got number"}},
    {"String", R"("10.1.0.0/16")", {"config must be a JSON object, got string"}},
    {"Unterminated", "{", {"config is not valid JSON: ", "parse error"}},
    {"TrailingGarbage", R"({"Network":"10.1.0.0/16"} x)", {"config is not valid JSON: "}},
    {"TrailingComma", R"({"Network":"10.1.0.0/16",})", {"config is not valid JSON: "}},
    {"Comment", R"({/* c */ "Network":"10.1.0.0/16"})", {"config is not valid JSON: "}},
    {"SingleQuotes", R"({'Network':'10.1.0.0/16'})", {"config is not valid JSON: "}},
    {"BinaryGarbage", std::string("\x00\xff\xfe{", 4), {"config is not valid JSON: "}},
    {"InvalidUtf8OutsideStrings",
     "{\"Network\":\"10.1.0.0/16\"\xff}",
     {"config is not valid JSON: "}},
    {"ByteOrderMark", "\xEF\xBB\xBF{\"Network\":\"10.1.0.0/16\"}", {"byte order mark"}},
    {"DeepNesting",
     std::string(100000, '[') + std::string(100000, ']'),
     {"nested deeper than 100 levels"}},
    {"DeepNestingInBackend", Nested(200), {"nested deeper than 100 levels"}},
    {"DeepUnterminated", std::string(5000, '{'), {"config is not valid JSON"}},
    {"NumberOverflow",
     R"({"Network":"10.1.0.0/16","SubnetLen":1e400})",
     {"config is not valid JSON: "}},
    // Network.
    {"NetworkMissing", "{}", {"Network is missing", "\"Network\":\"10.5.0.0/16\"", "EnableIPv4"}},
    {"NetworkMissingWithOtherFields",
     R"({"SubnetLen":24,"Backend":{"Type":"vxlan"}})",
     {"Network is missing"}},
    {"NetworkNotCidr",
     R"({"Network":"10.244.0.0"})",
     {"Network \"10.244.0.0\" is not a CIDR (expected a.b.c.d/n)"}},
    {"NetworkPrefixTooLong",
     R"({"Network":"10.244.0.0/33"})",
     {"Network \"10.244.0.0/33\" is not a CIDR"}},
    {"NetworkShortAddress", R"({"Network":"10.244.0/16"})", {"is not a CIDR"}},
    {"NetworkIsIpv6", R"({"Network":"fd00::/48"})", {"Network \"fd00::/48\" is not a CIDR"}},
    {"NetworkEmptyString", R"({"Network":""})", {"Network \"\" is not a CIDR"}},
    {"NetworkControlCharQuoted",
     "{\"Network\":\"10.1.0.0/16\\u0001\"}",
     {"Network \"10.1.0.0/16\\x01\" is not a CIDR"}},
    {"NetworkNull",
     R"({"Network":null})",
     {"Network must be a string such as \"10.5.0.0/16\", got null"}},
    {"NetworkNumber", R"({"Network":10})", {"Network must be a string", "got number 10"}},
    {"NetworkObject", R"({"Network":{"IP":"10.1.0.0"}})", {"Network must be a string", "object"}},
    {"WholeSpace", R"({"Network":"0.0.0.0/0"})", {"Network 0.0.0.0/0 is not usable"}},
    {"NetworkSlash29", R"({"Network":"10.1.0.0/29"})", {"Network 10.1.0.0/29 is too small", "/28"}},
    {"NetworkSlash32", R"({"Network":"10.1.0.1/32"})", {"Network 10.1.0.1/32 is too small"}},
    {"BadNetworkEvenWhenIpv4Disabled",  // flannel decodes every field before any rule
     R"({"EnableIPv4":false,"EnableIPv6":true,"IPv6Network":"fd00::/48","Network":"junk"})",
     {"Network \"junk\" is not a CIDR"}},
    // SubnetLen.
    {"SubnetLen31",
     R"({"Network":"10.1.0.0/16","SubnetLen":31})",
     {"SubnetLen 31 is larger than 30"}},
    {"SubnetLen32",
     R"({"Network":"10.1.0.0/16","SubnetLen":32})",
     {"SubnetLen 32 is larger than 30"}},
    {"SubnetLenHuge",
     R"({"Network":"10.1.0.0/16","SubnetLen":300})",
     {"SubnetLen 300 is larger than 30"}},
    {"SubnetLenPrefixPlus1",
     R"({"Network":"10.1.0.0/16","SubnetLen":17})",
     {"SubnetLen 17 is too small for Network 10.1.0.0/16", "at least four subnets", "at least 18"}},
    {"SubnetLenEqualsPrefix",
     R"({"Network":"10.1.0.0/16","SubnetLen":16})",
     {"SubnetLen 16 is too small"}},
    {"SubnetLenShorterThanPrefix",
     R"({"Network":"10.1.0.0/16","SubnetLen":8})",
     {"SubnetLen 8 is too small"}},
    {"Slash29WithSubnetLen30",
     R"({"Network":"10.1.0.0/29","SubnetLen":30})",
     {"SubnetLen 30 is too small for Network 10.1.0.0/29", "/28 or larger"}},
    {"SubnetLenString",
     R"({"Network":"10.1.0.0/16","SubnetLen":"24"})",
     {"SubnetLen must be a non-negative integer, got string \"24\""}},
    {"SubnetLenNegative",
     R"({"Network":"10.1.0.0/16","SubnetLen":-1})",
     {"SubnetLen must be a non-negative integer, got number -1"}},
    {"SubnetLenMinusZero",
     R"({"Network":"10.1.0.0/16","SubnetLen":-0})",
     {"SubnetLen must be a non-negative integer"}},
    {"SubnetLenFloat",
     R"({"Network":"10.1.0.0/16","SubnetLen":24.0})",
     {"SubnetLen must be a non-negative integer"}},
    {"SubnetLenExponent",
     R"({"Network":"10.1.0.0/16","SubnetLen":2e1})",
     {"SubnetLen must be a non-negative integer"}},
    {"SubnetLenBeyondUint64",
     R"({"Network":"10.1.0.0/16","SubnetLen":18446744073709551616})",
     {"SubnetLen must be a non-negative integer"}},
    {"SubnetLenBool",
     R"({"Network":"10.1.0.0/16","SubnetLen":true})",
     {"SubnetLen must be a non-negative integer, got boolean true"}},
    {"EarlierBadSpellingFailsEvenIfALaterOneIsGood",  // Go reports the first bad value
     R"({"Network":"10.1.0.0/16","SubnetLen":"x","subnetlen":24})",
     {"SubnetLen must be a non-negative integer"}},
    // SubnetMin / SubnetMax.
    {"SubnetMinMisaligned",
     R"({"Network":"10.1.0.0/16","SubnetMin":"10.1.0.128"})",
     {"SubnetMin 10.1.0.128 is not aligned to SubnetLen 24", "10.1.0.0"}},
    {"SubnetMaxMisaligned",
     R"({"Network":"10.1.0.0/16","SubnetLen":26,"SubnetMax":"10.1.3.65"})",
     {"SubnetMax 10.1.3.65 is not aligned to SubnetLen 26", "10.1.3.64"}},
    {"SubnetMinOutside",
     R"({"Network":"10.1.0.0/16","SubnetMin":"10.2.1.0"})",
     {"SubnetMin 10.2.1.0 is not inside Network 10.1.0.0/16"}},
    {"SubnetMaxOutside",
     R"({"Network":"10.1.0.0/16","SubnetMax":"10.0.255.0"})",
     {"SubnetMax 10.0.255.0 is not inside Network 10.1.0.0/16"}},
    {"MinGreaterThanMax",
     R"({"Network":"10.1.0.0/16","SubnetMin":"10.1.9.0","SubnetMax":"10.1.5.0"})",
     {"SubnetMin 10.1.9.0 is greater than SubnetMax 10.1.5.0"}},
    {"MaxBelowDefaultMin",
     R"({"Network":"10.1.0.0/16","SubnetMax":"10.1.0.0"})",
     {"SubnetMin 10.1.1.0 is greater than SubnetMax 10.1.0.0"}},
    {"SubnetMinNotAnAddress",
     R"({"Network":"10.1.0.0/16","SubnetMin":"10.1.1"})",
     {"SubnetMin \"10.1.1\" is not an IPv4 address"}},
    {"SubnetMinIsCidr",
     R"({"Network":"10.1.0.0/16","SubnetMin":"10.1.1.0/24"})",
     {"SubnetMin \"10.1.1.0/24\" is not an IPv4 address"}},
    {"SubnetMaxIpv6",
     R"({"Network":"10.1.0.0/16","SubnetMax":"fd00::"})",
     {"SubnetMax \"fd00::\" is not an IPv4 address"}},
    {"SubnetMinNull",
     R"({"Network":"10.1.0.0/16","SubnetMin":null})",
     {"SubnetMin must be a string", "got null"}},
    {"SubnetMinNumber",
     R"({"Network":"10.1.0.0/16","SubnetMin":167837952})",
     {"SubnetMin must be a string", "got number"}},
    // Address families.
    {"EnableIPv4String",
     R"({"Network":"10.1.0.0/16","EnableIPv4":"true"})",
     {"EnableIPv4 must be true or false, got string \"true\""}},
    {"EnableIPv6Number",
     R"({"Network":"10.1.0.0/16","EnableIPv6":1})",
     {"EnableIPv6 must be true or false, got number 1"}},
    {"EnableNFTablesString",
     R"({"Network":"10.1.0.0/16","EnableNFTables":"yes"})",
     {"EnableNFTables must be true or false"}},
    {"BothFamiliesDisabled",
     R"({"EnableIPv4":false,"Network":"10.1.0.0/16"})",
     {"EnableIPv4 and EnableIPv6 are both false"}},
    {"Ipv6NetworkMissing",
     R"({"Network":"10.1.0.0/16","EnableIPv6":true})",
     {"IPv6Network is missing", "fd00:10:5::/48"}},
    {"Ipv6NetworkNoPrefix",
     R"({"EnableIPv4":false,"EnableIPv6":true,"IPv6Network":"fd00::"})",
     {"IPv6Network \"fd00::\" is not a CIDR"}},
    {"Ipv6NetworkIsIpv4",
     R"({"EnableIPv4":false,"EnableIPv6":true,"IPv6Network":"10.0.0.0/8"})",
     {"IPv6Network \"10.0.0.0/8\" is not a CIDR"}},
    {"Ipv6NetworkNumber",
     R"({"EnableIPv4":false,"EnableIPv6":true,"IPv6Network":6})",
     {"IPv6Network must be a string", "got number 6"}},
    {"Ipv6WholeSpace",
     R"({"EnableIPv4":false,"EnableIPv6":true,"IPv6Network":"::/0"})",
     {"IPv6Network ::/0 is not usable"}},
    {"Ipv6Slash125",
     R"({"EnableIPv4":false,"EnableIPv6":true,"IPv6Network":"fd00::/125"})",
     {"IPv6Network fd00::/125 is too small", "/124"}},
    {"Ipv6SubnetLen127",
     R"({"EnableIPv4":false,"EnableIPv6":true,"IPv6Network":"fd00::/48","IPv6SubnetLen":127})",
     {"IPv6SubnetLen 127 is larger than 126"}},
    {"Ipv6SubnetLenPrefixPlus1",
     R"({"EnableIPv4":false,"EnableIPv6":true,"IPv6Network":"fd00::/48","IPv6SubnetLen":49})",
     {"IPv6SubnetLen 49 is too small for IPv6Network fd00::/48", "at least four subnets",
      "at least 50"}},
    {"Ipv6SubnetLenString",
     R"({"EnableIPv4":false,"EnableIPv6":true,"IPv6Network":"fd00::/48","IPv6SubnetLen":"64"})",
     {"IPv6SubnetLen must be a non-negative integer"}},
    {"Ipv6SubnetMinMisaligned",
     R"({"EnableIPv4":false,"EnableIPv6":true,"IPv6Network":"fd00::/48","IPv6SubnetMin":"fd00:0:0:1::1"})",
     {"IPv6SubnetMin fd00:0:0:1::1 is not aligned to IPv6SubnetLen 64", "fd00:0:0:1::"}},
    {"Ipv6SubnetMaxOutside",
     R"({"EnableIPv4":false,"EnableIPv6":true,"IPv6Network":"fd00::/48","IPv6SubnetMax":"fd01::"})",
     {"IPv6SubnetMax fd01:: is not inside IPv6Network fd00::/48"}},
    {"Ipv6MinGreaterThanMax",
     R"({"EnableIPv4":false,"EnableIPv6":true,"IPv6Network":"fd00::/48","IPv6SubnetMin":"fd00:0:0:9::","IPv6SubnetMax":"fd00:0:0:5::"})",
     {"IPv6SubnetMin fd00:0:0:9:: is greater than IPv6SubnetMax fd00:0:0:5::"}},
    {"Ipv6SubnetMinNotAnAddress",
     R"({"EnableIPv4":false,"EnableIPv6":true,"IPv6Network":"fd00::/48","IPv6SubnetMin":"xyz"})",
     {"IPv6SubnetMin \"xyz\" is not an IPv6 address"}},
    {"Ipv6SubnetMaxNumber",
     R"({"EnableIPv4":false,"EnableIPv6":true,"IPv6Network":"fd00::/48","IPv6SubnetMax":5})",
     {"IPv6SubnetMax must be a string", "got number 5"}},
    {"DualStackBadIpv6Half",
     R"({"EnableIPv6":true,"Network":"10.1.0.0/16","IPv6Network":"fd00::/126"})",
     {"IPv6Network fd00::/126 is too small"}},
    // Backend.
    {"BackendString",
     R"({"Network":"10.1.0.0/16","Backend":"vxlan"})",
     {"Backend must be a JSON object such as {\"Type\":\"vxlan\"}, got string \"vxlan\""}},
    {"BackendArray",
     R"({"Network":"10.1.0.0/16","Backend":[{"Type":"vxlan"}]})",
     {"Backend must be a JSON object", "got array"}},
    {"BackendNumber",
     R"({"Network":"10.1.0.0/16","Backend":5})",
     {"Backend must be a JSON object", "got number 5"}},
    {"BackendTypeNumber",
     R"({"Network":"10.1.0.0/16","Backend":{"Type":5}})",
     {"Backend.Type must be a string such as \"vxlan\", got number 5"}},
    {"BackendTypeBoolLowercaseKey",
     R"({"Network":"10.1.0.0/16","Backend":{"type":true}})",
     {"Backend.Type must be a string", "got boolean true"}},
    {"LongValueShortened",
     R"({"Network":"10.1.0.0/16","Backend":")" + std::string(60, 'a') + R"("})",
     {"got string \"" + std::string(36, 'a') + "..."}},
};

INSTANTIATE_TEST_SUITE_P(Configs, ParseInvalid, testing::ValuesIn(kInvalid),
                         [](const auto& info) { return std::string(info.param.name); });

// The agent retries a bad config every few seconds and logs why: what the message quotes from
// the config is cut, whatever its size.
TEST(NetworkConfigTest, ErrorsQuoteAtMostAFewHundredBytesOfTheConfig) {
  const std::string huge(1 << 20, '9');
  const std::string cases[] = {
      R"({"Network":")" + huge + R"("})",  // a value quoted in the message
      R"({"Network":"10.1.0.0/16","SubnetMin":")" + huge + R"("})",  // another field
      R"({"Network":")" + huge,  // unterminated: the parser's own text
      R"({"Network":"10.1.0.0/16","Backend":)" + huge + "x}",  // a bad token after a long number
  };
  for (const std::string& text : cases) {
    auto c = NetworkConfig::Parse(text);
    ASSERT_FALSE(c.ok());
    EXPECT_LT(c.error().message.size(), 600u) << c.error().message.substr(0, 600);
  }
  auto c = NetworkConfig::Parse(cases[0]);
  EXPECT_EQ(c.error().message, "Network \"" + std::string(200, '9') +
                                   "\"...(1048576 bytes) is not a CIDR (expected a.b.c.d/n)");
}

TEST(NetworkConfigTest, TartanRefusesWhatItCannotRunYet) {
  EXPECT_TRUE(
      CheckTartanSupports(
          NetworkConfig::Parse(R"({"Network":"10.1.0.0/16","EnableNFTables":false})").value())
          .ok());
  const Status nft = CheckTartanSupports(
      NetworkConfig::Parse(R"({"Network":"10.1.0.0/16","EnableNFTables":true})").value());
  ASSERT_FALSE(nft.ok());
  EXPECT_EQ(nft.error().code, Error::Code::kFailedPrecondition);
  EXPECT_NE(nft.error().message.find("EnableNFTables is true"), std::string::npos);
  const Status v6 = CheckTartanSupports(
      NetworkConfig::Parse(
          R"({"Network":"10.1.0.0/16","EnableIPv6":true,"IPv6Network":"fd00::/48"})")
          .value());
  ASSERT_FALSE(v6.ok());
  EXPECT_NE(v6.error().message.find("IPv4 only"), std::string::npos);
}

TEST(NetworkConfigTest, KeepsWholeBackendObject) {
  auto c = NetworkConfig::Parse(
      R"({"Network":"10.1.0.0/16","Backend":{"Type":"VXLAN","VNI":4,"DirectRouting":true}})");
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->backend, nlohmann::json::parse(R"({"Type":"VXLAN","VNI":4,"DirectRouting":true})"));
  ASSERT_NE(c->BackendField("vni"), nullptr);
  EXPECT_EQ(*c->BackendField("vni"), 4);
  ASSERT_NE(c->BackendField("directrouting"), nullptr);
  EXPECT_EQ(*c->BackendField("DIRECTROUTING"), true);
  EXPECT_EQ(c->BackendField("Port"), nullptr);
}

TEST(NetworkConfigTest, MissingBackendIsEmptyObject) {
  for (const char* text :
       {R"({"Network":"10.1.0.0/16"})", R"({"Network":"10.1.0.0/16","Backend":null})"}) {
    auto c = NetworkConfig::Parse(text);
    ASSERT_TRUE(c.ok()) << c.error().message;
    EXPECT_EQ(c->backend, nlohmann::json::object()) << text;
    EXPECT_EQ(c->BackendField("Type"), nullptr) << text;
  }
}

TEST(NetworkConfigTest, BackendKeepsOnlyTheSpellingGoWouldUse) {
  struct Case {
    const char* json;
    int vni;
    const char* kept_key;
  };
  for (const Case& tc : {Case{R"({"Network":"10.1.0.0/16","Backend":{"vni":1,"VNI":2}})", 2, "VNI"},
                         Case{R"({"Network":"10.1.0.0/16","Backend":{"VNI":2,"vni":1}})", 1, "vni"},
                         Case{R"({"Network":"10.1.0.0/16","Backend":{"Vni":3}})", 3, "Vni"}}) {
    auto c = NetworkConfig::Parse(tc.json);
    ASSERT_TRUE(c.ok()) << c.error().message;
    ASSERT_NE(c->BackendField("VNI"), nullptr) << tc.json;
    EXPECT_EQ(*c->BackendField("VNI"), tc.vni) << tc.json;
    EXPECT_EQ(c->backend.size(), 1u) << tc.json;
    EXPECT_TRUE(c->backend.contains(tc.kept_key)) << tc.json;
  }
}

TEST(NetworkConfigTest, Ipv4FieldsUnsetWhenIpv4Disabled) {
  auto c = NetworkConfig::Parse(
      R"({"EnableIPv4":false,"EnableIPv6":true,"IPv6Network":"fd00::/48","Network":"10.1.0.0/16"})");
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_FALSE(c->network.has_value());
  EXPECT_EQ(c->subnet_len, 0);
  EXPECT_EQ(c->subnet_min, Ip4());
  EXPECT_EQ(c->subnet_max, Ip4());
}

TEST(JsonNameMatchesTest, FoldsLikeGo) {
  struct Case {
    std::string key;
    const char* field;
    bool match;
  };
  const Case cases[] = {
      {"Network", "Network", true},
      {"network", "Network", true},
      {"NETWORK", "Network", true},
      {"nEtWoRk", "Network", true},
      {"Network ", "Network", false},
      {"Networks", "Network", false},
      {"Net_work", "Network", false},
      {"Bac\xE2\x84\xAA"
       "end",
       "Backend", true},
      {"Enable\xC5\xBF", "Enables", true},
      {"\xC4\xB0pv6", "IPv6", false},  // U+0130 is not folded onto 'i' (Go < 1.21 agrees)
      {"", "Network", false},
  };
  for (const Case& tc : cases) {
    EXPECT_EQ(JsonNameMatches(tc.key, tc.field), tc.match) << tc.key << " vs " << tc.field;
  }
}

struct FitsCase {
  const char* subnet;
  bool fits;
};

TEST(FitsTest, Ipv4DefaultRange) {
  auto c = NetworkConfig::Parse(R"({"Network":"10.1.0.0/16"})");
  ASSERT_TRUE(c.ok()) << c.error().message;
  const FitsCase cases[] = {
      {"10.1.1.0/24", true},    {"10.1.255.0/24", true},
      {"10.1.77.0/24", true},   {"10.1.0.0/24", false},  // the first subnet is never handed out
      {"10.1.1.0/25", false},                            // wrong length
      {"10.1.0.0/23", false},                            // wrong length
      {"10.1.1.1/24", false},                            // host bits set
      {"10.2.1.0/24", false},                            // outside Network
      {"10.0.255.0/24", false},                          // just below
  };
  for (const auto& tc : cases) EXPECT_EQ(c->Fits(N4(tc.subnet)), tc.fits) << tc.subnet;
  EXPECT_FALSE(c->Fits(N6("fd00:0:0:1::/64"))) << "IPv6 is disabled";
}

TEST(FitsTest, Ipv4ExplicitRange) {
  auto c = NetworkConfig::Parse(
      R"({"Network":"10.1.0.0/16","SubnetMin":"10.1.10.0","SubnetMax":"10.1.20.0"})");
  ASSERT_TRUE(c.ok()) << c.error().message;
  const FitsCase cases[] = {{"10.1.9.0/24", false},
                            {"10.1.10.0/24", true},
                            {"10.1.15.0/24", true},
                            {"10.1.20.0/24", true},
                            {"10.1.21.0/24", false}};
  for (const auto& tc : cases) EXPECT_EQ(c->Fits(N4(tc.subnet)), tc.fits) << tc.subnet;
}

TEST(FitsTest, Ipv6DualStack) {
  auto c = NetworkConfig::Parse(
      R"({"EnableIPv6":true,"Network":"10.12.0.0/16","IPv6Network":"fd00:12::/56"})");
  ASSERT_TRUE(c.ok()) << c.error().message;
  const FitsCase cases[] = {
      {"fd00:12:0:1::/64", true},    {"fd00:12:0:ff::/64", true},  {"fd00:12::/64", false},
      {"fd00:12:0:100::/64", false}, {"fd00:12:0:1::1/64", false}, {"fd00:12:0:1::/65", false},
      {"fd00:13:0:1::/64", false},
  };
  for (const auto& tc : cases) EXPECT_EQ(c->Fits(N6(tc.subnet)), tc.fits) << tc.subnet;
  EXPECT_TRUE(c->Fits(N4("10.12.5.0/24")));
}

TEST(FitsTest, DisabledFamilyNeverFits) {
  auto v6only = NetworkConfig::Parse(
      R"({"EnableIPv4":false,"EnableIPv6":true,"IPv6Network":"fd00::/48","Network":"10.1.0.0/16"})");
  ASSERT_TRUE(v6only.ok()) << v6only.error().message;
  EXPECT_FALSE(v6only->Fits(N4("10.1.1.0/24")));
  EXPECT_TRUE(v6only->Fits(N6("fd00:0:0:1::/64")));

  NetworkConfig empty;
  EXPECT_FALSE(empty.Fits(N4("10.1.1.0/24")));
  EXPECT_FALSE(empty.Fits(N6("fd00:0:0:1::/64")));
}

// Over every Network size flannel accepts without SubnetLen, the derived range holds exactly
// the subnets from the second to the last.
TEST(DerivedRangeTest, Ipv4EveryPrefix) {
  for (int prefix = 1; prefix <= 28; ++prefix) {
    std::string net = Ip4Net(Ip4(10, 0, 0, 0), static_cast<uint8_t>(prefix)).Network().ToString();
    auto c = NetworkConfig::Parse(R"({"Network":")" + net + R"("})");
    ASSERT_TRUE(c.ok()) << net << ": " << c.error().message;
    const uint8_t want_len = prefix <= 22 ? 24 : static_cast<uint8_t>(prefix + 2);
    EXPECT_EQ(c->subnet_len, want_len) << net;
    const Ip4Net first(c->network->ip(), want_len);
    EXPECT_EQ(c->subnet_min, first.Next().ip()) << net;
    EXPECT_EQ(c->subnet_max.value() + (uint64_t{1} << (32 - want_len)) - 1,
              c->network->Last().value())
        << net;
    EXPECT_FALSE(c->Fits(first)) << net;
    EXPECT_TRUE(c->Fits(Ip4Net(c->subnet_min, want_len))) << net;
    EXPECT_TRUE(c->Fits(Ip4Net(c->subnet_max, want_len))) << net;
  }
}

TEST(DerivedRangeTest, Ipv6EveryPrefix) {
  for (int prefix = 8; prefix <= 124; ++prefix) {
    std::string net = Ip6Net(*Ip6::Parse("fd00::"), static_cast<uint8_t>(prefix)).ToString();
    auto c = NetworkConfig::Parse(R"({"EnableIPv4":false,"EnableIPv6":true,"IPv6Network":")" + net +
                                  R"("})");
    ASSERT_TRUE(c.ok()) << net << ": " << c.error().message;
    const uint8_t want_len = prefix <= 62 ? 64 : static_cast<uint8_t>(prefix + 2);
    EXPECT_EQ(c->ipv6_subnet_len, want_len) << net;
    const Ip6Net first(c->ipv6_network->ip(), want_len);
    EXPECT_EQ(c->ipv6_subnet_min, first.Next().ip()) << net;
    // The subnet after the last one is the first one past the network.
    EXPECT_FALSE(c->ipv6_network->Contains(Ip6Net(c->ipv6_subnet_max, want_len).Next().ip()))
        << net;
    EXPECT_TRUE(c->ipv6_network->Contains(c->ipv6_subnet_max)) << net;
    EXPECT_FALSE(c->Fits(first)) << net;
    EXPECT_TRUE(c->Fits(Ip6Net(c->ipv6_subnet_min, want_len))) << net;
    EXPECT_TRUE(c->Fits(Ip6Net(c->ipv6_subnet_max, want_len))) << net;
  }
}

}  // namespace
}  // namespace tartan::model
