#include "model/allocator.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <random>
#include <string>
#include <vector>

namespace tartan::model {
namespace {

net::Ip4 Ip(const char* s) { return *net::Ip4::Parse(s); }
net::Ip6 Ip6(const char* s) { return *net::Ip6::Parse(s); }
net::Ip4Net V4(const char* s) { return *net::Ip4Net::Parse(s); }
net::Ip6Net V6(const char* s) { return *net::Ip6Net::Parse(s); }
SubnetKey Key(const char* v4) { return SubnetKey{V4(v4), std::nullopt}; }
SubnetKey Key(const char* v4, const char* v6) { return SubnetKey{V4(v4), V6(v6)}; }

// Built field by field: NetworkConfig::Parse is tested on its own.
NetworkConfig V4Config(const char* network, uint8_t len, const char* min, const char* max) {
  NetworkConfig c;
  c.network = V4(network);
  c.subnet_len = len;
  c.subnet_min = Ip(min);
  c.subnet_max = Ip(max);
  c.backend_type = "vxlan";
  return c;
}

NetworkConfig DualConfig() {
  NetworkConfig c = V4Config("10.5.0.0/16", 24, "10.5.1.0", "10.5.255.0");
  c.enable_ipv6 = true;
  c.ipv6_network = V6("fd00::/48");
  c.ipv6_subnet_len = 64;
  c.ipv6_subnet_min = Ip6("fd00:0:0:1::");
  c.ipv6_subnet_max = Ip6("fd00:0:0:ffff::");
  return c;
}

// Always picks `index`, recording the candidate counts it was asked about.
struct FixedPick {
  std::vector<uint64_t>* asked;
  uint64_t index;
  uint64_t operator()(uint64_t n) const {
    asked->push_back(n);
    return index;
  }
};

// Every IPv4 candidate the allocator would choose from, in order.
std::vector<net::Ip4Net> Candidates(const NetworkConfig& config,
                                    const std::vector<SubnetKey>& taken) {
  std::vector<uint64_t> asked;
  auto first = AllocateSubnet(config, taken, FixedPick{&asked, 0});
  if (!first.ok()) return {};
  std::vector<net::Ip4Net> out = {first->ipv4};
  for (uint64_t i = 1; i < asked.at(0); ++i) {
    std::vector<uint64_t> ignored;
    auto r = AllocateSubnet(config, taken, FixedPick{&ignored, i});
    EXPECT_TRUE(r.ok());
    out.push_back(r->ipv4);
  }
  return out;
}

// flannel's algorithm, written as plainly as possible, as the reference.
std::vector<net::Ip4Net> NaiveCandidates(const NetworkConfig& config,
                                         const std::vector<SubnetKey>& taken) {
  std::vector<net::Ip4Net> out;
  const uint64_t size = uint64_t{1} << (32 - config.subnet_len);
  for (uint64_t a = config.subnet_min.value(); a <= config.subnet_max.value() && out.size() < 100;
       a += size) {
    net::Ip4Net sn(net::Ip4(static_cast<uint32_t>(a)), config.subnet_len);
    bool free = true;
    for (const SubnetKey& k : taken) free = free && !k.ipv4.Overlaps(sn);
    if (free) out.push_back(sn);
  }
  return out;
}

TEST(AllocatorTest, PicksTheCandidateTheRandomIndexNames) {
  const NetworkConfig config = V4Config("10.5.0.0/16", 24, "10.5.1.0", "10.5.255.0");
  struct Case {
    uint64_t index;
    const char* want;
  };
  for (const Case& c : std::vector<Case>{
           {0, "10.5.1.0/24"}, {1, "10.5.2.0/24"}, {41, "10.5.42.0/24"}, {99, "10.5.100.0/24"}}) {
    std::vector<uint64_t> asked;
    auto key = AllocateSubnet(config, {}, FixedPick{&asked, c.index});
    ASSERT_TRUE(key.ok()) << key.error().message;
    EXPECT_EQ(key->ipv4, V4(c.want));
    EXPECT_FALSE(key->ipv6.has_value());
    EXPECT_EQ(asked, std::vector<uint64_t>{100}) << "one draw among the 100-candidate window";
  }
}

TEST(AllocatorTest, SkipsSubnetsOverlappingTakenOnes) {
  const NetworkConfig config = V4Config("10.5.0.0/16", 24, "10.5.1.0", "10.5.255.0");
  struct Case {
    const char* name;
    std::vector<SubnetKey> taken;
    const char* first;
  };
  for (const Case& c : std::vector<Case>{
           {"equal", {Key("10.5.1.0/24")}, "10.5.2.0/24"},
           {"bigger taken subnet", {Key("10.5.0.0/20")}, "10.5.16.0/24"},
           {"smaller taken subnet", {Key("10.5.1.128/25")}, "10.5.2.0/24"},
           {"tiny taken subnets", {Key("10.5.1.7/32"), Key("10.5.2.255/32")}, "10.5.3.0/24"},
           {"reservation over two subnets",
            {Key("10.5.0.0/23"), Key("10.5.2.0/24")},
            "10.5.3.0/24"},
           {"unordered",
            {Key("10.5.3.0/24"), Key("10.5.1.0/24"), Key("10.5.2.0/24")},
            "10.5.4.0/24"},
           {"outside the network", {Key("192.168.0.0/16")}, "10.5.1.0/24"},
           {"dual-stack keys", {Key("10.5.1.0/24", "fd00::/64")}, "10.5.2.0/24"},
       }) {
    auto candidates = Candidates(config, c.taken);
    ASSERT_FALSE(candidates.empty()) << c.name;
    EXPECT_EQ(candidates.front(), V4(c.first)) << c.name;
    EXPECT_EQ(candidates.size(), 100u) << c.name;
    for (const auto& sn : candidates) {
      for (const auto& t : c.taken)
        EXPECT_FALSE(t.ipv4.Overlaps(sn)) << c.name << " " << sn.ToString();
    }
    EXPECT_EQ(candidates, NaiveCandidates(config, c.taken)) << c.name;
  }
}

TEST(AllocatorTest, ReservationInTheMiddleIsNeverHandedOut) {
  const NetworkConfig config = V4Config("10.5.0.0/16", 24, "10.5.1.0", "10.5.10.0");
  // 10.5.4.0/22 pins 10.5.4.0-10.5.7.255 to some host.
  const std::vector<SubnetKey> taken = {Key("10.5.4.0/22"), Key("10.5.9.0/24")};
  auto candidates = Candidates(config, taken);
  std::vector<net::Ip4Net> want = {V4("10.5.1.0/24"), V4("10.5.2.0/24"), V4("10.5.3.0/24"),
                                   V4("10.5.8.0/24"), V4("10.5.10.0/24")};
  EXPECT_EQ(candidates, want);
}

TEST(AllocatorTest, WindowHoldsTheFirstHundredFreeSubnets) {
  const NetworkConfig config = V4Config("10.5.0.0/16", 24, "10.5.1.0", "10.5.255.0");
  std::vector<SubnetKey> taken = {Key("10.5.50.0/24"), Key("10.5.60.0/23")};
  auto candidates = Candidates(config, taken);
  ASSERT_EQ(candidates.size(), 100u);
  EXPECT_EQ(candidates.front(), V4("10.5.1.0/24"));
  EXPECT_EQ(candidates.back(), V4("10.5.103.0/24"));  // three skipped below it
  EXPECT_EQ(candidates, NaiveCandidates(config, taken));
}

TEST(AllocatorTest, ExactlyFullIsOutOfSubnets) {
  const NetworkConfig config = V4Config("10.5.0.0/16", 24, "10.5.1.0", "10.5.3.0");
  std::vector<SubnetKey> taken = {Key("10.5.1.0/24"), Key("10.5.2.0/24")};
  std::vector<uint64_t> asked;
  auto last = AllocateSubnet(config, taken, FixedPick{&asked, 0});
  ASSERT_TRUE(last.ok()) << last.error().message;
  EXPECT_EQ(last->ipv4, V4("10.5.3.0/24"));
  EXPECT_EQ(asked, std::vector<uint64_t>{1});

  taken.push_back(Key("10.5.3.0/24"));
  asked.clear();
  auto none = AllocateSubnet(config, taken, FixedPick{&asked, 0});
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.error().code, Error::Code::kExhausted);
  const std::string& msg = none.error().message;
  EXPECT_NE(msg.find("out of subnets"), std::string::npos) << msg;
  EXPECT_NE(msg.find("10.5.1.0"), std::string::npos) << msg;
  EXPECT_NE(msg.find("10.5.3.0"), std::string::npos) << msg;
  EXPECT_TRUE(asked.empty()) << "no draw when nothing is free";
}

TEST(AllocatorTest, MinAboveMaxIsOutOfSubnets) {
  const NetworkConfig config = V4Config("10.5.0.0/16", 24, "10.5.9.0", "10.5.3.0");
  std::vector<uint64_t> asked;
  auto r = AllocateSubnet(config, {}, FixedPick{&asked, 0});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Error::Code::kExhausted);
}

TEST(AllocatorTest, StopsAtTheEndOfTheAddressSpace) {
  struct Case {
    const char* name;
    NetworkConfig config;
    std::vector<SubnetKey> taken;
    std::vector<net::Ip4Net> want;  // empty: out of subnets
  };
  const NetworkConfig top16 = V4Config("255.255.0.0/16", 24, "255.255.1.0", "255.255.255.0");
  const NetworkConfig top24 = V4Config("255.255.255.0/24", 30, "255.255.255.4", "255.255.255.252");
  const NetworkConfig all = V4Config("0.0.0.0/0", 1, "128.0.0.0", "128.0.0.0");
  const NetworkConfig whole = V4Config("0.0.0.0/0", 0, "0.0.0.0", "0.0.0.0");
  const std::vector<Case> cases = {
      {"last /24 free",
       top16,
       {Key("255.255.0.0/17"), Key("255.255.128.0/18"), Key("255.255.192.0/19"),
        Key("255.255.224.0/20"), Key("255.255.240.0/21"), Key("255.255.248.0/22"),
        Key("255.255.252.0/23"), Key("255.255.254.0/24")},
       {V4("255.255.255.0/24")}},
      {"all taken", top16, {Key("255.255.0.0/16")}, {}},
      {"last address taken",
       top16,
       {Key("255.255.0.0/17"), Key("255.255.128.0/18"), Key("255.255.192.0/19"),
        Key("255.255.224.0/20"), Key("255.255.240.0/21"), Key("255.255.248.0/22"),
        Key("255.255.252.0/23"), Key("255.255.254.0/24"), Key("255.255.255.255/32")},
       {}},
      {"/30s up to the last",
       top24,
       {Key("255.255.255.0/25"), Key("255.255.255.128/26"), Key("255.255.255.192/27"),
        Key("255.255.255.224/28"), Key("255.255.255.240/29")},
       {V4("255.255.255.248/30"), V4("255.255.255.252/30")}},
      {"upper half of everything", all, {}, {V4("128.0.0.0/1")}},
      {"the whole space", whole, {}, {V4("0.0.0.0/0")}},
      {"the whole space taken", whole, {Key("1.2.3.4/32")}, {}},
  };
  for (const Case& c : cases) {
    auto got = Candidates(c.config, c.taken);
    EXPECT_EQ(got, c.want) << c.name;
    if (c.want.empty()) {
      std::vector<uint64_t> asked;
      auto r = AllocateSubnet(c.config, c.taken, FixedPick{&asked, 0});
      ASSERT_FALSE(r.ok()) << c.name;
      EXPECT_EQ(r.error().code, Error::Code::kExhausted) << c.name;
    }
  }
}

TEST(AllocatorTest, UnalignedSubnetMinRoundsUp) {
  const NetworkConfig config = V4Config("10.5.0.0/16", 24, "10.5.1.7", "10.5.3.0");
  auto got = Candidates(config, {});
  EXPECT_EQ(got, (std::vector<net::Ip4Net>{V4("10.5.2.0/24"), V4("10.5.3.0/24")}));
}

TEST(AllocatorTest, MatchesTheNaiveScanOnRandomLayouts) {
  std::mt19937 rng(12345);
  for (int round = 0; round < 200; ++round) {
    const uint8_t len = static_cast<uint8_t>(22 + rng() % 7);  // /22 .. /28 in a /20
    NetworkConfig config = V4Config("10.9.0.0/20", len, "10.9.0.0", "10.9.15.255");
    const uint32_t size = 1u << (32 - len);
    config.subnet_min = net::Ip4(Ip("10.9.0.0").value() + size * (rng() % 4));
    config.subnet_max = net::Ip4((Ip("10.9.15.255").value() & ~(size - 1)) - size * (rng() % 4));
    std::vector<SubnetKey> taken;
    const int n = static_cast<int>(rng() % 40);
    for (int i = 0; i < n; ++i) {
      uint8_t tl = static_cast<uint8_t>(20 + rng() % 13);
      net::Ip4Net t(net::Ip4(Ip("10.9.0.0").value() + (rng() % 4096)), tl);
      taken.push_back(SubnetKey{t.Network(), std::nullopt});
    }
    ASSERT_EQ(Candidates(config, taken), NaiveCandidates(config, taken)) << "round " << round;
  }
}

TEST(AllocatorTest, SkipsLargeTakenRangesQuickly) {
  // A /8 of /30s with the first 400000 taken one by one: the scan must not test every
  // candidate against every lease.
  const NetworkConfig config = V4Config("10.0.0.0/8", 30, "10.0.0.4", "10.255.255.252");
  std::vector<SubnetKey> taken;
  for (uint32_t i = 0; i < 400000; ++i) {
    taken.push_back(SubnetKey{net::Ip4Net(net::Ip4(Ip("10.0.0.0").value() + 4 * i), 30), {}});
  }
  const auto start = std::chrono::steady_clock::now();
  std::vector<uint64_t> asked;
  auto r = AllocateSubnet(config, taken, FixedPick{&asked, 0});
  const auto elapsed = std::chrono::steady_clock::now() - start;
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->ipv4, net::Ip4Net(net::Ip4(Ip("10.0.0.0").value() + 4 * 400000), 30));
  EXPECT_EQ(asked, std::vector<uint64_t>{100});
  EXPECT_LT(elapsed, std::chrono::seconds(2));
}

TEST(AllocatorTest, OutOfRangeRandomIndexStillPicksACandidate) {
  const NetworkConfig config = V4Config("10.5.0.0/16", 24, "10.5.1.0", "10.5.3.0");
  std::vector<uint64_t> asked;
  auto r = AllocateSubnet(config, {}, FixedPick{&asked, 1000});
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(V4("10.5.0.0/16").Contains(r->ipv4));
  EXPECT_LE(r->ipv4.ip(), Ip("10.5.3.0"));
}

TEST(AllocatorTest, DualStackDrawsTwiceAndSkipsTakenIpv6) {
  const NetworkConfig config = DualConfig();
  const std::vector<SubnetKey> taken = {Key("10.5.1.0/24", "fd00:0:0:1::/64"),
                                        Key("10.5.2.0/24", "fd00:0:0:2::/63"), Key("10.5.5.0/24")};
  std::vector<uint64_t> asked;
  auto picks = std::vector<uint64_t>{0, 2};
  size_t call = 0;
  auto r = AllocateSubnet(config, taken, [&](uint64_t n) {
    asked.push_back(n);
    return picks.at(call++);
  });
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(asked, (std::vector<uint64_t>{100, 100}));
  EXPECT_EQ(r->ipv4, V4("10.5.3.0/24"));
  ASSERT_TRUE(r->ipv6.has_value());
  // fd00:0:0:1:: and fd00:0:0:2::/63 (2 and 3) are taken: candidates start at 4.
  EXPECT_EQ(*r->ipv6, V6("fd00:0:0:6::/64"));
  EXPECT_EQ(r->ToString(), "10.5.3.0-24&fd00:0:0:6::-64");
}

TEST(AllocatorTest, DualStackIpv6ExhaustedIsOutOfSubnets) {
  NetworkConfig config = DualConfig();
  config.ipv6_subnet_max = Ip6("fd00:0:0:2::");
  const std::vector<SubnetKey> taken = {Key("10.5.1.0/24", "fd00:0:0:1::/64"),
                                        Key("10.5.2.0/24", "fd00:0:0:2::/64")};
  std::vector<uint64_t> asked;
  auto r = AllocateSubnet(config, taken, FixedPick{&asked, 0});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Error::Code::kExhausted);
  EXPECT_NE(r.error().message.find("out of subnets"), std::string::npos);
  EXPECT_NE(r.error().message.find("fd00:0:0:2::"), std::string::npos) << r.error().message;
}

// IPv6-only keys whose prefixes exactly cover [x's /64, x): for every set bit of x below the
// /64, the half below it.
std::vector<SubnetKey> CoverBelow(const net::Ip6& x) {
  std::vector<SubnetKey> out;
  const net::Ip6::Bytes& xb = x.bytes();
  for (int k = 64; k < 128; ++k) {
    if (!(xb[k / 8] & (0x80 >> (k % 8)))) continue;
    net::Ip6::Bytes b = xb;
    for (int j = k; j < 128; ++j) b[j / 8] &= static_cast<uint8_t>(~(0x80 >> (j % 8)));
    out.push_back(SubnetKey{net::Ip4Net(), net::Ip6Net(net::Ip6(b), static_cast<uint8_t>(k + 1))});
  }
  return out;
}

TEST(AllocatorTest, Ipv6StopsAtTheEndOfTheAddressSpace) {
  NetworkConfig config;
  config.enable_ipv4 = false;
  config.enable_ipv6 = true;
  config.ipv6_network = V6("ffff:ffff:ffff:ffff::/64");
  config.ipv6_subnet_len = 126;
  config.ipv6_subnet_min = Ip6("ffff:ffff:ffff:ffff::4");
  config.ipv6_subnet_max = Ip6("ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffc");

  std::vector<uint64_t> asked;
  auto r = AllocateSubnet(config, CoverBelow(Ip6("ffff:ffff:ffff:ffff:ffff:ffff:ffff:e000")),
                          FixedPick{&asked, 99});
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(*r->ipv6, V6("ffff:ffff:ffff:ffff:ffff:ffff:ffff:e18c/126"));
  EXPECT_EQ(asked, std::vector<uint64_t>{100});

  // Only the very last /126 free.
  std::vector<SubnetKey> taken = CoverBelow(Ip6("ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffc"));
  asked.clear();
  r = AllocateSubnet(config, taken, FixedPick{&asked, 0});
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(*r->ipv6, V6("ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffc/126"));
  EXPECT_EQ(asked, std::vector<uint64_t>{1});

  // Then that one too, or the last address alone: out of subnets, no wrap to ::.
  for (const char* last : {"ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffc/126",
                           "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128"}) {
    std::vector<SubnetKey> full = taken;
    full.push_back(SubnetKey{net::Ip4Net(), V6(last)});
    asked.clear();
    auto none = AllocateSubnet(config, full, FixedPick{&asked, 0});
    ASSERT_FALSE(none.ok()) << last;
    EXPECT_EQ(none.error().code, Error::Code::kExhausted);
    EXPECT_TRUE(asked.empty());
  }
}

TEST(AllocatorTest, Ipv6OnlyLeavesTheIpv4PartEmpty) {
  NetworkConfig config = DualConfig();
  config.enable_ipv4 = false;
  config.network.reset();
  // An IPv6-only peer's key carries 0.0.0.0/0; it must not count as taking IPv4 space nor
  // break the IPv6 scan.
  const std::vector<SubnetKey> taken = {Key("0.0.0.0/0", "fd00:0:0:1::/64")};
  std::vector<uint64_t> asked;
  auto r = AllocateSubnet(config, taken, FixedPick{&asked, 0});
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->ipv4, net::Ip4Net());
  EXPECT_EQ(*r->ipv6, V6("fd00:0:0:2::/64"));
  EXPECT_EQ(r->ToString(), "0.0.0.0-0&fd00:0:0:2::-64");
  EXPECT_EQ(asked, std::vector<uint64_t>{100});
}

TEST(AllocatorTest, Ipv6OnlyPeersDoNotBlockIpv4) {
  const NetworkConfig config = DualConfig();
  const std::vector<SubnetKey> taken = {Key("0.0.0.0/0", "fd00:0:0:1::/64")};
  std::vector<uint64_t> asked;
  auto r = AllocateSubnet(config, taken, FixedPick{&asked, 0});
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->ipv4, V4("10.5.1.0/24"));
  EXPECT_EQ(*r->ipv6, V6("fd00:0:0:2::/64"));
}

TEST(AllocatorTest, RejectsUnusableConfigs) {
  std::vector<uint64_t> asked;
  NetworkConfig no_network = V4Config("10.5.0.0/16", 24, "10.5.1.0", "10.5.255.0");
  no_network.network.reset();
  NetworkConfig short_len = V4Config("10.5.0.0/16", 8, "10.5.1.0", "10.5.255.0");
  NetworkConfig nothing = V4Config("10.5.0.0/16", 24, "10.5.1.0", "10.5.255.0");
  nothing.enable_ipv4 = false;
  NetworkConfig no_v6 = DualConfig();
  no_v6.ipv6_network.reset();
  NetworkConfig v6_len0 = DualConfig();
  v6_len0.ipv6_network = V6("::/0");
  v6_len0.ipv6_subnet_len = 0;
  for (const NetworkConfig* c : {&no_network, &short_len, &nothing, &no_v6, &v6_len0}) {
    auto r = AllocateSubnet(*c, {}, FixedPick{&asked, 0});
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, Error::Code::kInvalidArgument) << r.error().message;
  }
  EXPECT_TRUE(asked.empty());
}

}  // namespace
}  // namespace tartan::model
