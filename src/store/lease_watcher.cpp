#include "store/lease_watcher.hpp"

#include <algorithm>
#include <cstdint>
#include <functional>
#include <iterator>

#include "store/store_reset.hpp"

namespace tartan::store {

namespace {

// Only what a backend acts on: address, backend data, or a reservation turning into a lease.
// A renewal re-put with a new etcd lease id is not news to peers. A 64-bit hash of the value
// as flannel writes it (every attribute) stands for the attributes: a change going unnoticed
// needs a collision (2^-64).
uint64_t Fingerprint(const model::Lease& lease) {
  const uint64_t h = std::hash<std::string>{}(lease.attrs.ToJson());
  return lease.is_reservation() ? h ^ 0x9e3779b97f4a7c15ull : h;
}

}  // namespace

RegistryLeaseWatch::RegistryLeaseWatch(std::shared_ptr<Registry> registry, std::string prefix,
                                       LogFn log, Backoff backoff, const std::stop_token& stop,
                                       std::chrono::milliseconds store_check,
                                       std::function<void(bool startup)> on_settled,
                                       std::chrono::milliseconds settle_after)
    : registry_(std::move(registry)),
      prefix_(std::move(prefix)),
      dir_(SubnetsDir(prefix_)),
      log_(std::move(log)),
      backoff_(backoff),
      stop_(stop),
      garbage_(log_),
      delay_(backoff.initial),
      store_check_(store_check),
      probe_key_(dir_.substr(0, dir_.size() - std::string_view("subnets/").size()) + "config"),
      on_settled_(std::move(on_settled)),
      settle_after_(settle_after),
      on_stop_(stop, std::function<void()>([this] {
                 std::lock_guard lock(watch_mu_);
                 if (watch_) watch_->Cancel();
               })) {}

RegistryLeaseWatch::~RegistryLeaseWatch() = default;

void RegistryLeaseWatch::SetWatch(std::unique_ptr<RegistryWatch> watch) {
  std::unique_ptr<RegistryWatch> old;
  {
    std::lock_guard lock(watch_mu_);
    old = std::exchange(watch_, std::move(watch));
    if (watch_ && stop_.stop_requested()) watch_->Cancel();
  }
}

void RegistryLeaseWatch::SettleLater() {
  if (!on_settled_) return;
  settle_due_ = true;
  settle_at_ = std::chrono::steady_clock::now() + settle_after_;
}

bool RegistryLeaseWatch::WaitBackoff() {
  const bool slept = SleepFor(delay_, stop_);
  delay_ = std::min(delay_ * 2, backoff_.max);
  return slept;
}

void RegistryLeaseWatch::StoreReset(const std::string& why) {
  if (log_) {
    log_("etcd was restored from a backup or wiped (" + why +
         "); listing the leases again and taking our lease again");
  }
  SetWatch(nullptr);
  need_list_ = true;
  reset_pending_ = true;
}

bool RegistryLeaseWatch::CheckStore() {
  const auto now = std::chrono::steady_clock::now();
  if (now < next_check_) return false;
  next_check_ = now + store_check_;
  auto mark = registry_->Probe(probe_key_);
  // Unreachable: the watch fails by itself, and the check runs again once it is back.
  if (!mark) return false;
  if (auto why = StoreResetReason({cluster_id_, revision_}, *mark)) {
    StoreReset(*why);
    return true;
  }
  if (cluster_id_.empty()) cluster_id_ = mark->cluster_id;
  return false;
}

RegistryLeaseWatch::Known RegistryLeaseWatch::Remember(const model::Lease& lease) {
  return {lease.attrs.public_ip, lease.attrs.backend_type, lease.etcd_lease_id, Fingerprint(lease)};
}

model::Lease RegistryLeaseWatch::Recall(const model::SubnetKey& subnet, const Known& known) {
  model::Lease lease;
  lease.subnet = subnet;
  lease.attrs.public_ip = known.public_ip;
  lease.attrs.backend_type = known.backend_type;
  lease.etcd_lease_id = known.etcd_lease_id;
  return lease;
}

void RegistryLeaseWatch::Apply(const WatchEvent& event, std::vector<LeaseEvent>& out) {
  const KeyValue& kv = event.kv;
  if (event.type == WatchEvent::Type::kDelete) {
    auto subnet = ParseLeaseKey(kv.key, dir_);
    if (!subnet) return;  // an entry we never reported (garbage)
    auto it = known_.find(*subnet);
    if (it == known_.end()) return;  // likewise
    out.push_back({LeaseEvent::Type::kRemoved, Recall(it->first, it->second)});
    known_.erase(it);
    return;
  }
  auto lease = ParseLease(kv, dir_);
  if (!lease) {
    // Keep whatever we knew: the key still exists, so the peer is not removed.
    garbage_.Report(kv, lease.error());
    return;
  }
  auto it = known_.find(lease->subnet);
  if (it == known_.end()) {
    known_.emplace(lease->subnet, Remember(*lease));
    out.push_back({LeaseEvent::Type::kAdded, std::move(lease).value()});
    return;
  }
  Known now = Remember(*lease);
  if (now.fingerprint != it->second.fingerprint) {
    out.push_back({LeaseEvent::Type::kChanged, std::move(lease).value()});
  }
  it->second = std::move(now);
}

void RegistryLeaseWatch::Relist(std::vector<KeyValue> kvs, std::vector<LeaseEvent>& out,
                                std::vector<model::Lease>* all) {
  std::map<model::SubnetKey, Known> fresh;
  std::vector<LeaseEvent> news;  // after the removals, as a receiver reads them best
  for (KeyValue& kv : kvs) {
    auto lease = ParseLease(kv, dir_);
    if (lease) {
      Known now = Remember(*lease);
      auto old = known_.find(lease->subnet);
      if (old == known_.end()) {
        news.push_back({LeaseEvent::Type::kAdded, *lease});
      } else if (old->second.fingerprint != now.fingerprint) {
        news.push_back({LeaseEvent::Type::kChanged, *lease});
      }
      fresh.emplace(lease->subnet, std::move(now));
      if (all) all->push_back(std::move(lease).value());
      kv = KeyValue{};
      continue;
    }
    garbage_.Report(kv, lease.error());
    // A key that exists is never reported removed; keep the last good state if we had one.
    if (auto subnet = ParseLeaseKey(kv.key, dir_)) {
      if (auto old = known_.find(*subnet); old != known_.end()) fresh.emplace(*old);
    }
    kv = KeyValue{};
  }
  kvs = {};
  for (const auto& [subnet, known] : known_) {
    if (!fresh.contains(subnet)) out.push_back({LeaseEvent::Type::kRemoved, Recall(subnet, known)});
  }
  std::move(news.begin(), news.end(), std::back_inserter(out));
  known_ = std::move(fresh);
}

Result<LeaseBatch> RegistryLeaseWatch::Next() {
  while (true) {
    if (stop_.stop_requested()) return Error::Cancelled("lease watch stopped");

    if (need_list_) {
      auto listing = registry_->List(dir_);
      if (!listing) {
        if (!outage_logged_ && log_)
          log_("listing leases failed, retrying: " + listing.error().message);
        outage_logged_ = true;
        if (!WaitBackoff()) continue;
        continue;
      }
      need_list_ = false;
      if (outage_logged_ && log_) log_("lease watch resumed via " + registry_->Describe());
      outage_logged_ = false;
      delay_ = backoff_.initial;
      // A re-list after a compaction or an outage can be the first answer of a restored store.
      if (auto why =
              StoreResetReason({cluster_id_, revision_}, {listing->cluster_id, listing->revision});
          why && snapshot_sent_) {
        if (log_ && !reset_pending_) {
          log_("etcd was restored from a backup or wiped (" + *why + "); taking our lease again");
        }
        reset_pending_ = true;
      }
      revision_ = listing->revision;
      if (!listing->cluster_id.empty()) cluster_id_ = listing->cluster_id;
      std::vector<LeaseEvent> diff;
      if (!snapshot_sent_) {
        snapshot_sent_ = true;
        LeaseBatch batch;
        batch.is_snapshot = true;
        batch.revision = revision_;
        batch.snapshot.reserve(listing->kvs.size());
        Relist(std::move(listing->kvs), diff, &batch.snapshot);
        SettleLater();
        return batch;
      }
      Relist(std::move(listing->kvs), diff, nullptr);
      if (!diff.empty() || reset_pending_) {
        LeaseBatch batch{false, {}, std::move(diff), revision_};
        batch.store_reset = std::exchange(reset_pending_, false);
        SettleLater();
        return batch;
      }
      SettleLater();  // the listing itself was the burst
      continue;
    }

    std::unique_ptr<RegistryWatch>* current = nullptr;
    {
      std::lock_guard lock(watch_mu_);
      if (watch_) current = &watch_;
    }
    if (!current) {
      auto watch = registry_->Watch(dir_, revision_ + 1);
      if (!watch) {
        if (!outage_logged_ && log_)
          log_("watching leases failed, retrying: " + watch.error().message);
        outage_logged_ = true;
        need_list_ = true;  // see below
        WaitBackoff();
        continue;
      }
      SetWatch(std::move(watch).value());
      continue;
    }

    if (CheckStore()) continue;
    // Quiet long enough after a listing or a burst of events: what handling them used can go
    // back to the system. The receiver has had `settle_after_` to apply them.
    const auto now = std::chrono::steady_clock::now();
    if (settle_due_ && now >= settle_at_) {
      settle_due_ = false;
      on_settled_(!std::exchange(settled_once_, true));
    }
    const auto until = settle_due_ ? std::min(next_check_, settle_at_) : next_check_;
    const auto wait = std::max(std::chrono::milliseconds(0),
                               std::chrono::duration_cast<std::chrono::milliseconds>(until - now));
    // watch_ is only replaced on this thread, so reading through it without the lock is safe.
    auto batch = (*current)->NextWithin(wait);
    if (!batch) {
      if (stop_.stop_requested()) return Error::Cancelled("lease watch stopped");
      if (!outage_logged_ && log_) {
        log_("lease watch interrupted, listing the leases again once etcd answers: " +
             batch.error().message);
      }
      outage_logged_ = true;
      // List again rather than resume: etcd may come back restored from a backup whose history
      // other hosts have already written past our revision, which no header tells; the
      // listing's difference does (our key gone, a peer gone). Only the difference is reported.
      need_list_ = true;
      SetWatch(nullptr);
      // etcd may come back restored or wiped: look at it as soon as it answers again.
      next_check_ = {};
      WaitBackoff();
      continue;
    }
    const bool idle = batch->events.empty() && !batch->store_reset && batch->compact_revision == 0;
    if (idle) {
      // Nothing within the wait: time to look at the store. Also, on this wake-up that
      // exists anyway, for the receiver's periodic work (a full pass over the kernel's
      // routes) to give back what it used: it leaves no event behind to settle after.
      if (on_settled_ && settled_once_ && !settle_due_) on_settled_(false);
      continue;
    }
    if (outage_logged_ && log_) log_("lease watch resumed via " + registry_->Describe());
    outage_logged_ = false;
    delay_ = backoff_.initial;
    if (batch->store_reset) {
      StoreReset("the store is behind revision " + std::to_string(revision_) +
                 " where the watch resumed");
      continue;
    }
    if (batch->compact_revision > 0) {
      if (log_) {
        log_("lease watch fell behind a compaction at revision " +
             std::to_string(batch->compact_revision) + "; listing again");
      }
      SetWatch(nullptr);
      need_list_ = true;
      continue;
    }
    std::vector<LeaseEvent> out;
    for (const WatchEvent& ev : batch->events) {
      Apply(ev, out);
      revision_ = std::max(revision_, ev.kv.mod_revision);
    }
    revision_ = std::max(revision_, batch->revision);
    if (!out.empty()) {
      SettleLater();
      return LeaseBatch{false, {}, std::move(out), revision_};
    }
  }
}

}  // namespace tartan::store
