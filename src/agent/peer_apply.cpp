#include "agent/peer_apply.hpp"

#include <span>

#include "model/lease_filter.hpp"

namespace tartan::agent {

backend::DesiredState PeerEntries(const model::NetworkConfig& config,
                                  const backend::Backend& backend, const model::Lease& own,
                                  const model::Lease& peer) {
  auto filtered = model::FilterLeases(config, std::span<const model::Lease>(&peer, 1));
  if (filtered.valid.empty()) {
    backend::DesiredState d;
    d.problems = std::move(filtered.skipped);
    return d;
  }
  return backend.DesiredPeer(own, peer);
}

ReconcileStats ApplyPeerChanges(const std::vector<PeerChange>& changes,
                                const PeerApplyContext& ctx) {
  ReconcileStats total;
  bool paths_moved = false;
  const std::string_view name = ctx.backend.name();
  for (const PeerChange& c : changes) {
    if (c.key() == ctx.own.subnet) continue;
    backend::DesiredState before, after;
    const model::Lease* valid_before = nullptr;
    const model::Lease* valid_after = nullptr;
    if (c.before) {
      before = PeerEntries(ctx.config, ctx.backend, ctx.own, *c.before);
      if (!model::LeaseSubnetProblem(ctx.config, c.before->subnet)) valid_before = &*c.before;
    }
    if (c.after) {
      after = PeerEntries(ctx.config, ctx.backend, ctx.own, *c.after);
      if (!model::LeaseSubnetProblem(ctx.config, c.after->subnet)) valid_after = &*c.after;
    }
    ReconcileStats s = ctx.reconciler.ApplyDelta(before, after);
    if (valid_before != nullptr || valid_after != nullptr) {
      ctx.backend.PeerChanged(ctx.own, valid_before, valid_after);
    }
    // The peer's path for tartan_peers: out with the old, in with the new.
    if (valid_before != nullptr) {
      for (const auto& p : PeerPaths(ctx.own, {*valid_before}, before, ctx.ext_index, name)) {
        ctx.paths.Add(p, -1);
      }
      paths_moved = true;
    }
    if (valid_after != nullptr) {
      for (const auto& p : PeerPaths(ctx.own, {*valid_after}, after, ctx.ext_index, name)) {
        ctx.paths.Add(p, 1);
      }
      paths_moved = true;
    }
    total.added += s.added;
    total.repaired += s.repaired;
    total.removed += s.removed;
    total.failed += s.failed;
    total.routes_missing += s.routes_missing;
    total.neighbours_missing += s.neighbours_missing;
    total.fdb_missing += s.fdb_missing;
    for (const auto& [k, n] : s.by_kind) total.by_kind[k] += n;
    total.changes.insert(total.changes.end(), s.changes.begin(), s.changes.end());
  }
  if (paths_moved) ctx.paths.Publish();
  RecordDelta(ctx.reconciler.totals(), total);
  return total;
}

}  // namespace tartan::agent
