// `tartanctl status` against a real etcd 3.4 (v3 and, with --enable-v2, v2) holding good,
// reserved, garbage and foreign-shaped (flanneld v0.11 and v0.20) leases.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <map>

#include "cmd/options.hpp"
#include "ctl/status.hpp"
#include "ctl/status_read.hpp"
#include "fixtures/etcd_fixture.hpp"
#include "integration/etcd_suite.hpp"
#include "store/etcd2/client.hpp"
#include "store/etcd3/client.hpp"

namespace tartan::testing {
namespace {

using namespace std::chrono_literals;

const char kNet[] = R"({"Network":"10.5.0.0/16","Backend":{"Type":"vxlan"}})";
// What flanneld v0.20.2 (etcd v3) and v0.11.0 (etcd v2) write, byte for byte.
const char kV020[] =
    R"({"PublicIP":"192.0.2.20","PublicIPv6":null,"BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"c6:d2:32:6f:8f:44"}})";
const char kV011[] =
    R"({"PublicIP":"192.0.2.11","BackendType":"vxlan","BackendData":{"VtepMAC":"66:90:db:29:5b:c3"}})";
const char kReserved[] = R"({"PublicIP":"192.0.2.30","PublicIPv6":null,"BackendType":"host-gw"})";

class CtlStatusTest : public EtcdSuite<CtlStatusTest> {
 protected:
  static void SetUpTestSuite() { StartEtcd({.enable_v2 = true}); }
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(EtcdSuite::SetUp());
    v3_ = Connect<store::etcd3::Client>();
    v2_ = Connect<store::etcd2::Client>();
  }
  cmd::Options Opts(cmd::EtcdApi api = cmd::EtcdApi::kAuto) const {
    auto cl =
        cmd::ParseToolOptions(std::vector<std::string>{"--etcd-endpoints=" + cluster_->Endpoints(),
                                                       "--etcd-prefix=" + prefix_},
                              nullptr, {});
    EXPECT_TRUE(cl.ok());
    cl->options.etcd_api = api;
    return cl->options;
  }
  ctl::StatusReport Status(cmd::EtcdApi api = cmd::EtcdApi::kAuto) const {
    auto in = ctl::ReadStatusInput(Opts(api));
    EXPECT_TRUE(in.ok()) << (in.ok() ? "" : in.error().message);
    return in.ok() ? ctl::AnalyzeStatus(*in) : ctl::StatusReport{};
  }
  static std::map<std::string, ctl::LeaseRow> ByKey(const ctl::StatusReport& r) {
    std::map<std::string, ctl::LeaseRow> out;
    for (const auto& l : r.leases) out[l.key] = l;
    return out;
  }
  static bool Has(const std::vector<std::string>& lines, const std::string& part) {
    return std::any_of(lines.begin(), lines.end(),
                       [&](const std::string& l) { return l.find(part) != std::string::npos; });
  }

  std::shared_ptr<store::etcd3::Client> v3_;
  std::shared_ptr<store::etcd2::Client> v2_;
};

TEST_F(CtlStatusTest, V3LeasesOfEveryKind) {
  ASSERT_TRUE(v3_->Put(prefix_ + "/config", kNet).ok());
  auto day = v3_->GrantLease(86400s);
  auto short_lease = v3_->GrantLease(600s);
  ASSERT_TRUE(day.ok() && short_lease.ok());
  ASSERT_TRUE(v3_->Put(Key("10.5.20.0-24"), kV020, day->id).ok());
  ASSERT_TRUE(v3_->Put(Key("10.5.11.0-24"), kV011, day->id).ok());
  ASSERT_TRUE(v3_->Put(Key("10.5.30.0-24"), kReserved).ok());  // no lease: a reservation
  ASSERT_TRUE(v3_->Put(Key("10.5.40.0-24"), "not json", day->id).ok());
  ASSERT_TRUE(v3_->Put(Key("garbage"), R"({"PublicIP":"192.0.2.99"})").ok());
  ASSERT_TRUE(v3_->Put(Key("10.6.0.0-24"), R"({"PublicIP":"192.0.2.60"})", day->id).ok());
  // The same host (public IP) under a second subnet, about to expire.
  ASSERT_TRUE(v3_->Put(Key("10.5.21.0-24"), kV020, short_lease->id).ok());

  const auto r = Status();
  EXPECT_EQ(r.api, "v3");
  ASSERT_TRUE(r.config);
  EXPECT_EQ(r.config->network->ToString(), "10.5.0.0/16");
  auto rows = ByKey(r);
  ASSERT_EQ(rows.size(), 7u) << ctl::FormatStatusTable(r);
  EXPECT_EQ(rows["10.5.20.0-24"].shape, "v0.12+");
  EXPECT_EQ(rows["10.5.20.0-24"].vtep_mac, "c6:d2:32:6f:8f:44");
  EXPECT_GT(*rows["10.5.20.0-24"].ttl_seconds, 86000);
  EXPECT_EQ(rows["10.5.11.0-24"].shape, "v0.11");
  EXPECT_TRUE(rows["10.5.30.0-24"].reservation);
  EXPECT_FALSE(rows["10.5.30.0-24"].ttl_seconds);
  EXPECT_LE(*rows["10.5.21.0-24"].ttl_seconds, 600);
  EXPECT_TRUE(Has(r.anomalies, "10.5.40.0-24\": unparseable value"));
  EXPECT_TRUE(Has(r.anomalies, "garbage\": unparseable key"));
  EXPECT_TRUE(Has(r.anomalies, "not inside the Network 10.5.0.0/16"));
  EXPECT_TRUE(Has(r.anomalies, "public IP 192.0.2.20 has 2 leases"));
  EXPECT_TRUE(Has(r.anomalies, "VtepMAC c6:d2:32:6f:8f:44 has 2 leases"));
  EXPECT_TRUE(Has(r.anomalies, "10.5.21.0-24\": lease expires in"));
  EXPECT_EQ(r.anomalies.size(), 6u) << ctl::FormatStatusTable(r);

  // Revoked: the key goes with its etcd lease.
  ASSERT_TRUE(v3_->RevokeLease(short_lease->id).ok());
  EXPECT_EQ(ByKey(Status()).count("10.5.21.0-24"), 0u);
}

TEST_F(CtlStatusTest, V2LeasesAsFlanneldV011WritesThem) {
  ASSERT_TRUE(v2_->Set(prefix_ + "/config", kNet).ok());
  ASSERT_TRUE(v2_->Set(Key("10.5.11.0-24"), kV011, 86400s).ok());
  ASSERT_TRUE(v2_->Set(Key("10.5.30.0-24"), kReserved).ok());
  ASSERT_TRUE(v2_->Set(Key("10.5.12.0-24"), R"({"PublicIP":"192.0.2.12"})", 100s).ok());
  ASSERT_TRUE(v2_->Set(Key("10.5.99.0-23"), kV020, 86400s).ok());

  const auto r = Status();
  EXPECT_EQ(r.api, "v2");
  ASSERT_TRUE(r.config);
  auto rows = ByKey(r);
  ASSERT_EQ(rows.size(), 4u) << ctl::FormatStatusTable(r);
  EXPECT_EQ(rows["10.5.11.0-24"].shape, "v0.11");
  EXPECT_FALSE(rows["10.5.11.0-24"].reservation);
  EXPECT_GT(*rows["10.5.11.0-24"].ttl_seconds, 86000);
  EXPECT_TRUE(rows["10.5.30.0-24"].reservation);
  EXPECT_EQ(rows["10.5.12.0-24"].backend, "udp");
  EXPECT_TRUE(Has(r.anomalies, "10.5.12.0-24\": lease expires in"));
  EXPECT_TRUE(Has(r.anomalies, "10.5.99.0-23\": "));
  EXPECT_EQ(r.anomalies.size(), 2u) << ctl::FormatStatusTable(r);

  // Forced to v3, the config is not there: said, not an error.
  const auto r3 = Status(cmd::EtcdApi::kV3);
  EXPECT_EQ(r3.api, "v3");
  EXPECT_FALSE(r3.config);
  EXPECT_TRUE(Has(r3.anomalies, "no network config"));
  EXPECT_TRUE(r3.leases.empty());
}

TEST_F(CtlStatusTest, BothKeySpacesHoldAConfigV3Wins) {
  ASSERT_TRUE(v2_->Set(prefix_ + "/config", kNet).ok());
  ASSERT_TRUE(v3_->Put(prefix_ + "/config", kNet).ok());
  ASSERT_TRUE(v2_->Set(Key("10.5.11.0-24"), kV011, 86400s).ok());
  EXPECT_EQ(Status().api, "v3");
  EXPECT_TRUE(Status().leases.empty());
  EXPECT_EQ(Status(cmd::EtcdApi::kV2).leases.size(), 1u);
}

TEST_F(CtlStatusTest, TheBinaryPrintsJson) {
  ASSERT_TRUE(v3_->Put(prefix_ + "/config", kNet).ok());
  ASSERT_TRUE(v3_->Put(Key("10.5.30.0-24"), kReserved).ok());
  // The etcd flags from FLANNELD_* variables, as a unit file's environment gives them.
  const std::string cmd = "FLANNELD_ETCD_ENDPOINTS=" + cluster_->Endpoints() +
                          " FLANNELD_ETCD_PREFIX=" + prefix_ + " " + TARTANCTL_PATH +
                          " status --output=json";
  FILE* p = ::popen(cmd.c_str(), "r");
  ASSERT_NE(p, nullptr);
  std::string out;
  char buf[4096];
  size_t n = 0;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  EXPECT_EQ(::pclose(p), 0);
  auto j = nlohmann::json::parse(out, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << out;
  EXPECT_EQ(j["api"], "v3");
  ASSERT_EQ(j["leases"].size(), 1u) << out;
  EXPECT_EQ(j["leases"][0]["reservation"], true);
  EXPECT_EQ(j["anomalies"].size(), 0u);
}

}  // namespace
}  // namespace tartan::testing
