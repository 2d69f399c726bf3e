// What the agent tells an operator beyond its log: the path to each peer, the /status snapshot
// (`tartanctl status --local`) and the /metrics gauges of one pass. Pure functions of the agent's
// state, so they are unit-tested without a kernel; the agent calls them once per pass.
#pragma once

#include <chrono>
#include <deque>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "agent/reconciler.hpp"
#include "backend/backend.hpp"
#include "model/lease.hpp"

namespace tartan::agent {

struct PeerPath {
  std::string subnet;
  std::string public_ip;
  std::string backend;  // the peer's BackendType ("udp" when it has none)
  // "host-gw" (a route via its public IP on the external interface: host-gw, or vxlan's
  // DirectRouting), the name of the backend device's path ("vxlan"), or "unreachable".
  std::string path;
  std::string why;  // for "unreachable": the backend's reason, or "no route"
};

// One entry per peer (our own lease left out), in `peers`' order.
std::vector<PeerPath> PeerPaths(const model::Lease& own, const std::vector<model::Lease>& peers,
                                const backend::DesiredState& desired, int ext_index,
                                std::string_view backend_name);

// A kernel or firewall change, kept for /status's "last repairs".
struct Change {
  std::chrono::system_clock::time_point when;
  std::string what;
};
inline constexpr size_t kKeptChanges = 20;
void KeepChanges(std::deque<Change>& kept, const std::vector<std::string>& lines,
                 std::chrono::system_clock::time_point now);

struct StatusSnapshot {
  std::string version;
  std::string etcd_endpoints;
  std::string etcd_api;
  std::string interface;
  std::string public_ip;
  std::string backend;
  model::Lease lease;
  std::vector<PeerPath> peers;
  const std::deque<Change>* changes = nullptr;
};
// The JSON object served as "agent" by /status.
std::string StatusJson(const StatusSnapshot& s);

// Updates the pass's gauges and counters in metrics::Tartan(): peers by backend/path, kernel
// entries desired/programmed, repairs by kind, one reconcile pass of `seconds`.
void RecordPass(const std::vector<PeerPath>& peers, const backend::DesiredState& desired,
                const ReconcileStats& stats, double seconds);
// The tartan_peers gauge kept up to date one peer at a time: counts by (backend, path).
class PathCounts {
 public:
  void Reset(const std::vector<PeerPath>& paths);
  void Add(const PeerPath& p, int n);
  // Sets the gauges (a handful of label sets, not one per peer).
  void Publish() const;

 private:
  std::map<std::pair<std::string, std::string>, int> counts_;
};
// After an incremental change: the entry gauges from the reconciler's totals, the repairs.
void RecordDelta(const EntryTotals& totals, const ReconcileStats& stats);

// The lease gauges (info and expiry).
void RecordLease(const model::Lease& lease, std::string_view public_ip);

}  // namespace tartan::agent
