// A lease batch's changes applied peer by peer (docs/adr/0019-incremental-reconcile.md): each
// changed peer's entries before and after, from the backend for that peer alone, go to the
// reconciler's incremental path, the backend's data plane and the tartan_peers gauge. The cost
// is that of the changed peers, whatever the size of the network.
#pragma once

#include <vector>

#include "agent/observe.hpp"
#include "agent/peer_table.hpp"
#include "agent/reconciler.hpp"
#include "backend/backend.hpp"
#include "model/network_config.hpp"

namespace tartan::agent {

// A peer's entries as the reconciler diffs them: the backend's for a lease that may be routed,
// the filter's line for a key no lease of the network can have (model::FilterLeases).
backend::DesiredState PeerEntries(const model::NetworkConfig& config,
                                  const backend::Backend& backend, const model::Lease& own,
                                  const model::Lease& peer);

struct PeerApplyContext {
  const model::NetworkConfig& config;
  backend::Backend& backend;
  const model::Lease& own;
  Reconciler& reconciler;
  PathCounts& paths;
  int ext_index = 0;
};

// Applies `changes` (our own key is skipped: it is not a peer). Updates the gauges.
ReconcileStats ApplyPeerChanges(const std::vector<PeerChange>& changes,
                                const PeerApplyContext& ctx);

}  // namespace tartan::agent
