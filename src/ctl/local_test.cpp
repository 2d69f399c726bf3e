#include "ctl/local.hpp"

#include <gtest/gtest.h>

namespace tartan::ctl {
namespace {

bool Has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

TEST(LocalStatus, FormatsTheAgentsView) {
  const std::string json =
      R"({"ready":false,"reason":"programming routes: EPERM","detail":"etcd API: v2",
    "anomalies":["host-gw peer 10.5.4.0/24 at 198.51.100.4 is not on eth0's network; no route"],
    "agent":{"version":"0.1.0","etcd":{"endpoints":"http://e:2379","api":"v2"},"interface":"eth0",
    "publicIP":"192.0.2.1","backend":"host-gw","lease":{"subnet":"10.5.1.0/24","reservation":false,
    "expires":1000},"peers":[{"subnet":"10.5.2.0/24","publicIP":"192.0.2.2","backend":"host-gw",
    "path":"host-gw","why":""},{"subnet":"10.5.4.0/24","publicIP":"198.51.100.4","backend":"host-gw",
    "path":"unreachable","why":"not on eth0's network"}],
    "lastRepairs":[{"time":3600,"what":"route added: 10.5.2.0/24 via 192.0.2.2 dev eth0"}]}})";
  const std::string out = FormatLocalStatus(json, 1000 - 7200);
  EXPECT_TRUE(Has(out, "ready:    no: programming routes: EPERM\n")) << out;
  EXPECT_TRUE(Has(out, "lease:    10.5.1.0/24 (expires in 2h0m)\n")) << out;
  EXPECT_TRUE(Has(out, "etcd:     http://e:2379 (API v2)\n")) << out;
  EXPECT_TRUE(Has(out, "anomaly:  host-gw peer 10.5.4.0/24")) << out;
  EXPECT_TRUE(Has(out, "10.5.2.0/24  192.0.2.2     host-gw  host-gw\n")) << out;
  EXPECT_TRUE(Has(out, "10.5.4.0/24  198.51.100.4  host-gw  unreachable  not on eth0's network\n"))
      << out;
  EXPECT_TRUE(Has(out, "  01:00:00Z  route added: 10.5.2.0/24")) << out;
}

TEST(LocalStatus, BeforeTheFirstLeaseAndGarbage) {
  EXPECT_TRUE(
      Has(FormatLocalStatus(
              R"({"ready":false,"reason":"acquiring a lease","anomalies":[],"agent":null})", 0),
          "agent:    no lease yet"));
  EXPECT_EQ(FormatLocalStatus("<html>", 0), "the agent's /status is not JSON\n");
}

TEST(LocalStatus, NoHealthPortIsAClearError) {
  cmd::Options o;
  auto r = FetchFromAgent(o, "/status");
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(Has(r.error().message, "--healthz-port"));
}

}  // namespace
}  // namespace tartan::ctl
