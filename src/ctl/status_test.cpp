#include "ctl/status.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>

namespace tartan::ctl {
namespace {

constexpr const char* kConfig = R"({"Network":"10.5.0.0/16","Backend":{"Type":"vxlan"}})";
constexpr const char* kP = "/coreos.com/network/subnets/";

bool AnyContains(const std::vector<std::string>& lines, const std::string& part) {
  return std::any_of(lines.begin(), lines.end(),
                     [&](const std::string& l) { return l.find(part) != std::string::npos; });
}

StatusInput Input(std::vector<RawEntry> entries) {
  StatusInput in;
  in.api = "v3";
  in.endpoint = "http://127.0.0.1:2379";
  in.prefix = "/coreos.com/network";
  in.config_text = kConfig;
  in.entries = std::move(entries);
  return in;
}

RawEntry Lease(const std::string& seg, const std::string& value, int64_t ttl = 80000) {
  return {std::string(kP) + seg, value, true, ttl};
}

TEST(Status, GoodLeasesOfBothErasAndAReservationHaveNoAnomalies) {
  const auto r = AnalyzeStatus(Input({
      Lease(
          "10.5.1.0-24",
          R"({"PublicIP":"192.0.2.1","PublicIPv6":null,"BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"aa:bb:cc:00:00:01"}})"),
      Lease(
          "10.5.2.0-24",
          R"({"PublicIP":"192.0.2.2","BackendType":"vxlan","BackendData":{"VtepMAC":"aa:bb:cc:00:00:02"}})"),
      {std::string(kP) + "10.5.3.0-24", R"({"PublicIP":"192.0.2.3","BackendType":"host-gw"})",
       false, std::nullopt},
      Lease("10.5.4.0-24", R"({"PublicIP":"192.0.2.4"})"),
  }));
  EXPECT_TRUE(r.anomalies.empty()) << r.anomalies.front();
  ASSERT_EQ(r.leases.size(), 4u);
  EXPECT_EQ(r.leases[0].subnet, "10.5.1.0/24");
  EXPECT_EQ(r.leases[0].shape, "v0.12+");
  EXPECT_EQ(r.leases[0].vtep_mac, "aa:bb:cc:00:00:01");
  EXPECT_EQ(r.leases[1].shape, "v0.11");
  EXPECT_EQ(r.leases[1].vtep_mac, "aa:bb:cc:00:00:02");
  EXPECT_TRUE(r.leases[2].reservation);
  EXPECT_EQ(r.leases[2].backend, "host-gw");
  EXPECT_EQ(r.leases[3].backend, "udp");  // flannel's udp writes no BackendType
  EXPECT_FALSE(r.leases[0].reservation);
  const std::string table = FormatStatusTable(r);
  EXPECT_NE(table.find("reserved"), std::string::npos) << table;
  EXPECT_NE(table.find("22h13m"), std::string::npos) << table;
  EXPECT_NE(table.find("no anomalies"), std::string::npos) << table;
}

TEST(Status, EachAnomalyIsNamed) {
  const auto r = AnalyzeStatus(Input({
      // Two subnets for one public IP.
      Lease("10.5.1.0-24", R"({"PublicIP":"192.0.2.1","BackendType":"host-gw"})"),
      Lease("10.5.9.0-24", R"({"PublicIP":"192.0.2.1","BackendType":"host-gw"})"),
      // Outside the network, wrong length.
      Lease("10.9.0.0-24", R"({"PublicIP":"192.0.2.5","BackendType":"host-gw"})"),
      Lease("10.5.16.0-20", R"({"PublicIP":"192.0.2.6","BackendType":"host-gw"})"),
      // Garbage key and value.
      Lease("not-a-subnet", R"({"PublicIP":"192.0.2.7"})"),
      Lease("10.5.7.0-24", "{garbage"),
      // Expired and expiring.
      Lease("10.5.10.0-24", R"({"PublicIP":"192.0.2.10","BackendType":"host-gw"})", 0),
      Lease("10.5.11.0-24", R"({"PublicIP":"192.0.2.11","BackendType":"host-gw"})", 1200),
      // One VtepMAC on two hosts.
      Lease(
          "10.5.12.0-24",
          R"({"PublicIP":"192.0.2.12","BackendType":"vxlan","BackendData":{"VtepMAC":"aa:aa:aa:aa:aa:aa"}})"),
      Lease(
          "10.5.13.0-24",
          R"({"PublicIP":"192.0.2.13","BackendType":"vxlan","BackendData":{"vtepmac":"aa:aa:aa:aa:aa:aa"}})"),
  }));
  const auto& a = r.anomalies;
  EXPECT_TRUE(AnyContains(a, "public IP 192.0.2.1 has 2 leases (10.5.1.0-24, 10.5.9.0-24)"));
  EXPECT_TRUE(AnyContains(a, "\"/coreos.com/network/subnets/10.9.0.0-24\": "));
  EXPECT_TRUE(AnyContains(a, "10.9.0.0/24 is not inside the Network 10.5.0.0/16"));
  EXPECT_TRUE(AnyContains(a, "10.5.16.0-20\": "));
  EXPECT_TRUE(AnyContains(a, "not-a-subnet\": unparseable key"));
  EXPECT_TRUE(AnyContains(a, "10.5.7.0-24\": unparseable value"));
  EXPECT_TRUE(AnyContains(a, "10.5.10.0-24\": lease expired"));
  EXPECT_TRUE(AnyContains(a, "10.5.11.0-24\": lease expires in 20m0s"));
  EXPECT_TRUE(
      AnyContains(a, "VtepMAC aa:aa:aa:aa:aa:aa has 2 leases (10.5.12.0-24, 10.5.13.0-24)"));
  EXPECT_EQ(a.size(), 8u) << FormatStatusTable(r);
  // Rows carry their own problems, and only theirs.
  ASSERT_EQ(r.leases.size(), 10u);
  EXPECT_EQ(r.leases[0].problems.size(), 1u);
  EXPECT_TRUE(r.leases[2].problems.size() == 1u);
  EXPECT_TRUE(r.leases[3].problems.size() == 1u);
  EXPECT_EQ(r.leases[4].subnet, "");
  EXPECT_EQ(r.leases[5].shape, "");

  auto j = nlohmann::json::parse(FormatStatusJson(r));
  EXPECT_EQ(j["api"], "v3");
  EXPECT_EQ(j["config"]["network"], "10.5.0.0/16");
  EXPECT_EQ(j["leases"].size(), 10u);
  EXPECT_EQ(j["leases"][6]["ttlSeconds"], 0);
  EXPECT_EQ(j["anomalies"].size(), 8u);
}

TEST(Status, MissingOrInvalidConfigIsReportedAndLeasesStillListed) {
  StatusInput in = Input({Lease("10.5.1.0-24", R"({"PublicIP":"192.0.2.1"})")});
  in.config_text.reset();
  auto r = AnalyzeStatus(in);
  EXPECT_FALSE(r.config);
  EXPECT_TRUE(AnyContains(r.anomalies, "no network config at /coreos.com/network/config"));
  EXPECT_EQ(r.leases.size(), 1u);
  in.config_text = R"({"Network":"10.5.0.0/16","SubnetLen":31})";
  r = AnalyzeStatus(in);
  EXPECT_TRUE(AnyContains(r.anomalies, "invalid network config"));
  EXPECT_EQ(nlohmann::json::parse(FormatStatusJson(r))["config"], nullptr);
}

TEST(Status, GarbageBytesDoNotBreakTheJson) {
  const auto r = AnalyzeStatus(Input({Lease("\xff\xfe", "\x01\xff")}));
  EXPECT_EQ(r.anomalies.size(), 2u);
  nlohmann::json j;
  EXPECT_NO_THROW(j = nlohmann::json::parse(FormatStatusJson(r)));
  EXPECT_EQ(j["leases"].size(), 1u);
}

TEST(Status, TtlFormat) {
  EXPECT_EQ(FormatTtl(86400), "24h0m");
  EXPECT_EQ(FormatTtl(3599), "59m59s");
  EXPECT_EQ(FormatTtl(59), "59s");
  EXPECT_EQ(FormatTtl(0), "expired");
}

}  // namespace
}  // namespace tartan::ctl
