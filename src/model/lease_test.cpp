#include "model/lease.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace tartan::model {
namespace {

net::Ip4Net V4(const char* s) { return *net::Ip4Net::Parse(s); }
net::Ip6Net V6(const char* s) { return *net::Ip6Net::Parse(s); }

// ---- SubnetKey -----------------------------------------------------------------------------

TEST(SubnetKeyTest, ParsesIpv4Key) {
  auto key = SubnetKey::Parse("10.5.52.0-24");
  ASSERT_TRUE(key.ok()) << key.error().message;
  EXPECT_EQ(key->ipv4, V4("10.5.52.0/24"));
  EXPECT_FALSE(key->ipv6.has_value());
  EXPECT_EQ(key->ToString(), "10.5.52.0-24");
}

TEST(SubnetKeyTest, ParsesDualStackKey) {
  auto key = SubnetKey::Parse("10.12.13.0-24&fd00:12:13::-56");
  ASSERT_TRUE(key.ok()) << key.error().message;
  EXPECT_EQ(key->ipv4, V4("10.12.13.0/24"));
  ASSERT_TRUE(key->ipv6.has_value());
  EXPECT_EQ(*key->ipv6, V6("fd00:12:13::/56"));
  EXPECT_EQ(key->ToString(), "10.12.13.0-24&fd00:12:13::-56");
}

TEST(SubnetKeyTest, ToStringWritesCompressedLowercaseIpv6) {
  struct Case {
    const char* in;
    const char* out;
  };
  for (const Case& c : std::vector<Case>{
           // Uncompressed but valid in flannel's pattern: reads, and writes back compressed.
           {"10.1.0.0-16&fd00:0:0:0:0:0:0:0-64", "10.1.0.0-16&fd00::-64"},
           {"10.1.0.0-16&fd00:00ab:0000::-48", "10.1.0.0-16&fd00:ab::-48"},
           {"0.0.0.0-0&fd00::-64", "0.0.0.0-0&fd00::-64"},
           {"255.255.255.252-30", "255.255.255.252-30"},
           {"10.0.0.0-8&::-0", "10.0.0.0-8&::-0"},
       }) {
    auto key = SubnetKey::Parse(c.in);
    ASSERT_TRUE(key.ok()) << c.in << ": " << key.error().message;
    EXPECT_EQ(key->ToString(), c.out) << c.in;
  }
  SubnetKey built{V4("10.12.13.0/24"), V6("fd00:0012:0013:0000::/56")};
  EXPECT_EQ(built.ToString(), "10.12.13.0-24&fd00:12:13::-56");
}

TEST(SubnetKeyTest, RejectsEverythingElse) {
  for (const char* bad : {
           "",
           "10.5.52.1-24",                      // host bits set
           "10.5.52.0-33",                      // prefix too long
           "10.5.52.0-024",                     // leading zero
           "10.5.52.0-",                        // missing prefix
           "10.5.52.0",                         // missing dash
           "-24",                               // missing address
           "10.5.52-24",                        // three octets
           "10.5.52.0-24x",                     // trailing garbage
           "x10.5.52.0-24",                     // leading garbage
           "10.5.52.0-24 ",                     // trailing space
           " 10.5.52.0-24",                     // leading space
           "10.5.52.0 -24",                     // inner space
           "10.5.52.0/24",                      // slash instead of dash
           "010.5.52.0-24",                     // leading zero octet
           "10.5.52.0--24",                     // sign
           "10.5.52.0-+24",                     // sign
           "10.5.52.0-24&",                     // empty IPv6 part
           "10.5.52.0-24&fd00::",               // IPv6 without prefix
           "10.5.52.0-24&fd00::-129",           // IPv6 prefix too long
           "10.5.52.0-24&fd00::1-64",           // IPv6 host bits set
           "10.5.52.0-24&FD00::-64",            // upper case is outside flannel's pattern
           "10.5.52.0-24&fd00::-64&fd01::-64",  // two IPv6 parts
           "10.5.52.0-24&fd00::-64x",           // trailing garbage
           "10.5.52.0-24&::ffff:0:0-96",        // IPv4-mapped (Go would print it dotted)
           "10.5.52.0-24&::ffff:1.2.3.0-120",   // dots are outside the pattern
           "10.5.52.0-24&fd00:::-64",           // bad IPv6
           "&fd00::-64",                        // missing IPv4 part
       }) {
    auto key = SubnetKey::Parse(bad);
    EXPECT_FALSE(key.ok()) << "accepted \"" << bad << "\" as " << key->ToString();
    if (!key.ok()) {
      EXPECT_EQ(key.error().code, Error::Code::kInvalidArgument) << bad;
    }
  }
  EXPECT_FALSE(SubnetKey::Parse(std::string_view("10.5.52.0-24\0", 13)).ok());
}

TEST(SubnetKeyTest, ErrorNamesTheKey) {
  auto key = SubnetKey::Parse("10.5.52.1-24");
  ASSERT_FALSE(key.ok());
  EXPECT_NE(key.error().message.find("10.5.52.1-24"), std::string::npos) << key.error().message;
}

TEST(SubnetKeyTest, OrdersAndCompares) {
  auto a = *SubnetKey::Parse("10.5.1.0-24");
  auto b = *SubnetKey::Parse("10.5.2.0-24");
  auto a6 = *SubnetKey::Parse("10.5.1.0-24&fd00::-64");
  EXPECT_LT(a, b);
  EXPECT_NE(a, a6);
  EXPECT_EQ(a, *SubnetKey::Parse("10.5.1.0-24"));
}

// ---- LeaseAttrs::Parse ---------------------------------------------------------------------

TEST(LeaseAttrsParseTest, ReadsEveryEraShape) {
  struct Case {
    const char* json;
    std::optional<net::Ip4> public_ip;
    std::optional<net::Ip6> public_ipv6;
    const char* backend_type;
    const char* backend_data;
    const char* backend_v6_data;
  };
  const net::Ip4 ip1(192, 0, 2, 1);
  const std::vector<Case> cases = {
      // flanneld v0.11.0 host-gw, vxlan and udp, as observed.
      {R"({"PublicIP":"192.0.2.1","BackendType":"host-gw"})", ip1, {}, "host-gw", "", ""},
      {R"({"PublicIP":"192.0.2.1","BackendType":"vxlan","BackendData":{"VtepMAC":"66:90:db:29:5b:c3"}})",
       ip1,
       {},
       "vxlan",
       R"({"VtepMAC":"66:90:db:29:5b:c3"})",
       ""},
      {R"({"PublicIP":"192.0.2.1"})", ip1, {}, "", "", ""},
      // Current flannel.
      {R"({"PublicIP":"192.168.64.3","PublicIPv6":null,"BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"c6:d2:32:6f:8f:44"}})",
       net::Ip4(192, 168, 64, 3),
       {},
       "vxlan",
       R"({"VNI":1,"VtepMAC":"c6:d2:32:6f:8f:44"})",
       ""},
      // Dual-stack vxlan.
      {R"({"PublicIP":"10.0.0.1","PublicIPv6":"FD00::0001","BackendType":"vxlan","BackendData":{"VNI":1},"BackendV6Data":{"VNI":1,"VtepMAC":"aa:bb:cc:dd:ee:ff"}})",
       net::Ip4(10, 0, 0, 1), *net::Ip6::Parse("fd00::1"), "vxlan", R"({"VNI":1})",
       R"({"VNI":1,"VtepMAC":"aa:bb:cc:dd:ee:ff"})"},
      // Field names are matched case-insensitively; unknown ones are ignored.
      {R"({"publicip":"192.0.2.1","BACKENDTYPE":"udp","Extra":[1,{"a":2}],"backenddata":null})",
       ip1,
       {},
       "udp",
       "",
       ""},
      // Whitespace anywhere; BackendData compacted but key order and number spelling kept.
      {" \n{ \"PublicIP\" : \"192.0.2.1\" ,\t\"BackendData\" : { \"z\" : 1.50 , \"a\" : [ 1e2 , "
       "\"x y\" ] } }\n",
       ip1,
       {},
       "",
       R"({"z":1.50,"a":[1e2,"x y"]})",
       ""},
      // Missing PublicIP, and flannel's zero value for it, both mean "no public IP".
      {R"({"BackendType":"host-gw"})", {}, {}, "host-gw", "", ""},
      {R"({"PublicIP":"0.0.0.0"})", {}, {}, "", "", ""},
      // null counts as absent for PublicIPv6, BackendType and the data fields.
      {R"({"PublicIP":"192.0.2.1","PublicIPv6":null,"BackendType":null,"BackendData":null,"BackendV6Data":null})",
       ip1,
       {},
       "",
       "",
       ""},
      // Duplicates: the last one wins, as in Go.
      {R"({"PublicIP":"192.0.2.9","publicIP":"192.0.2.1","BackendType":"a","BackendType":"b"})",
       ip1,
       {},
       "b",
       "",
       ""},
      // Non-object BackendData is kept verbatim too.
      {R"({"PublicIP":"192.0.2.1","BackendData":"str","BackendV6Data":[ ]})",
       ip1,
       {},
       "",
       R"("str")",
       "[]"},
      // Escapes in names and values are decoded.
      {R"({"Public\u0049P":"192.0.2.1","BackendType":"v\u0078lan"})", ip1, {}, "vxlan", "", ""},
      {"{}", {}, {}, "", "", ""},
  };
  for (const Case& c : cases) {
    auto attrs = LeaseAttrs::Parse(c.json);
    ASSERT_TRUE(attrs.ok()) << c.json << ": " << attrs.error().message;
    EXPECT_EQ(attrs->public_ip, c.public_ip) << c.json;
    EXPECT_EQ(attrs->public_ipv6, c.public_ipv6) << c.json;
    EXPECT_EQ(attrs->backend_type, c.backend_type) << c.json;
    EXPECT_EQ(attrs->backend_data, c.backend_data) << c.json;
    EXPECT_EQ(attrs->backend_v6_data, c.backend_v6_data) << c.json;
  }
}

TEST(LeaseAttrsParseTest, RejectsGarbage) {
  std::string deep_array(100000, '[');
  std::string deep_in_data = R"({"PublicIP":"192.0.2.1","BackendData":)" + std::string(65, '[') +
                             std::string(65, ']') + "}";
  std::vector<std::string> bad = {
      "",
      "   ",
      "null",
      "[]",
      "\"PublicIP\"",
      "42",
      "{",
      R"({"PublicIP":"192.0.2.1")",
      R"({"PublicIP":"192.0.2.1"}})",
      R"({"PublicIP":"192.0.2.1"} x)",
      R"({"PublicIP":"192.0.2.1",})",
      R"({PublicIP:"192.0.2.1"})",
      R"({'PublicIP':'192.0.2.1'})",
      R"({"PublicIP":"192.0.2.1" /* c */})",
      R"({"PublicIP":"192.0.2.256"})",
      R"({"PublicIP":"192.0.2"})",
      R"({"PublicIP":" 192.0.2.1"})",
      R"({"PublicIP":"fd00::1"})",
      R"({"PublicIP":3221225985})",
      R"({"PublicIP":null})",
      R"({"PublicIP":["192.0.2.1"]})",
      R"({"PublicIP":"192.0.2.1","PublicIPv6":"192.0.2.1"})",
      R"({"PublicIP":"192.0.2.1","PublicIPv6":"::ffff:192.0.2.1"})",
      R"({"PublicIP":"192.0.2.1","PublicIPv6":"fd00::zz"})",
      R"({"PublicIP":"192.0.2.1","PublicIPv6":1})",
      R"({"PublicIP":"192.0.2.1","PublicIPv6":{}})",
      R"({"PublicIP":"192.0.2.1","BackendType":1})",
      R"({"PublicIP":"192.0.2.1","BackendType":true})",
      R"({"PublicIP":"192.0.2.1","BackendType":{"x":1}})",
      R"({"PublicIP":"192.0.2.1","BackendData":{"VNI":1})",
      R"({"PublicIP":"192.0.2.1","BackendData":{"VNI":01}})",
      "{\"PublicIP\":\"192.0.2.1\",\"BackendType\":\"\xff\"}",  // invalid UTF-8
      "{\"PublicIP\":\"192.0.2.1\",\"BackendType\":\"a\nb\"}",  // raw control character
      R"({"PublicIP":"192.0.2.1","BackendType":"\ud800"})",     // lone surrogate
      deep_array,
      deep_in_data,
  };
  for (const std::string& json : bad) {
    auto attrs = LeaseAttrs::Parse(json);
    EXPECT_FALSE(attrs.ok()) << "accepted: " << json.substr(0, 120);
    if (!attrs.ok()) {
      EXPECT_EQ(attrs.error().code, Error::Code::kInvalidArgument);
      EXPECT_FALSE(attrs.error().message.empty());
    }
  }
}

TEST(LeaseAttrsParseTest, AcceptsNestingUpToTheLimit) {
  std::string json = R"({"PublicIP":"192.0.2.1","BackendData":)" + std::string(63, '[') +
                     std::string(63, ']') + "}";
  auto attrs = LeaseAttrs::Parse(json);
  ASSERT_TRUE(attrs.ok()) << attrs.error().message;
  EXPECT_EQ(attrs->backend_data.size(), 126u);
}

TEST(LeaseAttrsParseTest, ErrorsNameTheField) {
  auto attrs = LeaseAttrs::Parse(R"({"PublicIP":"192.0.2.1","BackendType":7})");
  ASSERT_FALSE(attrs.ok());
  EXPECT_NE(attrs.error().message.find("BackendType"), std::string::npos) << attrs.error().message;
  attrs = LeaseAttrs::Parse(R"({"PublicIP":"1.2.3"})");
  ASSERT_FALSE(attrs.ok());
  EXPECT_NE(attrs.error().message.find("PublicIP"), std::string::npos) << attrs.error().message;
}

// ---- LeaseAttrs::ToJson --------------------------------------------------------------------

// Attributes and the exact bytes they are written as.
struct ToJsonCase {
  const char* name;
  LeaseAttrs attrs;
  const char* json;
};

TEST(LeaseAttrsToJsonTest, WritesFlannelsBytes) {
  const auto ip = net::Ip4(10, 4, 7, 21);
  const std::vector<ToJsonCase> cases = {
      {"host-gw",
       {ip, {}, "host-gw", "", ""},
       R"({"PublicIP":"10.4.7.21","PublicIPv6":null,"BackendType":"host-gw"})"},
      {"udp", {ip, {}, "", "", ""}, R"({"PublicIP":"10.4.7.21","PublicIPv6":null})"},
      {"vxlan",
       {net::Ip4(192, 168, 64, 3), {}, "vxlan", R"({"VNI":1,"VtepMAC":"c6:d2:32:6f:8f:44"})", ""},
       R"({"PublicIP":"192.168.64.3","PublicIPv6":null,"BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"c6:d2:32:6f:8f:44"}})"},
      {"dual-stack vxlan",
       {ip, *net::Ip6::Parse("FD00:0:0::0A"), "vxlan", R"({"VNI":1,"VtepMAC":"aa:bb:cc:dd:ee:01"})",
        R"({"VNI":1,"VtepMAC":"aa:bb:cc:dd:ee:02"})"},
       R"({"PublicIP":"10.4.7.21","PublicIPv6":"fd00::a","BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"aa:bb:cc:dd:ee:01"},"BackendV6Data":{"VNI":1,"VtepMAC":"aa:bb:cc:dd:ee:02"}})"},
      {"no public IP",
       {{}, {}, "host-gw", "", ""},
       R"({"PublicIP":"0.0.0.0","PublicIPv6":null,"BackendType":"host-gw"})"},
      {"data without type",
       {ip, {}, "", R"({"x":1})", ""},
       R"({"PublicIP":"10.4.7.21","PublicIPv6":null,"BackendData":{"x":1}})"},
      {"pretty data is compacted",
       {ip, {}, "vxlan", "{ \"VNI\" : 1 }", ""},
       R"({"PublicIP":"10.4.7.21","PublicIPv6":null,"BackendType":"vxlan","BackendData":{"VNI":1}})"},
      // Go's encoder escapes HTML-significant characters and control characters.
      {"escaped type",
       {ip, {}, "a<b>&\"\\\n\x01", "", ""},
       R"({"PublicIP":"10.4.7.21","PublicIPv6":null,"BackendType":"a\u003cb\u003e\u0026\"\\\n\u0001"})"},
      {"escaped data",
       {ip, {}, "", R"({"k":"<&>"})", ""},
       R"({"PublicIP":"10.4.7.21","PublicIPv6":null,"BackendData":{"k":"\u003c\u0026\u003e"}})"},
      {"line separators",
       {ip, {}, "a\u2028b\u2029", "", ""},
       R"({"PublicIP":"10.4.7.21","PublicIPv6":null,"BackendType":"a\u2028b\u2029"})"},
      {"invalid UTF-8 becomes U+FFFD",
       {ip, {}, "a\xff", "", ""},
       R"({"PublicIP":"10.4.7.21","PublicIPv6":null,"BackendType":"a\ufffd"})"},
      {"UTF-8 kept",
       {ip, {}, "h\xc3\xa9", "", ""},
       "{\"PublicIP\":\"10.4.7.21\",\"PublicIPv6\":null,\"BackendType\":\"h\xc3\xa9\"}"},
  };
  for (const ToJsonCase& c : cases) EXPECT_EQ(c.attrs.ToJson(), c.json) << c.name;
}

TEST(LeaseAttrsToJsonTest, RoundTripsTheCurrentShapeByteForByte) {
  for (
      const char* json : {
          R"({"PublicIP":"192.168.64.3","PublicIPv6":null,"BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"c6:d2:32:6f:8f:44"}})",
          R"({"PublicIP":"10.4.7.21","PublicIPv6":null,"BackendType":"host-gw"})",
          R"({"PublicIP":"10.4.7.21","PublicIPv6":null})",
          R"({"PublicIP":"10.4.7.21","PublicIPv6":"fd00::a","BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"aa:bb:cc:dd:ee:01"},"BackendV6Data":{"VNI":1,"VtepMAC":"aa:bb:cc:dd:ee:02"}})",
      }) {
    auto attrs = LeaseAttrs::Parse(json);
    ASSERT_TRUE(attrs.ok()) << attrs.error().message;
    EXPECT_EQ(attrs->ToJson(), json);
  }
}

TEST(LeaseAttrsToJsonTest, UpgradesV011ShapesToTheCurrentOne) {
  struct Case {
    const char* v011;
    const char* current;
  };
  for (
      const Case& c : std::vector<Case>{
          {R"({"PublicIP":"192.0.2.1","BackendType":"host-gw"})",
           R"({"PublicIP":"192.0.2.1","PublicIPv6":null,"BackendType":"host-gw"})"},
          {R"({"PublicIP":"192.0.2.1","BackendType":"vxlan","BackendData":{"VtepMAC":"66:90:db:29:5b:c3"}})",
           R"({"PublicIP":"192.0.2.1","PublicIPv6":null,"BackendType":"vxlan","BackendData":{"VtepMAC":"66:90:db:29:5b:c3"}})"},
          {R"({"PublicIP":"192.0.2.1"})", R"({"PublicIP":"192.0.2.1","PublicIPv6":null})"},
      }) {
    auto attrs = LeaseAttrs::Parse(c.v011);
    ASSERT_TRUE(attrs.ok()) << attrs.error().message;
    EXPECT_EQ(attrs->ToJson(), c.current);
    auto again = LeaseAttrs::Parse(attrs->ToJson());
    ASSERT_TRUE(again.ok());
    EXPECT_EQ(*again, *attrs);
  }
}

TEST(LeaseAttrsToJsonTest, WritesFlannelV011sShape) {
  const auto ip = net::Ip4(192, 0, 2, 1);
  // The values flanneld v0.11.0 was observed writing (flannel-compat.md section 3).
  const std::vector<ToJsonCase> cases = {
      {"host-gw",
       {ip, {}, "host-gw", "", ""},
       R"({"PublicIP":"192.0.2.1","BackendType":"host-gw"})"},
      {"vxlan keeps only VtepMAC",
       {ip, {}, "vxlan", R"({"VNI":1,"VtepMAC":"66:90:db:29:5b:c3"})", ""},
       R"({"PublicIP":"192.0.2.1","BackendType":"vxlan","BackendData":{"VtepMAC":"66:90:db:29:5b:c3"}})"},
      {"udp", {ip, {}, "", "", ""}, R"({"PublicIP":"192.0.2.1"})"},
      {"vxlan data with odd spacing and case, last VtepMAC wins",
       {ip,
        {},
        "vxlan",
        R"({ "vtepmac" : "aa:aa:aa:aa:aa:aa", "VNI":4096, "VtepMAC":"66:90:db:29:5b:c3" })",
        ""},
       R"({"PublicIP":"192.0.2.1","BackendType":"vxlan","BackendData":{"VtepMAC":"66:90:db:29:5b:c3"}})"},
      {"vxlan data without a MAC is kept whole",
       {ip, {}, "vxlan", R"({"VNI":1})", ""},
       R"({"PublicIP":"192.0.2.1","BackendType":"vxlan","BackendData":{"VNI":1}})"},
      {"other backends' data is kept",
       {ip, {}, "ipip", R"({"VNI":1,"x":2})", ""},
       R"({"PublicIP":"192.0.2.1","BackendType":"ipip","BackendData":{"VNI":1,"x":2}})"},
      {"a dual-stack tartan peer keeps its IPv6 fields",
       {ip, *net::Ip6::Parse("fd00::a"), "vxlan", R"({"VNI":1,"VtepMAC":"aa:bb:cc:dd:ee:01"})",
        R"({"VNI":1,"VtepMAC":"aa:bb:cc:dd:ee:02"})"},
       R"({"PublicIP":"192.0.2.1","PublicIPv6":"fd00::a","BackendType":"vxlan","BackendData":{"VtepMAC":"aa:bb:cc:dd:ee:01"},"BackendV6Data":{"VNI":1,"VtepMAC":"aa:bb:cc:dd:ee:02"}})"},
  };
  for (const ToJsonCase& c : cases) {
    EXPECT_EQ(c.attrs.ToJson(LeaseShape::kV011), c.json) << c.name;
  }
}

TEST(LeaseAttrsToJsonTest, V011ShapeRoundTripsAndComparesByShape) {
  for (
      const char* json : {
          R"({"PublicIP":"192.0.2.1","BackendType":"vxlan","BackendData":{"VtepMAC":"66:90:db:29:5b:c3"}})",
          R"({"PublicIP":"192.0.2.1","BackendType":"host-gw"})",
          R"({"PublicIP":"192.0.2.1"})",
      }) {
    auto attrs = LeaseAttrs::Parse(json);
    ASSERT_TRUE(attrs.ok()) << attrs.error().message;
    EXPECT_EQ(attrs->ToJson(LeaseShape::kV011), json);
  }
  // What a vxlan backend asks for and what a v0.11-shaped key holds differ as values but are
  // the same lease in that shape: a reservation is not rewritten over it.
  auto stored = LeaseAttrs::Parse(
      R"({"PublicIP":"192.0.2.1","BackendType":"vxlan","BackendData":{"VtepMAC":"66:90:db:29:5b:c3"}})");
  ASSERT_TRUE(stored.ok());
  LeaseAttrs wanted{
      net::Ip4(192, 0, 2, 1), {}, "vxlan", R"({"VNI":1,"VtepMAC":"66:90:db:29:5b:c3"})", ""};
  EXPECT_NE(*stored, wanted);
  EXPECT_EQ(stored->ToJson(LeaseShape::kV011), wanted.ToJson(LeaseShape::kV011));
  EXPECT_NE(stored->ToJson(LeaseShape::kCurrent), wanted.ToJson(LeaseShape::kCurrent));
}

TEST(LeaseTest, ReservationIsALeaseWithoutEtcdLease) {
  Lease lease;
  lease.subnet = *SubnetKey::Parse("10.5.52.0-24");
  EXPECT_TRUE(lease.is_reservation());
  lease.etcd_lease_id = 0x1234;
  EXPECT_FALSE(lease.is_reservation());
}

}  // namespace
}  // namespace tartan::model
