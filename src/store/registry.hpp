// The few primitives the lease logic needs from a key-value store with leases and a
// revisioned watch: etcd v3 (etcd3/), etcd v2 (etcd2/, docs/adr/0011), or an in-memory double
// for unit tests (memory/).
//
// Revisions follow etcd's model: one counter for the whole store, bumped by every write; a
// watch started at revision R sees every change with mod_revision >= R, unless R has been
// compacted away, in which case the watch says so and the caller must list again.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "model/lease.hpp"

namespace tartan::store {

struct KeyValue {
  std::string key;
  std::string value;
  int64_t lease = 0;  // 0: not attached to a lease
  int64_t create_revision = 0;
  int64_t mod_revision = 0;

  bool operator==(const KeyValue&) const = default;
};

struct RangeResult {
  std::vector<KeyValue> kvs;  // sorted by key
  int64_t revision = 0;       // the store revision the listing reflects
  std::string cluster_id;     // the answering cluster's ID; "" when the store has none
};

// Which store answered and how far its history goes, from a response's headers (etcd v3's
// header.cluster_id/revision, v2's X-Etcd-Cluster-Id/X-Etcd-Index). A store that only goes on
// from where it was keeps its cluster ID and never answers with a lower revision; one restored
// from a backup or wiped does (see store_reset.hpp, docs/adr/0014).
struct StoreMark {
  std::string cluster_id;  // "" when unknown
  int64_t revision = 0;    // 0 when unknown
};

struct WatchEvent {
  enum class Type { kPut, kDelete };
  Type type = Type::kPut;
  KeyValue kv;  // for kDelete only key and mod_revision (the deletion's revision) are set
};

struct WatchBatch {
  std::vector<WatchEvent> events;
  // Highest revision this batch covers; a caller resuming after a failure restarts at +1.
  int64_t revision = 0;
  // Non-zero when the start revision was compacted: history before it is gone, the watch has
  // ended, and the caller must list again and compute the difference itself.
  int64_t compact_revision = 0;
  // The store is behind the revision the watch started from: etcd was restored from a backup
  // or wiped and recreated. Its history is not ours; the watch has ended, and the caller must
  // list again, compute the difference and take its own lease again if it is gone.
  // (A store that only goes on from where it was never sets this.)
  bool store_reset = false;
};

class RegistryWatch {
 public:
  virtual ~RegistryWatch() = default;
  // Blocks until events arrive, the watch is compacted, fails, or is cancelled.
  // Errors: kCancelled after Cancel(); kUnavailable when the connection broke (re-watch from
  // the last revision + 1); others (e.g. kPermissionDenied) are not worth retrying quickly.
  virtual Result<WatchBatch> Next() = 0;
  // Like Next(), but gives up after about `max_wait` without news and returns an empty batch
  // (no events, no flags), the watch still going: a watch resumed on a store restored to an
  // older revision waits silently, so the caller looks at the store (Registry::Probe) in
  // between. The default waits as long as Next() does.
  virtual Result<WatchBatch> NextWithin(std::chrono::milliseconds max_wait) {
    (void)max_wait;
    return Next();
  }
  // Thread-safe, idempotent; makes a blocked or later Next() return kCancelled promptly.
  virtual void Cancel() = 0;
};

struct LeaseGrant {
  int64_t id = 0;
  std::chrono::seconds ttl{0};
};

class Registry {
 public:
  virtual ~Registry() = default;

  // std::nullopt when the key does not exist.
  virtual Result<std::optional<KeyValue>> Get(const std::string& key) = 0;
  // Every key starting with `prefix`, and the revision of that consistent snapshot.
  virtual Result<RangeResult> List(const std::string& prefix) = 0;

  virtual Result<LeaseGrant> GrantLease(std::chrono::seconds ttl) = 0;
  // Deletes the lease and every key attached to it. Revoking an unknown lease is not an error.
  virtual Status RevokeLease(int64_t id) = 0;
  // Refreshes the lease to its granted TTL and returns that TTL; kNotFound when it expired or
  // was revoked.
  virtual Result<std::chrono::seconds> KeepAlive(int64_t id) = 0;

  // Telling a running owner of a lease from a gone one (docs/adr/0013):
  // The seconds the key `kv` (as listed) has left before it expires; std::nullopt when it
  // does not expire, is gone, or was replaced since it was listed. kFailedPrecondition when
  // the store cannot tell.
  virtual Result<std::optional<std::chrono::seconds>> RemainingTtl(const KeyValue& kv) {
    (void)kv;
    return Error::FailedPrecondition(Describe() + " cannot tell a key's remaining TTL");
  }
  // An identity of the key's holder that stays while it renews and changes when another
  // process re-writes the key: the etcd lease ID (v3). See etcd2/ for v2's.
  virtual int64_t OwnerToken(const KeyValue& kv) const { return kv.lease; }
  // How often a running agent refreshes its lease so that another host can see it alive.
  virtual std::chrono::seconds HeartbeatPeriod() const { return std::chrono::seconds(10); }

  // Writes key=value attached to `lease` (0 = none) if and only if the key's mod_revision
  // equals `expected_mod_revision`, where 0 means "the key does not exist" (etcd's
  // Version(key)==0). Returns the write's revision, or std::nullopt when the condition failed.
  virtual Result<std::optional<int64_t>> PutIf(const std::string& key, const std::string& value,
                                               int64_t lease, int64_t expected_mod_revision) = 0;

  // Starts watching every key under `prefix` from `start_revision` (inclusive).
  virtual Result<std::unique_ptr<RegistryWatch>> Watch(const std::string& prefix,
                                                       int64_t start_revision) = 0;

  // The store's identity and current revision, from the cheapest linearizable read of `key`
  // (whether it exists does not matter): the revision is at least that of anything read or
  // watched before. For noticing a store restored or wiped while a watch has nothing to say.
  // The default (test doubles) knows nothing: kFailedPrecondition.
  virtual Result<StoreMark> Probe(const std::string& key) {
    (void)key;
    return Error::FailedPrecondition(Describe() + ": cannot probe the store");
  }

  // The lease value shape flanneld writes in this key space: the current one (etcd v3), or
  // v0.11's (etcd v2). Lease values are written in it; any shape is read.
  virtual model::LeaseShape LeaseValueShape() const { return model::LeaseShape::kCurrent; }

  // Where the data lives, for log lines and error messages ("etcd http://10.0.0.1:2379").
  virtual std::string Describe() const = 0;

  // Cancels every call in flight and makes later calls fail with kCancelled at once, so a
  // stopping agent is not held by a request to an unreachable member. Irreversible.
  virtual void Shutdown() {}
};

}  // namespace tartan::store
