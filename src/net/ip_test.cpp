#include "net/ip.hpp"

#include <gtest/gtest.h>

#include <set>
#include <unordered_set>

namespace tartan::net {
namespace {

struct TextCase {
  const char* in;
  const char* out;  // nullptr: must not parse
};

TEST(Ip4, ParseAndFormat) {
  const TextCase cases[] = {
      {"0.0.0.0", "0.0.0.0"},
      {"10.244.1.0", "10.244.1.0"},
      {"255.255.255.255", "255.255.255.255"},
      {"192.168.64.3", "192.168.64.3"},
      {"", nullptr},
      {"1.2.3", nullptr},
      {"1.2.3.4.5", nullptr},
      {"256.1.1.1", nullptr},
      {"01.2.3.4", nullptr},
      {"1.2.3.4 ", nullptr},
      {" 1.2.3.4", nullptr},
      {"1..3.4", nullptr},
      {"-1.2.3.4", nullptr},
      {"+1.2.3.4", nullptr},
      {"a.b.c.d", nullptr},
      {"1.2.3.4/24", nullptr},
      {"1.2.3.", nullptr},
      {"1234.1.1.1", nullptr},
  };
  for (const auto& c : cases) {
    auto r = Ip4::Parse(c.in);
    if (c.out == nullptr) {
      EXPECT_FALSE(r.ok()) << c.in;
      if (!r.ok()) {
        EXPECT_EQ(r.error().code, Error::Code::kInvalidArgument);
        EXPECT_NE(r.error().message.find("invalid IPv4 address"), std::string::npos);
      }
    } else {
      ASSERT_TRUE(r.ok()) << c.in;
      EXPECT_EQ(r->ToString(), c.out);
    }
  }
}

TEST(Ip4, ToStringOfEveryOctetValue) {
  for (uint32_t v = 0; v < 256; ++v) {
    const Ip4 ip((v << 24) | ((255 - v) << 16) | (v * 7 % 256) << 8 | v);
    const std::string want = std::to_string(v) + "." + std::to_string(255 - v) + "." +
                             std::to_string(v * 7 % 256) + "." + std::to_string(v);
    EXPECT_EQ(ip.ToString(), want);
  }
  EXPECT_EQ(Ip4(0xffffffffu).ToString(), "255.255.255.255");
  EXPECT_EQ(Ip4(0).ToString(), "0.0.0.0");
}

TEST(Ip4, ByteOrderAndComparison) {
  Ip4 a(10, 1, 2, 3);
  EXPECT_EQ(a.value(), 0x0a010203u);
  EXPECT_EQ(Ip4::FromNetworkOrder(a.network_order()), a);
  EXPECT_EQ(a.bytes(), (std::array<uint8_t, 4>{10, 1, 2, 3}));
  EXPECT_LT(Ip4(10, 1, 2, 3), Ip4(10, 1, 2, 4));
  EXPECT_LT(Ip4(9, 255, 255, 255), Ip4(10, 0, 0, 0));
  std::unordered_set<Ip4> set{a, a, Ip4(1, 1, 1, 1)};
  EXPECT_EQ(set.size(), 2u);
}

TEST(Ip4, ErrorQuotesUnprintableInput) {
  auto r = Ip4::Parse(std::string_view("1.2.3.\x01", 7));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("\\x01"), std::string::npos) << r.error().message;
}

TEST(Ip6, ParseAndFormatLikeGo) {
  const TextCase cases[] = {
      {"::", "::"},
      {"::1", "::1"},
      {"fd00:12:13::", "fd00:12:13::"},
      {"FD00:0012:0013:0000:0000:0000:0000:0000", "fd00:12:13::"},
      {"2001:db8::1", "2001:db8::1"},
      {"2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"},     // first of two equal runs
      {"2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"},  // a single zero group stays
      {"2001:0:0:1:0:0:0:1", "2001:0:0:1::1"},           // the longer run wins
      {"1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8"},
      {"::ffff:10.1.2.3", "10.1.2.3"},  // Go prints v4-mapped as v4
      {"::102:304", "::102:304"},       // not v4-mapped: hex, unlike glibc
      {"64:ff9b::192.0.2.33", "64:ff9b::c000:221"},
      {"fe80::", "fe80::"},
      {"1::", "1::"},
      {"", nullptr},
      {":", nullptr},
      {":::", nullptr},
      {"1:2:3:4:5:6:7:8:9", nullptr},
      {"1:2:3:4:5:6:7", nullptr},
      {"1::2::3", nullptr},
      {"12345::", nullptr},
      {"g::", nullptr},
      {":1::", nullptr},
      {"1:", nullptr},
      {"1::2:", nullptr},
      {"::1.2.3", nullptr},
      {"1:2:3:4:5:6:7:1.2.3.4", nullptr},
      {"10.1.2.3", nullptr},
  };
  for (const auto& c : cases) {
    auto r = Ip6::Parse(c.in);
    if (c.out == nullptr) {
      EXPECT_FALSE(r.ok()) << c.in << " parsed as " << (r.ok() ? r->ToString() : "");
    } else {
      ASSERT_TRUE(r.ok()) << c.in << ": " << r.error().message;
      EXPECT_EQ(r->ToString(), c.out) << c.in;
    }
  }
}

TEST(Ip4Net, ParseFormatAndCanonicalForm) {
  auto n = Ip4Net::Parse("10.244.1.1/24");
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(n->ToString(), "10.244.1.1/24");
  EXPECT_FALSE(n->IsCanonical());
  EXPECT_EQ(n->Network().ToString(), "10.244.1.0/24");
  EXPECT_TRUE(n->Network().IsCanonical());
  EXPECT_EQ(n->Last().ToString(), "10.244.1.255");
  EXPECT_EQ(n->Size(), 256u);

  for (const char* bad : {"10.244.0.0", "10.244.0.0/33", "10.244.0.0/", "/16", "10.244.0.0/-1",
                          "10.244.0.0/016", "10.244.0.0/16/1", "10.244.0/16"}) {
    auto r = Ip4Net::Parse(bad);
    EXPECT_FALSE(r.ok()) << bad;
  }
  EXPECT_EQ(Ip4Net::Parse("0.0.0.0/0")->mask(), 0u);
  EXPECT_EQ(Ip4Net::Parse("1.2.3.4/32")->mask(), 0xffffffffu);
}

TEST(Ip4Net, ContainmentAndOverlap) {
  auto net = *Ip4Net::Parse("10.244.0.0/16");
  struct Case {
    const char* other;
    bool contains;
    bool overlaps;
  } cases[] = {
      {"10.244.5.0/24", true, true},     {"10.244.0.0/16", true, true},
      {"10.0.0.0/8", false, true},       {"10.245.0.0/24", false, false},
      {"10.243.255.0/24", false, false}, {"0.0.0.0/0", false, true},
  };
  for (const auto& c : cases) {
    auto other = *Ip4Net::Parse(c.other);
    EXPECT_EQ(net.Contains(other), c.contains) << c.other;
    EXPECT_EQ(net.Overlaps(other), c.overlaps) << c.other;
    EXPECT_EQ(other.Overlaps(net), c.overlaps) << c.other;
  }
  EXPECT_TRUE(net.Contains(Ip4(10, 244, 255, 255)));
  EXPECT_FALSE(net.Contains(Ip4(10, 245, 0, 0)));
}

TEST(Ip4Net, IterationVisitsEverySubnetOnce) {
  auto net = *Ip4Net::Parse("10.244.0.0/16");
  Ip4Net s(net.ip(), 24);
  std::set<Ip4Net> seen;
  while (net.Contains(s)) {
    EXPECT_TRUE(s.IsCanonical());
    EXPECT_TRUE(seen.insert(s).second);
    s = s.Next();
  }
  EXPECT_EQ(seen.size(), 256u);
  EXPECT_EQ(s.ToString(), "10.245.0.0/24");
  // The end of the address space wraps instead of overflowing.
  EXPECT_EQ(Ip4Net::Parse("255.255.255.0/24")->Next().ToString(), "0.0.0.0/24");
  // Next() of a non-canonical network starts from its network address.
  EXPECT_EQ(Ip4Net::Parse("10.1.1.7/24")->Next().ToString(), "10.1.2.0/24");
}

TEST(Ip6Net, ParseContainIterate) {
  auto net = Ip6Net::Parse("fd00:12::/48");
  ASSERT_TRUE(net.ok());
  auto sub = *Ip6Net::Parse("fd00:12:0:5::/64");
  EXPECT_TRUE(net->Contains(sub));
  EXPECT_FALSE(sub.Contains(*net));
  EXPECT_TRUE(sub.Overlaps(*net));
  EXPECT_FALSE(net->Contains(*Ip6Net::Parse("fd00:13::/64")));
  EXPECT_EQ(sub.Next().ToString(), "fd00:12:0:6::/64");
  EXPECT_EQ(Ip6Net::Parse("fd00:12:13::/56")->Next().ToString(), "fd00:12:13:100::/56");
  EXPECT_EQ(Ip6Net::Parse("fd00:0:0:ffff::/64")->Next().ToString(), "fd00:0:1::/64");
  auto odd = *Ip6Net::Parse("fd00:12:13::1/61");
  EXPECT_FALSE(odd.IsCanonical());
  EXPECT_EQ(odd.Network().ToString(), "fd00:12:13::/61");
  EXPECT_EQ(Ip6Net::Parse("fd00:12:13:7::/61")->Network().ToString(), "fd00:12:13::/61");
  for (const char* bad : {"fd00::", "fd00::/129", "fd00::/x", "zz::/64", "10.0.0.0/8"}) {
    EXPECT_FALSE(Ip6Net::Parse(bad).ok()) << bad;
  }
}

TEST(Mac, ParseFormatGenerate) {
  auto m = Mac::Parse("C6:D2:32:6F:8F:44");
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->ToString(), "c6:d2:32:6f:8f:44");
  EXPECT_EQ(Mac::Parse("c6-d2-32-6f-8f-44")->ToString(), "c6:d2:32:6f:8f:44");
  for (const char* bad : {"", "c6:d2:32:6f:8f", "c6:d2:32:6f:8f:44:00", "c6:d2:32:6f:8f:4g",
                          "c6:d2-32:6f:8f:44", "c6d2.326f.8f44", "c6:d2:32:6f:8f:44 "}) {
    EXPECT_FALSE(Mac::Parse(bad).ok()) << bad;
  }
  EXPECT_TRUE(Mac().IsZero());
  for (uint64_t bits : {uint64_t{0}, ~uint64_t{0}, uint64_t{0x0123456789ab}}) {
    Mac g = Mac::LocallyAdministered(bits);
    EXPECT_EQ(g.bytes()[0] & 0x01, 0) << "multicast bit set";
    EXPECT_EQ(g.bytes()[0] & 0x02, 0x02) << "local bit clear";
  }
}

TEST(Result, ValueAndError) {
  Result<int> ok = 5;
  EXPECT_TRUE(ok.ok());
  EXPECT_EQ(*ok, 5);
  Result<int> bad = Error::NotFound("no such key");
  EXPECT_FALSE(bad.ok());
  EXPECT_EQ(bad.value_or(7), 7);
  EXPECT_EQ(bad.error().Context("reading config").message, "reading config: no such key");
  Status s = Error::Unavailable("etcd down");
  EXPECT_FALSE(s.ok());
  EXPECT_TRUE(Status::Ok().ok());
}

}  // namespace
}  // namespace tartan::net
