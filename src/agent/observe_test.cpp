#include "agent/observe.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "common/metrics.hpp"

namespace tartan::agent {
namespace {

model::Lease L(const std::string& key, const std::string& ip, const std::string& type) {
  model::Lease l;
  l.subnet = *model::SubnetKey::Parse(key);
  l.attrs.public_ip = *net::Ip4::Parse(ip);
  l.attrs.backend_type = type;
  return l;
}

TEST(Observe, PeerPathsFromTheDesiredRoutes) {
  const auto own = L("10.5.1.0-24", "192.0.2.1", "vxlan");
  const std::vector<model::Lease> peers = {
      own, L("10.5.2.0-24", "192.0.2.2", "vxlan"), L("10.5.3.0-24", "192.0.2.3", "vxlan"),
      L("10.5.4.0-24", "198.51.100.4", "host-gw"), L("10.5.5.0-24", "192.0.2.5", "vxlan")};
  backend::DesiredState d;
  d.routes.push_back(kernel::Route::ViaOnlink(*net::Ip4Net::Parse("10.5.2.0/24"),
                                              *net::Ip4::Parse("10.5.2.0"), 7));
  // DirectRouting: the same segment, via the public IP on the external interface (index 2).
  d.routes.push_back(
      kernel::Route::Via(*net::Ip4Net::Parse("10.5.3.0/24"), *net::Ip4::Parse("192.0.2.3"), 2));
  d.problems.push_back("vxlan peer 10.5.4.0/24 at 198.51.100.4 has backend host-gw; no route");
  const auto paths = PeerPaths(own, peers, d, 2, "vxlan");
  ASSERT_EQ(paths.size(), 4u);
  EXPECT_EQ(paths[0].path, "vxlan");
  EXPECT_EQ(paths[1].path, "host-gw");
  EXPECT_EQ(paths[2].path, "unreachable");
  EXPECT_EQ(paths[2].why, d.problems[0]);
  EXPECT_EQ(paths[2].backend, "host-gw");
  EXPECT_EQ(paths[3].why, "no route");

  ReconcileStats stats;
  stats.by_kind["route_added"] = 2;
  stats.routes_missing = 1;
  RecordPass(paths, d, stats, 0.002);
  const std::string text = metrics::Global().Render();
  EXPECT_NE(text.find("tartan_peers{backend=\"vxlan\",path=\"unreachable\"} 1"), std::string::npos)
      << text;
  EXPECT_NE(text.find("tartan_kernel_entries{kind=\"route\",state=\"programmed\"} 1"),
            std::string::npos);
  EXPECT_NE(text.find("tartan_repairs_total{kind=\"route_added\"} 2"), std::string::npos);
  EXPECT_NE(text.find("tartan_reconcile_duration_seconds_bucket{le=\"0.0025\"} 1"),
            std::string::npos);
}

// udp has one route for the whole Network; a udp peer's path is the workers' peer table.
TEST(Observe, UdpPeersTakeTheUdpPath) {
  const auto own = L("10.5.1.0-24", "192.0.2.1", "");
  const std::vector<model::Lease> peers = {own, L("10.5.2.0-24", "192.0.2.2", ""),
                                           L("10.5.3.0-24", "192.0.2.3", "vxlan")};
  backend::DesiredState d;
  d.routes.push_back(kernel::Route::Direct(*net::Ip4Net::Parse("10.5.0.0/16"), 9));
  const auto paths = PeerPaths(own, peers, d, 2, "udp");
  ASSERT_EQ(paths.size(), 2u);
  EXPECT_EQ(paths[0].path, "udp");
  EXPECT_EQ(paths[0].backend, "udp");
  EXPECT_EQ(paths[1].path, "unreachable");
  EXPECT_EQ(paths[1].why, "backend vxlan does not speak udp");
}

TEST(Observe, StatusJsonAndKeptChanges) {
  std::deque<Change> kept;
  std::vector<std::string> lines;
  for (int i = 0; i < 25; ++i) lines.push_back("route added: " + std::to_string(i));
  KeepChanges(kept, lines, std::chrono::system_clock::time_point(std::chrono::seconds(100)));
  ASSERT_EQ(kept.size(), kKeptChanges);
  EXPECT_EQ(kept.back().what, "route added: 24");
  StatusSnapshot s{"0.1.0",
                   "http://e:2379",
                   "v3",
                   "eth0",
                   "192.0.2.1",
                   "vxlan",
                   L("10.5.1.0-24", "192.0.2.1", "vxlan"),
                   {},
                   &kept};
  s.peers.push_back({"10.5.2.0/24", "192.0.2.2", "vxlan", "unreachable", "no route"});
  auto j = nlohmann::json::parse(StatusJson(s));
  EXPECT_EQ(j["lease"]["subnet"], "10.5.1.0/24");
  EXPECT_EQ(j["lease"]["reservation"], true);
  EXPECT_EQ(j["etcd"]["api"], "v3");
  EXPECT_EQ(j["peers"][0]["path"], "unreachable");
  EXPECT_EQ(j["lastRepairs"].size(), kKeptChanges);
  EXPECT_EQ(j["lastRepairs"][0]["what"], "route added: 24");  // newest first
}

}  // namespace
}  // namespace tartan::agent
