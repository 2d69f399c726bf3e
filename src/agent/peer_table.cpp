#include "agent/peer_table.hpp"

namespace tartan::agent {

model::Lease PeerTable::Trimmed(const model::Lease& l) {
  model::Lease t;
  t.subnet = l.subnet;
  t.attrs.public_ip = l.attrs.public_ip;
  t.attrs.backend_type = l.attrs.backend_type;
  t.attrs.backend_data = l.attrs.backend_data;
  t.etcd_lease_id = l.etcd_lease_id == 0 ? 0 : 1;  // only "is it a reservation" is used
  return t;
}

bool PeerTable::TakenOver(const model::Lease& l, std::string& fate) const {
  if (l.attrs.public_ip == own_.attrs.public_ip) return false;
  fate = "was re-written by another host (public_ip=" +
         (l.attrs.public_ip ? l.attrs.public_ip->ToString() : std::string("none")) + ", ours is " +
         (own_.attrs.public_ip ? own_.attrs.public_ip->ToString() : "none") + ")";
  return true;
}

void PeerTable::Record(std::map<model::SubnetKey, PeerChange>& changes, const model::SubnetKey& key,
                       const model::Lease* before_batch, const model::Lease* now) {
  auto [it, fresh] = changes.try_emplace(key);
  if (fresh && before_batch != nullptr) it->second.before = *before_batch;
  if (now != nullptr) {
    it->second.after = *now;
  } else {
    it->second.after.reset();
  }
}

PeerDelta PeerTable::Apply(const store::LeaseBatch& batch) {
  PeerDelta out;
  std::map<model::SubnetKey, PeerChange> changes;
  // What our key's fate is said to be when the batch removes it (the default for a removal).
  std::string fate = "was deleted from etcd";
  bool own_gone = false;

  if (batch.is_snapshot) {
    out.snapshot = true;
    std::map<model::SubnetKey, model::Lease> next;
    for (const auto& l : batch.snapshot) next[l.subnet] = Trimmed(l);
    // The difference against what we had: a re-list after a watch restart or a revocation
    // usually changes nothing, and then costs the kernel nothing.
    auto a = leases_.begin();
    auto b = next.begin();
    while (a != leases_.end() || b != next.end()) {
      if (b == next.end() || (a != leases_.end() && a->first < b->first)) {
        Record(changes, a->first, &a->second, nullptr);
        ++a;
      } else if (a == leases_.end() || b->first < a->first) {
        Record(changes, b->first, nullptr, &b->second);
        ++b;
      } else {
        if (!(a->second == b->second)) Record(changes, a->first, &a->second, &b->second);
        ++a;
        ++b;
      }
    }
    leases_ = std::move(next);
    auto it = leases_.find(own_.subnet);
    if (it == leases_.end()) {
      own_gone = true;
      fate = "is not in etcd (deleted, or expired while etcd was unreachable)";
    } else {
      own_gone = TakenOver(it->second, fate);
    }
  }

  for (const auto& e : batch.events) {
    const model::SubnetKey& key = e.lease.subnet;
    const bool own = key == own_.subnet;
    auto it = leases_.find(key);
    const model::Lease* was = it == leases_.end() ? nullptr : &it->second;
    switch (e.type) {
      case store::LeaseEvent::Type::kAdded:
      case store::LeaseEvent::Type::kChanged: {
        model::Lease now = Trimmed(e.lease);
        if (was != nullptr) {
          Record(changes, key, was, &now);
          it->second = std::move(now);
        } else {
          Record(changes, key, nullptr, &now);
          leases_.emplace(key, std::move(now));
        }
        // Our subnet written with another host's address (an operator pinned it elsewhere, or
        // it expired and was re-taken): it is no longer ours.
        if (own) own_gone = TakenOver(e.lease, fate);
        break;
      }
      case store::LeaseEvent::Type::kRemoved:
        if (was != nullptr) {
          Record(changes, key, was, nullptr);
          leases_.erase(it);
        }
        if (own) {
          fate = "was deleted from etcd";
          own_gone = true;
        }
        break;
    }
  }

  if (batch.store_reset) {
    // Restored or wiped (docs/adr/0014): our key, or the etcd lease it hangs on, may be gone or
    // an older one even where our subnet is listed. Take it again now rather than at the next
    // renewal, hours away.
    own_gone = true;
    fate = "may be gone: etcd was restored from a backup or wiped";
    out.own.store_reset = true;
  }
  out.own.own_gone = own_gone;
  if (own_gone) out.own.fate = std::move(fate);

  out.changes.reserve(changes.size());
  for (auto& [key, c] : changes) {
    const bool same =
        c.before.has_value() == c.after.has_value() && (!c.before || *c.before == *c.after);
    if (!same) out.changes.push_back(std::move(c));
  }
  return out;
}

}  // namespace tartan::agent
