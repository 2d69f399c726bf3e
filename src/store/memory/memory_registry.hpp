// An in-memory Registry with etcd's semantics (one revision counter, leases that delete their
// keys, compaction, watches that resume by revision), plus knobs tests use to inject what a
// real cluster does: outages, compactions, foreign writes, lease expiry.
#pragma once

#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <set>

#include "store/registry.hpp"

namespace tartan::store {

class MemoryRegistry : public Registry, public std::enable_shared_from_this<MemoryRegistry> {
 public:
  static std::shared_ptr<MemoryRegistry> Create();

  Result<std::optional<KeyValue>> Get(const std::string& key) override;
  Result<RangeResult> List(const std::string& prefix) override;
  Result<LeaseGrant> GrantLease(std::chrono::seconds ttl) override;
  Status RevokeLease(int64_t id) override;
  Result<std::chrono::seconds> KeepAlive(int64_t id) override;
  Result<std::optional<int64_t>> PutIf(const std::string& key, const std::string& value,
                                       int64_t lease, int64_t expected_mod_revision) override;
  Result<std::unique_ptr<RegistryWatch>> Watch(const std::string& prefix,
                                               int64_t start_revision) override;
  Result<std::optional<std::chrono::seconds>> RemainingTtl(const KeyValue& kv) override;
  std::chrono::seconds HeartbeatPeriod() const override { return heartbeat_; }
  Result<StoreMark> Probe(const std::string& key) override;
  std::string Describe() const override { return "memory registry"; }
  model::LeaseShape LeaseValueShape() const override { return shape_; }

  // Test knobs.
  void SetLeaseValueShape(model::LeaseShape shape) { shape_ = shape; }
  void SetHeartbeatPeriod(std::chrono::seconds period) { heartbeat_ = period; }
  // Makes lease `id` look last refreshed `by` earlier (its remaining TTL drops by as much).
  void AgeLease(int64_t id, std::chrono::seconds by);
  int64_t Put(const std::string& key, const std::string& value, int64_t lease = 0);
  int64_t Delete(const std::string& key);  // returns the revision (unchanged when absent)
  void Compact(int64_t revision);          // drops history before `revision`
  // While unavailable every call fails with kUnavailable and open watches break.
  void SetAvailable(bool available);
  // An etcd restored or wiped: keys, leases and history gone, the revision back at 1, open
  // watches broken (the member restarted).
  void Wipe();
  // etcdctl snapshot save / restore: the keys, leases and revision at Save(); Restore() puts
  // them back (no history before it) under `cluster_id`. With `break_watches` false, open
  // watches stay connected (as through a proxy that hid the restart): only looking at the
  // store can tell.
  struct State {
    std::map<std::string, KeyValue> kvs;
    std::map<int64_t, std::chrono::seconds> leases;
    int64_t revision = 1;
  };
  State Save() const;
  void Restore(const State& state, std::string cluster_id, bool break_watches);
  void SetClusterId(std::string id);  // what List and Probe report; "" by default
  int64_t revision() const;
  size_t lease_count() const;
  // Counts calls, so tests can assert that nothing polls in a loop during an outage.
  int64_t call_count() const;

 private:
  struct Change {
    int64_t revision;
    WatchEvent event;
  };
  class MemoryWatch;
  friend class MemoryWatch;

  MemoryRegistry() = default;
  Status Enter();  // counts the call; kUnavailable while unavailable
  int64_t PutLocked(const std::string& key, const std::string& value, int64_t lease);
  int64_t DeleteLocked(const std::string& key);

  mutable std::mutex mu_;
  std::condition_variable_any changed_;
  bool available_ = true;
  int64_t generation_ = 0;  // bumped by every outage, so watches opened before it break
  int64_t revision_ = 1;    // etcd starts at 1
  int64_t compacted_ = 0;
  int64_t next_lease_ = 0x1000;
  int64_t calls_ = 0;
  model::LeaseShape shape_ = model::LeaseShape::kCurrent;
  std::string cluster_id_;
  std::map<std::string, KeyValue> kvs_;
  std::map<int64_t, std::chrono::seconds> leases_;
  std::map<int64_t, std::chrono::steady_clock::time_point> refreshed_;
  std::chrono::seconds heartbeat_{10};
  std::deque<Change> history_;
};

}  // namespace tartan::store
