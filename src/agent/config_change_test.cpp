#include "agent/config_change.hpp"

#include <gtest/gtest.h>

namespace tartan::agent {
namespace {

using Action = ConfigChange::Action;

model::NetworkConfig Config(const std::string& json) {
  auto c = model::NetworkConfig::Parse(json);
  EXPECT_TRUE(c.ok()) << c.error().message;
  return c.ok() ? *c : model::NetworkConfig{};
}

const net::Ip4Net kOwn = net::Ip4Net::Parse("10.244.7.0/24").value();
const std::string kRunning = R"({"Network":"10.244.0.0/16","Backend":{"Type":"host-gw"}})";

ConfigChange Decide(const std::string& stored) {
  return DecideConfigChange(Config(kRunning), Config(stored), kOwn);
}

TEST(DecideConfigChange, NothingTartanUsesChanged) {
  // Formatting, member order, spelling of field names, unknown fields: no line at all.
  for (const std::string& stored :
       {kRunning, std::string(R"({ "backend": {"Type":"host-gw"}, "network": "10.244.0.0/16" })"),
        std::string(R"({"Network":"10.244.0.0/16","Backend":{"Type":"host-gw"},"Comment":"x"})"),
        // SubnetLen 24 and the derived range written out explicitly.
        std::string(R"({"Network":"10.244.0.0/16","SubnetLen":24,"SubnetMin":"10.244.1.0",)"
                    R"("SubnetMax":"10.244.255.0","Backend":{"Type":"host-gw"}})")}) {
    const ConfigChange c = Decide(stored);
    EXPECT_EQ(c.action, Action::kNone) << stored << ": " << c.message;
    EXPECT_EQ(c.message, "");
  }
}

TEST(DecideConfigChange, ANarrowerRangeThatStillHoldsUsIsApplied) {
  const ConfigChange c =
      Decide(R"({"Network":"10.244.0.0/16","SubnetMin":"10.244.5.0","SubnetMax":"10.244.9.0",)"
             R"("Backend":{"Type":"host-gw"}})");
  EXPECT_EQ(c.action, Action::kApply);
  EXPECT_EQ(c.message,
            "network config changed in etcd (SubnetMin 10.244.1.0 -> 10.244.5.0, SubnetMax "
            "10.244.255.0 -> 10.244.9.0): applied; this host's subnet 10.244.7.0/24 is inside the "
            "new range, which governs leases from now on");
}

TEST(DecideConfigChange, ARangeThatExcludesUsKeepsTheSubnetAndSaysARestartWouldMoveIt) {
  const ConfigChange c = Decide(
      R"({"Network":"10.244.0.0/16","SubnetMin":"10.244.100.0","Backend":{"Type":"host-gw"}})");
  EXPECT_EQ(c.action, Action::kRestartNeeded);
  EXPECT_NE(c.message.find("SubnetMin 10.244.1.0 -> 10.244.100.0"), std::string::npos) << c.message;
  EXPECT_NE(c.message.find("10.244.7.0/24 is outside the new range; it stays in use"),
            std::string::npos)
      << c.message;
}

TEST(DecideConfigChange, StructuralFieldsNeedARestartAndNameTheField) {
  struct Case {
    std::string stored;
    std::string names;  // the field's change as the message must show it
    bool moves;         // our subnet would not survive a restart
  };
  const Case cases[] = {
      {R"({"Network":"10.245.0.0/16","Backend":{"Type":"host-gw"}})",
       "Network 10.244.0.0/16 -> 10.245.0.0/16", true},
      // A wider network still holds our /24: a restart keeps it.
      {R"({"Network":"10.244.0.0/15","Backend":{"Type":"host-gw"}})",
       "Network 10.244.0.0/16 -> 10.244.0.0/15", false},
      {R"({"Network":"10.244.0.0/16","SubnetLen":25,"Backend":{"Type":"host-gw"}})",
       "SubnetLen 24 -> 25", true},
      {R"({"Network":"10.244.0.0/16","Backend":{"Type":"vxlan"}})",
       R"(Backend {"Type":"host-gw"} -> {"Type":"vxlan"})", false},
      {R"({"Network":"10.244.0.0/16","Backend":{"Type":"host-gw","DirectRouting":true}})",
       R"(Backend {"Type":"host-gw"} -> {"DirectRouting":true,"Type":"host-gw"})", false},
      {R"({"Network":"10.244.0.0/16","EnableNFTables":true,"Backend":{"Type":"host-gw"}})",
       "EnableNFTables false -> true", false},
  };
  for (const Case& tc : cases) {
    const ConfigChange c = Decide(tc.stored);
    EXPECT_EQ(c.action, Action::kRestartNeeded) << tc.stored;
    EXPECT_NE(c.message.find("(" + tc.names), std::string::npos) << c.message;
    EXPECT_NE(c.message.find("restart needed"), std::string::npos) << c.message;
    EXPECT_EQ(c.message.find("will get another subnet") != std::string::npos, tc.moves)
        << c.message;
  }
}

TEST(DecideConfigChange, AConfigTartanWouldRefuseSaysSo) {
  const ConfigChange c =
      Decide(R"({"Network":"10.244.0.0/16","EnableIPv6":true,"IPv6Network":"fd00:10::/48",)"
             R"("Backend":{"Type":"host-gw"}})");
  EXPECT_EQ(c.action, Action::kRestartNeeded);
  EXPECT_NE(c.message.find("EnableIPv6 false -> true"), std::string::npos) << c.message;
  EXPECT_NE(c.message.find("tartand would refuse the new config"), std::string::npos) << c.message;
}

TEST(DecideConfigChange, AHugeBackendIsCutInTheMessage) {
  const ConfigChange c = Decide(R"({"Network":"10.244.0.0/16","Backend":{"Type":"host-gw","X":")" +
                                std::string(1 << 20, 'x') + R"("}})");
  EXPECT_EQ(c.action, Action::kRestartNeeded);
  EXPECT_LT(c.message.size(), 1000u);
}

}  // namespace
}  // namespace tartan::agent
