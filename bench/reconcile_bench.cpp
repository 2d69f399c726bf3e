// CPU per lease event in the agent's own code, at N peers (docs/adr/0019-incremental-reconcile.md):
// the incremental path (PeerTable + Backend::DesiredPeer + Reconciler::ApplyDelta) beside the full
// pass every event cost before it (all peers filtered, Desired() over all, dump, plan, apply).
//
// The kernel is kernel::FakeRtnl, so the figures are tartan's CPU alone: no netlink syscalls, no
// kernel work (both paths make the same one or two writes per event; the full pass also dumps N
// routes, which costs the kernel and the parser a further ~1 us per route on a real host). Log
// lines are formatted and written, to /dev/null.
//
// usage: reconcile_bench [N ...] [--events=100] [--backend=host-gw|vxlan]
// Default N: 100 1000 5000.
#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <memory>
#include <string>
#include <vector>

#include "agent/peer_apply.hpp"
#include "agent/peer_table.hpp"
#include "agent/reconciler.hpp"
#include "backend/hostgw/hostgw.hpp"
#include "backend/vxlan/vxlan.hpp"
#include "kernel/fake_rtnl.hpp"
#include "model/lease_filter.hpp"

namespace {

using namespace tartan;

double CpuSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

net::Ip4 PeerIp(int i) { return net::Ip4(0x0a000000u + 2 + static_cast<uint32_t>(i)); }  // 10/8

model::Lease Peer(int i, const std::string& type) {
  model::Lease l;
  // 10.244.0.0/16 has 256 /24s; use a /8 network of /24s for up to 65536 peers.
  l.subnet.ipv4 = net::Ip4Net(net::Ip4(0x64000000u + (static_cast<uint32_t>(i + 2) << 8)), 24);
  l.attrs.public_ip = PeerIp(i);
  l.attrs.backend_type = type;
  char mac[64];
  std::snprintf(mac, sizeof mac, R"({"VNI":1,"VtepMAC":"42:00:00:%02x:%02x:%02x"})",
                (i >> 16) & 0xff, (i >> 8) & 0xff, i & 0xff);
  l.attrs.backend_data = mac;
  l.etcd_lease_id = 1;
  return l;
}

struct Host {
  kernel::FakeRtnl rtnl;
  backend::ExternalInterface ext;
  model::NetworkConfig config;
  std::unique_ptr<backend::Backend> backend;
  model::Lease own;
  agent::PeerTable table;
  agent::Reconciler rec{rtnl};
  agent::PathCounts paths;

  explicit Host(const std::string& type) {
    kernel::Link eth0;
    eth0.name = "eth0";
    eth0.mtu = 1500;
    eth0.up = true;
    ext.index = rtnl.AddLinkForTest(eth0);
    ext.name = "eth0";
    ext.mtu = 1500;
    ext.iface_addr = net::Ip4(0x0a000001u);
    ext.public_ip = ext.iface_addr;
    ext.connected = {*net::Ip4Net::Parse("10.0.0.0/8")};
    config = *model::NetworkConfig::Parse(R"({"Network":"100.0.0.0/8","Backend":{"Type":")" + type +
                                          R"("}})");
    if (type == "vxlan") {
      backend = std::move(*backend::VxlanBackend::Create(
          {}, ext, rtnl, [] { return uint64_t{0x0000a1b2c3d4e5f6}; }, {}, "6.1.0"));
    } else {
      backend = std::move(*backend::HostGwBackend::Create(ext));
    }
    own.subnet.ipv4 = *net::Ip4Net::Parse("100.0.1.0/24");
    own.attrs.public_ip = ext.public_ip;
    own.attrs.backend_type = type;
    table.SetOwn(own);
  }

  void FullPass() {
    std::vector<model::Lease> peers;
    peers.reserve(table.size());
    for (const auto& [k, l] : table.leases()) peers.push_back(l);
    auto filtered = model::FilterLeases(config, peers);
    auto desired = backend->Desired(own, filtered.valid);
    desired.problems.insert(desired.problems.end(), filtered.skipped.begin(),
                            filtered.skipped.end());
    (void)rec.Apply(desired, backend->owned_links());
  }
  void Incremental(const store::LeaseBatch& b) {
    auto delta = table.Apply(b);
    agent::ApplyPeerChanges(delta.changes, {config, *backend, own, rec, paths, ext.index});
  }
};

// Microseconds of CPU per event: `events` leases added then changed (moved), one per batch.
double Run(int n, int events, const std::string& type, bool incremental) {
  Host h(type);
  store::LeaseBatch snap;
  snap.is_snapshot = true;
  snap.snapshot.push_back(h.own);
  for (int i = 0; i < n; ++i) snap.snapshot.push_back(Peer(i, type));
  h.table.Apply(snap);
  h.FullPass();
  const double t0 = CpuSeconds();
  for (int e = 0; e < events; ++e) {
    store::LeaseBatch b;
    model::Lease l = Peer(n + e / 2, type);
    if (e % 2 == 1) l.attrs.public_ip = PeerIp(n + 100000 + e);  // the same peer, moved
    b.events.push_back(
        {e % 2 == 0 ? store::LeaseEvent::Type::kAdded : store::LeaseEvent::Type::kChanged, l});
    if (incremental) {
      h.Incremental(b);
    } else {
      h.table.Apply(b);
      h.FullPass();
    }
  }
  return (CpuSeconds() - t0) / events * 1e6;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<int> sizes;
  int events = 100;
  std::string type = "host-gw";
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], "--events=", 9) == 0) {
      events = std::atoi(argv[i] + 9);
    } else if (std::strncmp(argv[i], "--backend=", 10) == 0) {
      type = argv[i] + 10;
    } else {
      sizes.push_back(std::atoi(argv[i]));
    }
  }
  if (sizes.empty()) sizes = {100, 1000, 5000};
  // The log lines are part of the cost; the terminal is not.
  const int saved = dup(STDERR_FILENO);
  const int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
  dup2(null, STDERR_FILENO);
  std::vector<std::pair<double, double>> rows;
  for (int n : sizes) rows.emplace_back(Run(n, events, type, true), Run(n, events, type, false));
  dup2(saved, STDERR_FILENO);
  std::printf("backend %s, %d lease events per N, CPU per event (FakeRtnl: tartan's own CPU)\n",
              type.c_str(), events);
  std::printf("%8s %18s %18s %8s\n", "N peers", "incremental us", "full pass us", "ratio");
  for (size_t i = 0; i < sizes.size(); ++i) {
    std::printf("%8d %18.1f %18.1f %8.0fx\n", sizes[i], rows[i].first, rows[i].second,
                rows[i].second / rows[i].first);
  }
  std::printf("incremental at N=%d vs N=%d: %.2fx\n", sizes.back(), sizes.front(),
              rows.back().first / rows.front().first);
  return 0;
}
