#include "model/lease_filter.hpp"

#include <gtest/gtest.h>

#include "model/allocator.hpp"

namespace tartan::model {
namespace {

SubnetKey Key(const char* segment) {
  auto k = SubnetKey::Parse(segment);
  EXPECT_TRUE(k.ok()) << segment;
  return k.ok() ? *k : SubnetKey{};
}

NetworkConfig Config(const char* json) {
  auto c = NetworkConfig::Parse(json);
  EXPECT_TRUE(c.ok()) << json;
  return c.ok() ? *c : NetworkConfig{};
}

const char kNet16[] = R"({"Network":"10.244.0.0/16","Backend":{"Type":"host-gw"}})";
const char kDual[] = R"({"Network":"10.244.0.0/16","EnableIPv6":true,"IPv6Network":"fd00:10::/48",)"
                     R"("Backend":{"Type":"vxlan"}})";

Lease L(const char* segment, int64_t etcd_lease = 7) {
  Lease l;
  l.subnet = Key(segment);
  l.attrs.public_ip = net::Ip4(192, 0, 2, 12);
  l.etcd_lease_id = etcd_lease;
  return l;
}

TEST(LeaseSubnetProblem, OnlySubnetsOfTheNetworkWithSubnetLenAreLeases) {
  const NetworkConfig c = Config(kNet16);
  struct Case {
    const char* key;
    const char* problem;  // nullptr: a valid lease
  } cases[] = {
      {"10.244.5.0-24", nullptr},
      {"10.244.0.0-24", nullptr},    // below SubnetMin: an operator may reserve it
      {"10.244.255.0-24", nullptr},  // the last one
      {"0.0.0.0-0", "0.0.0.0/0 is not inside the Network 10.244.0.0/16"},
      {"192.0.2.0-24", "192.0.2.0/24 is not inside the Network 10.244.0.0/16"},
      {"10.245.1.0-24", "10.245.1.0/24 is not inside the Network 10.244.0.0/16"},
      {"10.0.0.0-8", "10.0.0.0/8 is not inside the Network 10.244.0.0/16"},
      {"10.244.0.0-16", "10.244.0.0/16 is a /16, not a /24 (SubnetLen)"},
      {"10.244.8.0-22", "10.244.8.0/22 is a /22, not a /24 (SubnetLen)"},
      {"10.244.9.128-25", "10.244.9.128/25 is a /25, not a /24 (SubnetLen)"},
      {"10.244.9.7-32", "10.244.9.7/32 is a /32, not a /24 (SubnetLen)"},
  };
  for (const Case& k : cases) {
    auto p = LeaseSubnetProblem(c, Key(k.key));
    if (k.problem == nullptr) {
      EXPECT_FALSE(p.has_value()) << k.key << ": " << p.value_or("");
    } else {
      EXPECT_EQ(p.value_or("<valid>"), k.problem) << k.key;
    }
  }
}

TEST(LeaseSubnetProblem, DualStackNeedsBothFamiliesInside) {
  const NetworkConfig c = Config(kDual);
  EXPECT_FALSE(LeaseSubnetProblem(c, Key("10.244.5.0-24&fd00:10:0:5::-64")));
  EXPECT_EQ(LeaseSubnetProblem(c, Key("10.244.5.0-24")).value_or(""),
            "it has no IPv6 subnet, and EnableIPv6 is set");
  EXPECT_EQ(LeaseSubnetProblem(c, Key("10.244.5.0-24&fd00:99::-64")).value_or(""),
            "fd00:99::/64 is not inside the IPv6Network fd00:10::/48");
  EXPECT_EQ(LeaseSubnetProblem(c, Key("10.244.5.0-24&fd00:10::-48")).value_or(""),
            "fd00:10::/48 is a /48, not a /64 (IPv6SubnetLen)");
  EXPECT_EQ(LeaseSubnetProblem(c, Key("0.0.0.0-0&fd00:10:0:5::-64")).value_or(""),
            "0.0.0.0/0 is not inside the Network 10.244.0.0/16");
  // IPv4-only: an IPv6 part is not routed and not checked.
  EXPECT_FALSE(LeaseSubnetProblem(Config(kNet16), Key("10.244.5.0-24&fd00:99::-64")));
}

TEST(HeldSubnet, InvalidKeysHoldNothingButASmallReservationHoldsItsSubnet) {
  const NetworkConfig c = Config(kNet16);
  auto held = [&](const char* key, bool reservation) -> std::string {
    auto h = HeldSubnet(c, Key(key), reservation);
    return h ? h->ToString() : "-";
  };
  EXPECT_EQ(held("10.244.5.0-24", false), "10.244.5.0-24");
  EXPECT_EQ(held("10.244.5.0-24", true), "10.244.5.0-24");
  for (bool reservation : {false, true}) {
    EXPECT_EQ(held("0.0.0.0-0", reservation), "-");
    EXPECT_EQ(held("192.0.2.0-24", reservation), "-");
    EXPECT_EQ(held("10.244.0.0-16", reservation), "-") << "would take every subnet";
    EXPECT_EQ(held("10.244.8.0-22", reservation), "-") << "would take four subnets";
  }
  EXPECT_EQ(held("10.244.9.128-25", false), "-");
  EXPECT_EQ(held("10.244.9.128-25", true), "10.244.9.0-24");
  EXPECT_EQ(held("10.244.9.7-32", true), "10.244.9.0-24");
}

TEST(HeldSubnet, DualStackReservationHoldsPerFamily) {
  const NetworkConfig c = Config(kDual);
  auto h = HeldSubnet(c, Key("10.244.9.128-25&fd00:10:0:9::-80"), true);
  ASSERT_TRUE(h);
  EXPECT_EQ(h->ToString(), "10.244.9.0-24&fd00:10:0:9::-64");
  h = HeldSubnet(c, Key("10.99.9.0-24&fd00:10:0:9::-80"), true);
  ASSERT_TRUE(h);
  EXPECT_EQ(h->ipv4.prefix_len(), 0) << "IPv4 part outside: holds no IPv4 space";
  EXPECT_EQ(h->ipv6->ToString(), "fd00:10:0:9::/64");
  h = HeldSubnet(c, Key("10.244.9.0-24"), true);
  ASSERT_TRUE(h);
  EXPECT_FALSE(h->ipv6) << "no IPv6 part: holds no IPv6 space";
}

// The defect this guards against: one key covering the network made every allocation fail.
TEST(HeldSubnet, HostileKeysNeverExhaustAllocation) {
  const NetworkConfig c = Config(R"({"Network":"10.244.0.0/22","Backend":{"Type":"host-gw"}})");
  std::vector<SubnetKey> taken;
  for (const char* k : {"0.0.0.0-0", "10.244.0.0-16", "10.244.0.0-22", "10.244.0.0-23",
                        "192.0.2.0-24", "10.244.2.0-24"}) {
    for (bool reservation : {false, true}) {
      if (auto h = HeldSubnet(c, Key(k), reservation)) taken.push_back(*h);
    }
  }
  auto r = AllocateSubnet(c, taken, [](uint64_t) { return 0; });
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->ToString(), "10.244.1.0-24");
  std::vector<SubnetKey> naive;
  for (const char* k : {"0.0.0.0-0", "10.244.0.0-16"}) naive.push_back(Key(k));
  EXPECT_FALSE(AllocateSubnet(c, naive, [](uint64_t) { return 0; }).ok())
      << "the unfiltered keys would have exhausted the network";
}

TEST(FilterLeases, SkipsInvalidKeysWithAStableLine) {
  const NetworkConfig c = Config(kNet16);
  std::vector<Lease> in = {L("10.244.5.0-24"), L("0.0.0.0-0"), L("10.244.6.0-24"),
                           L("10.244.9.128-25", 0), L("10.244.0.0-16")};
  FilteredLeases f = FilterLeases(c, in);
  ASSERT_EQ(f.valid.size(), 2u);
  EXPECT_EQ(f.valid[0].subnet.ToString(), "10.244.5.0-24");
  EXPECT_EQ(f.valid[1].subnet.ToString(), "10.244.6.0-24");
  EXPECT_EQ(f.skipped, (std::vector<std::string>{
                           "lease key 0.0.0.0-0 skipped: 0.0.0.0/0 is not inside the Network "
                           "10.244.0.0/16; not routed, it holds no address space",
                           "lease key 10.244.9.128-25 skipped: 10.244.9.128/25 is a /25, not a "
                           "/24 (SubnetLen); not routed, as a reservation it keeps "
                           "10.244.9.0/24 from allocation",
                           "lease key 10.244.0.0-16 skipped: 10.244.0.0/16 is a /16, not a /24 "
                           "(SubnetLen); not routed, it holds no address space",
                       }));
  // The value (address, backend data) is not part of the line: a re-written bad key is the
  // same anomaly, not a new one.
  in[1].attrs.public_ip = net::Ip4(192, 0, 2, 99);
  EXPECT_EQ(FilterLeases(c, in).skipped, f.skipped);
}

}  // namespace
}  // namespace tartan::model
