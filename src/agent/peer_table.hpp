// The agent's view of the network's leases, and what one watch batch changes in it.
//
// A pure unit: it applies a store::LeaseBatch (a snapshot, events, a store reset) and returns
// the difference per peer (what a backend must program or withdraw, one peer at a time) and
// the verdict about our own lease (gone, re-written by another host, store reset), so that the
// agent's loop decides nothing itself and the decisions are unit-tested without etcd or a
// kernel (docs/adr/0019-incremental-reconcile.md).
//
// Storage is what the backends and /status need of a lease: its key, public IP, backend type
// and data, and whether it is a reservation. Revisions, expirations, owner tokens and the IPv6
// attributes (no backend routes IPv6 yet) are dropped, so the table costs a few hundred bytes
// per peer and nothing of the listing it came from is kept.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "model/lease.hpp"
#include "store/subnet_store.hpp"

namespace tartan::agent {

// One peer whose lease is not what it was before the batch. `before` and `after` are the
// states at the start and end of the batch (a key added and removed within one batch is no
// change at all); both set: changed.
struct PeerChange {
  std::optional<model::Lease> before;
  std::optional<model::Lease> after;
  const model::SubnetKey& key() const { return after ? after->subnet : before->subnet; }
  // The peer is now reached at another public IP (a host re-installed with the same subnet,
  // or a pinned reservation moved): its old routes and entries point elsewhere.
  bool moved() const {
    return before && after && before->attrs.public_ip != after->attrs.public_ip;
  }
};

// What a batch means for our own lease. `own_gone`: take the lease again now, and `fate` says
// why in the words of the log line "our key <subnet> <fate>".
struct OwnVerdict {
  bool own_gone = false;
  std::string fate;
  bool store_reset = false;  // etcd was restored or wiped (docs/adr/0014)
};

struct PeerDelta {
  bool snapshot = false;            // the batch replaced the whole table
  std::vector<PeerChange> changes;  // in key order, our own key included when it changed
  OwnVerdict own;
};

class PeerTable {
 public:
  // `own`: our lease (subnet and public IP), as acquired; "our" key below is its subnet.
  void SetOwn(const model::Lease& own) { own_ = Trimmed(own); }

  // Applies the batch and returns what changed. Pure: no log, no clock, no I/O.
  PeerDelta Apply(const store::LeaseBatch& batch);

  // Forgets every lease (a revocation: the next watch starts with a snapshot).
  void Clear() { leases_.clear(); }

  const std::map<model::SubnetKey, model::Lease>& leases() const { return leases_; }
  size_t size() const { return leases_.size(); }
  const model::Lease* Find(const model::SubnetKey& key) const {
    auto it = leases_.find(key);
    return it == leases_.end() ? nullptr : &it->second;
  }

  // The lease as the table keeps it (see above).
  static model::Lease Trimmed(const model::Lease& l);

 private:
  // Whether `l` (a lease with our subnet) names another host than us; sets `fate` if so.
  bool TakenOver(const model::Lease& l, std::string& fate) const;
  void Record(std::map<model::SubnetKey, PeerChange>& changes, const model::SubnetKey& key,
              const model::Lease* before_batch, const model::Lease* now);

  model::Lease own_;
  std::map<model::SubnetKey, model::Lease> leases_;
};

}  // namespace tartan::agent
