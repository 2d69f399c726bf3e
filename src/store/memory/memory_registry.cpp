#include "store/memory/memory_registry.hpp"

#include <atomic>
#include <optional>
#include <vector>

namespace tartan::store {

class MemoryRegistry::MemoryWatch : public RegistryWatch {
 public:
  MemoryWatch(std::shared_ptr<MemoryRegistry> reg, std::string prefix, int64_t start,
              int64_t generation)
      : reg_(std::move(reg)), prefix_(std::move(prefix)), next_(start), generation_(generation) {}

  Result<WatchBatch> Next() override { return Wait(std::nullopt); }
  Result<WatchBatch> NextWithin(std::chrono::milliseconds max_wait) override {
    return Wait(std::chrono::steady_clock::now() + max_wait);
  }

  Result<WatchBatch> Wait(std::optional<std::chrono::steady_clock::time_point> deadline) {
    std::unique_lock lock(reg_->mu_);
    while (true) {
      if (cancelled_) return Error::Cancelled("memory watch cancelled");
      if (reg_->generation_ != generation_ || !reg_->available_) {
        return Error::Unavailable("memory registry: connection lost");
      }
      // As etcd's "created" header: a store behind where the watch starts was reset.
      if (first_ && next_ - 1 > reg_->revision_) {
        WatchBatch b;
        b.store_reset = true;
        return b;
      }
      first_ = false;
      if (next_ < reg_->compacted_) {
        WatchBatch b;
        b.compact_revision = reg_->compacted_;
        return b;
      }
      WatchBatch b;
      for (const Change& c : reg_->history_) {
        if (c.revision < next_ || c.event.kv.key.rfind(prefix_, 0) != 0) continue;
        b.events.push_back(c.event);
        b.revision = c.revision;
      }
      next_ = reg_->revision_ + 1;
      if (!b.events.empty()) return b;
      if (!deadline) {
        reg_->changed_.wait(lock);
      } else if (reg_->changed_.wait_until(lock, *deadline) == std::cv_status::timeout) {
        return WatchBatch{};
      }
    }
  }

  void Cancel() override {
    std::lock_guard lock(reg_->mu_);
    cancelled_ = true;
    reg_->changed_.notify_all();
  }

 private:
  std::shared_ptr<MemoryRegistry> reg_;
  std::string prefix_;
  int64_t next_;
  int64_t generation_;
  bool cancelled_ = false;  // guarded by reg_->mu_
  bool first_ = true;
};

std::shared_ptr<MemoryRegistry> MemoryRegistry::Create() {
  return std::shared_ptr<MemoryRegistry>(new MemoryRegistry());
}

Status MemoryRegistry::Enter() {
  ++calls_;
  if (!available_) return Error::Unavailable("memory registry: unavailable");
  return Status::Ok();
}

Result<std::optional<KeyValue>> MemoryRegistry::Get(const std::string& key) {
  std::lock_guard lock(mu_);
  if (auto s = Enter(); !s) return s.error();
  auto it = kvs_.find(key);
  if (it == kvs_.end()) return std::optional<KeyValue>();
  return std::optional<KeyValue>(it->second);
}

Result<RangeResult> MemoryRegistry::List(const std::string& prefix) {
  std::lock_guard lock(mu_);
  if (auto s = Enter(); !s) return s.error();
  RangeResult r;
  r.revision = revision_;
  r.cluster_id = cluster_id_;
  for (auto it = kvs_.lower_bound(prefix); it != kvs_.end() && it->first.rfind(prefix, 0) == 0;
       ++it) {
    r.kvs.push_back(it->second);
  }
  return r;
}

Result<StoreMark> MemoryRegistry::Probe(const std::string& key) {
  (void)key;
  std::lock_guard lock(mu_);
  if (auto s = Enter(); !s) return s.error();
  return StoreMark{cluster_id_, revision_};
}

Result<LeaseGrant> MemoryRegistry::GrantLease(std::chrono::seconds ttl) {
  std::lock_guard lock(mu_);
  if (auto s = Enter(); !s) return s.error();
  int64_t id = next_lease_++;
  leases_[id] = ttl;
  refreshed_[id] = std::chrono::steady_clock::now();
  return LeaseGrant{id, ttl};
}

Status MemoryRegistry::RevokeLease(int64_t id) {
  std::lock_guard lock(mu_);
  if (auto s = Enter(); !s) return s;
  if (leases_.erase(id) == 0) return Status::Ok();
  std::vector<std::string> doomed;
  for (const auto& [key, kv] : kvs_) {
    if (kv.lease == id) doomed.push_back(key);
  }
  for (const auto& key : doomed) DeleteLocked(key);
  return Status::Ok();
}

Result<std::chrono::seconds> MemoryRegistry::KeepAlive(int64_t id) {
  std::lock_guard lock(mu_);
  if (auto s = Enter(); !s) return s.error();
  auto it = leases_.find(id);
  if (it == leases_.end()) return Error::NotFound("memory registry: lease not found");
  refreshed_[id] = std::chrono::steady_clock::now();
  return it->second;
}

Result<std::optional<std::chrono::seconds>> MemoryRegistry::RemainingTtl(const KeyValue& kv) {
  std::lock_guard lock(mu_);
  if (auto s = Enter(); !s) return s.error();
  auto it = leases_.find(kv.lease);
  if (kv.lease == 0 || it == leases_.end()) return std::optional<std::chrono::seconds>();
  const auto age = std::chrono::steady_clock::now() - refreshed_[kv.lease];
  // Whole seconds, rounded down, as etcd answers.
  return std::optional<std::chrono::seconds>(
      std::chrono::duration_cast<std::chrono::seconds>(it->second - age));
}

void MemoryRegistry::AgeLease(int64_t id, std::chrono::seconds by) {
  std::lock_guard lock(mu_);
  refreshed_[id] -= by;
}

Result<std::optional<int64_t>> MemoryRegistry::PutIf(const std::string& key,
                                                     const std::string& value, int64_t lease,
                                                     int64_t expected_mod_revision) {
  std::lock_guard lock(mu_);
  if (auto s = Enter(); !s) return s.error();
  if (lease != 0 && !leases_.contains(lease)) {
    return Error::NotFound("memory registry: requested lease not found");
  }
  auto it = kvs_.find(key);
  const int64_t current = it == kvs_.end() ? 0 : it->second.mod_revision;
  if (current != expected_mod_revision) return std::optional<int64_t>();
  return std::optional<int64_t>(PutLocked(key, value, lease));
}

Result<std::unique_ptr<RegistryWatch>> MemoryRegistry::Watch(const std::string& prefix,
                                                             int64_t start_revision) {
  std::lock_guard lock(mu_);
  if (auto s = Enter(); !s) return s.error();
  return std::unique_ptr<RegistryWatch>(
      new MemoryWatch(shared_from_this(), prefix, start_revision, generation_));
}

int64_t MemoryRegistry::PutLocked(const std::string& key, const std::string& value, int64_t lease) {
  const int64_t rev = ++revision_;
  KeyValue& kv = kvs_[key];
  if (kv.key.empty()) {
    kv.key = key;
    kv.create_revision = rev;
  }
  kv.value = value;
  kv.lease = lease;
  kv.mod_revision = rev;
  history_.push_back({rev, {WatchEvent::Type::kPut, kv}});
  changed_.notify_all();
  return rev;
}

int64_t MemoryRegistry::DeleteLocked(const std::string& key) {
  auto it = kvs_.find(key);
  if (it == kvs_.end()) return revision_;
  const int64_t rev = ++revision_;
  KeyValue gone;
  gone.key = key;
  gone.mod_revision = rev;
  kvs_.erase(it);
  history_.push_back({rev, {WatchEvent::Type::kDelete, gone}});
  changed_.notify_all();
  return rev;
}

int64_t MemoryRegistry::Put(const std::string& key, const std::string& value, int64_t lease) {
  std::lock_guard lock(mu_);
  if (lease != 0 && leases_.try_emplace(lease, std::chrono::seconds(60)).second) {
    refreshed_[lease] = std::chrono::steady_clock::now();
  }
  return PutLocked(key, value, lease);
}

int64_t MemoryRegistry::Delete(const std::string& key) {
  std::lock_guard lock(mu_);
  return DeleteLocked(key);
}

void MemoryRegistry::Compact(int64_t revision) {
  std::lock_guard lock(mu_);
  compacted_ = std::max(compacted_, revision);
  while (!history_.empty() && history_.front().revision < compacted_) history_.pop_front();
  changed_.notify_all();
}

void MemoryRegistry::SetAvailable(bool available) {
  std::lock_guard lock(mu_);
  if (available_ && !available) ++generation_;
  available_ = available;
  changed_.notify_all();
}

void MemoryRegistry::Wipe() {
  std::lock_guard lock(mu_);
  ++generation_;
  kvs_.clear();
  leases_.clear();
  refreshed_.clear();
  history_.clear();
  revision_ = 1;
  compacted_ = 0;
  changed_.notify_all();
}

MemoryRegistry::State MemoryRegistry::Save() const {
  std::lock_guard lock(mu_);
  return State{kvs_, leases_, revision_};
}

void MemoryRegistry::Restore(const State& state, std::string cluster_id, bool break_watches) {
  std::lock_guard lock(mu_);
  if (break_watches) ++generation_;
  kvs_ = state.kvs;
  leases_ = state.leases;
  history_.clear();
  revision_ = state.revision;
  compacted_ = state.revision;  // a restored member keeps no history before its snapshot
  cluster_id_ = std::move(cluster_id);
  changed_.notify_all();
}

void MemoryRegistry::SetClusterId(std::string id) {
  std::lock_guard lock(mu_);
  cluster_id_ = std::move(id);
}

int64_t MemoryRegistry::revision() const {
  std::lock_guard lock(mu_);
  return revision_;
}

size_t MemoryRegistry::lease_count() const {
  std::lock_guard lock(mu_);
  return leases_.size();
}

int64_t MemoryRegistry::call_count() const {
  std::lock_guard lock(mu_);
  return calls_;
}

}  // namespace tartan::store
