#include "agent/observe.hpp"

#include <nlohmann/json.hpp>

#include <map>
#include <utility>

#include "common/metrics.hpp"

namespace tartan::agent {

std::vector<PeerPath> PeerPaths(const model::Lease& own, const std::vector<model::Lease>& peers,
                                const backend::DesiredState& desired, int ext_index,
                                std::string_view backend_name) {
  std::map<net::Ip4Net, const kernel::Route*> routes;
  for (const auto& r : desired.routes) routes.emplace(r.dst, &r);
  std::vector<PeerPath> out;
  for (const model::Lease& p : peers) {
    if (p.subnet == own.subnet) continue;
    PeerPath v;
    v.subnet = p.subnet.ipv4.ToString();
    v.public_ip = p.attrs.public_ip ? p.attrs.public_ip->ToString() : "";
    v.backend = p.attrs.backend_type.empty() ? "udp" : p.attrs.backend_type;
    auto it = routes.find(p.subnet.ipv4);
    const bool udp_peer = p.attrs.backend_type.empty() || p.attrs.backend_type == "udp";
    if (backend_name == "udp" && udp_peer && p.attrs.public_ip) {
      // udp routes the whole Network into flannel0; the workers' peer table is the path.
      v.path = "udp";
    } else if (backend_name == "udp") {
      v.path = "unreachable";
      v.why = p.attrs.public_ip ? "backend " + v.backend + " does not speak udp" : "no public IP";
    } else if (it != routes.end()) {
      v.path = it->second->link_index == ext_index ? "host-gw" : std::string(backend_name);
    } else {
      v.path = "unreachable";
      v.why = "no route";
      // The backend says why in a problem line naming the subnet.
      for (const auto& line : desired.problems) {
        if (line.find(v.subnet) != std::string::npos) {
          v.why = line;
          break;
        }
      }
    }
    out.push_back(std::move(v));
  }
  return out;
}

void KeepChanges(std::deque<Change>& kept, const std::vector<std::string>& lines,
                 std::chrono::system_clock::time_point now) {
  for (const auto& l : lines) {
    kept.push_back({now, l});
    if (kept.size() > kKeptChanges) kept.pop_front();
  }
}

std::string StatusJson(const StatusSnapshot& s) {
  using nlohmann::json;
  auto unix_seconds = [](std::chrono::system_clock::time_point t) {
    return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
  };
  json j;
  j["version"] = s.version;
  j["etcd"] = {{"endpoints", s.etcd_endpoints}, {"api", s.etcd_api}};
  j["interface"] = s.interface;
  j["publicIP"] = s.public_ip;
  j["backend"] = s.backend;
  j["lease"] = {{"subnet", s.lease.subnet.ipv4.ToString()},
                {"reservation", s.lease.is_reservation()},
                {"expires", s.lease.expiration ? json(unix_seconds(*s.lease.expiration)) : json()}};
  j["peers"] = json::array();
  for (const auto& p : s.peers) {
    j["peers"].push_back({{"subnet", p.subnet},
                          {"publicIP", p.public_ip},
                          {"backend", p.backend},
                          {"path", p.path},
                          {"why", p.why}});
  }
  j["lastRepairs"] = json::array();
  if (s.changes != nullptr) {
    for (auto it = s.changes->rbegin(); it != s.changes->rend(); ++it) {
      j["lastRepairs"].push_back({{"time", unix_seconds(it->when)}, {"what", it->what}});
    }
  }
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

void RecordPass(const std::vector<PeerPath>& peers, const backend::DesiredState& desired,
                const ReconcileStats& stats, double seconds) {
  const auto& m = metrics::Tartan();
  std::map<std::pair<std::string, std::string>, int> by_path;
  for (const auto& p : peers) ++by_path[{p.backend, p.path}];
  m.peers.Clear();
  for (const auto& [k, n] : by_path) m.peers.GaugeWith({k.first, k.second}).Set(n);

  auto entries = [&](const char* kind, size_t desired_n, int missing) {
    m.entries.GaugeWith({kind, "desired"}).Set(static_cast<double>(desired_n));
    m.entries.GaugeWith({kind, "programmed"})
        .Set(static_cast<double>(desired_n) - static_cast<double>(missing));
  };
  entries("route", desired.routes.size(), stats.routes_missing);
  entries("neighbour", desired.neighbours.size(), stats.neighbours_missing);
  entries("fdb", desired.fdb.size(), stats.fdb_missing);
  for (const auto& [kind, n] : stats.by_kind) {
    m.repairs.CounterWith({kind}).Inc(static_cast<uint64_t>(n));
  }
  m.reconcile_passes.CounterWith().Inc();
  m.reconcile_seconds.HistogramWith().Observe(seconds);
}

void PathCounts::Reset(const std::vector<PeerPath>& paths) {
  counts_.clear();
  for (const auto& p : paths) Add(p, 1);
}

void PathCounts::Add(const PeerPath& p, int n) {
  auto it = counts_.try_emplace({p.backend, p.path}, 0).first;
  it->second += n;
  if (it->second <= 0) counts_.erase(it);
}

void PathCounts::Publish() const {
  const auto& m = metrics::Tartan();
  m.peers.Clear();
  for (const auto& [k, n] : counts_) m.peers.GaugeWith({k.first, k.second}).Set(n);
}

void RecordDelta(const EntryTotals& totals, const ReconcileStats& stats) {
  const auto& m = metrics::Tartan();
  auto entries = [&](const char* kind, size_t desired_n, int missing) {
    m.entries.GaugeWith({kind, "desired"}).Set(static_cast<double>(desired_n));
    m.entries.GaugeWith({kind, "programmed"})
        .Set(static_cast<double>(desired_n) - static_cast<double>(missing));
  };
  entries("route", totals.routes, totals.routes_missing);
  entries("neighbour", totals.neighbours, totals.neighbours_missing);
  entries("fdb", totals.fdb, totals.fdb_missing);
  for (const auto& [kind, n] : stats.by_kind) {
    m.repairs.CounterWith({kind}).Inc(static_cast<uint64_t>(n));
  }
}

void RecordLease(const model::Lease& lease, std::string_view public_ip) {
  const auto& m = metrics::Tartan();
  m.lease_info.Clear();
  m.lease_info
      .GaugeWith({lease.subnet.ipv4.ToString(),
                  lease.attrs.backend_type.empty() ? "udp" : lease.attrs.backend_type,
                  std::string(public_ip)})
      .Set(1);
  m.lease_expiry.GaugeWith().Set(
      lease.expiration ? static_cast<double>(std::chrono::duration_cast<std::chrono::seconds>(
                                                 lease.expiration->time_since_epoch())
                                                 .count())
                       : 0.0);
}

}  // namespace tartan::agent
