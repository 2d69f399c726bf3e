// SubnetStore: what the agent needs from the cluster's shared store -- the network config, its
// own lease, and every peer's lease as a snapshot followed by changes.
//
// Everything that can wait takes a std::stop_token: when the agent requests stop (SIGTERM)
// every wait, backoff and blocked watch returns Error::Code::kCancelled promptly. While the
// store is unreachable the retry loops sleep with capped exponential backoff; nothing spins.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <stop_token>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"
#include "model/allocator.hpp"
#include "model/lease.hpp"
#include "model/network_config.hpp"
#include "store/dup_ip.hpp"
#include "store/registry.hpp"

namespace tartan::store {

// One line per event that matters to an operator; defaults to tartan::log::Info.
using LogFn = std::function<void(std::string_view line)>;
LogFn StderrLog();

// Capped exponential backoff between retries while the store is unreachable.
struct Backoff {
  std::chrono::milliseconds initial{200};
  std::chrono::milliseconds max{5000};
};

struct AcquireRequest {
  model::LeaseAttrs attrs;  // our PublicIP (and/or PublicIPv6), backend type and data
  // The subnet recorded in subnet.env by a previous run, reused when still free and fitting.
  std::optional<model::SubnetKey> previous_subnet;
  std::chrono::seconds ttl{86400};  // flannel's 24 h
  // Refuse a live lease with our public IP that another running host keeps refreshing
  // (docs/adr/0013); false: flannel's plain reuse by public IP.
  bool guard_shared_ip = false;
  // What this host recorded at its last acquisition: a lease it names is reused at once.
  std::optional<OwnerRecord> owner{};
  // etcd was restored from a snapshot or wiped since the record was written (docs/adr/0014):
  // the restored store holds our key on the etcd lease (v3) or createdIndex (v2) of the
  // snapshot's time, which the record cannot name, and restoring renews every lease, so the
  // key looks freshly refreshed. Then the record's subnet alone names our lease.
  bool after_store_reset = false;
};

struct LeaseSnapshot {
  std::vector<model::Lease> leases;  // sorted by subnet; unparseable entries left out
  int64_t revision = 0;
};

struct LeaseEvent {
  enum class Type { kAdded, kChanged, kRemoved };
  Type type = Type::kAdded;
  model::Lease lease;  // for kRemoved: the last known state of the removed lease

  bool operator==(const LeaseEvent&) const = default;
};

// What LeaseWatch::Next returns: first a full snapshot, then batches of events.
struct LeaseBatch {
  bool is_snapshot = false;
  std::vector<model::Lease> snapshot;  // only when is_snapshot
  std::vector<LeaseEvent> events;      // only when !is_snapshot; never empty then but below
  int64_t revision = 0;
  // etcd was restored from a backup or wiped (docs/adr/0014): `events` is the difference
  // against the new store (maybe none), and our own lease must be taken again at once, since
  // its key or its etcd lease may be gone even where a key for our subnet is listed.
  bool store_reset = false;
};

class LeaseWatch {
 public:
  virtual ~LeaseWatch() = default;
  // The first call returns the snapshot. Later calls block until at least one lease changed.
  // Reconnects (resuming at the right revision) and re-lists after a compaction internally,
  // reporting only the difference, so a peer is never reported removed while its key exists.
  // Returns kCancelled once the stop token passed to WatchLeases is triggered.
  virtual Result<LeaseBatch> Next() = 0;
};

class SubnetStore {
 public:
  virtual ~SubnetStore() = default;

  // Cancels store calls in flight (see Registry::Shutdown); for a stop request. Thread-safe.
  virtual void Shutdown() {}

  // The etcd API the store works through, "v2" or "v3"; "" while not (yet) known.
  virtual std::string Api() const { return {}; }

  // How often the agent refreshes its lease so that other hosts see it alive (docs/adr/0013);
  // 0: only at expiration minus the renew margin. Known once the API is (after the config).
  virtual std::chrono::seconds HeartbeatPeriod() const { return std::chrono::seconds(0); }

  // Reads <prefix>/config. While it is absent or the store is unreachable, logs why (with the
  // v2-vs-v3 hint) and retries every `retry` until `stop` is requested. A config that is present
  // but invalid is returned as an error at once (an operator must fix it).
  virtual Result<model::NetworkConfig> GetNetworkConfig(
      std::stop_token stop, std::chrono::milliseconds retry = std::chrono::seconds(1)) = 0;

  // One listing of <prefix>/subnets; unparseable keys or values are skipped (logged once).
  virtual Result<LeaseSnapshot> ListLeases() = 0;

  // Acquires our lease in flannel's reuse order: (1) an existing lease or reservation with our
  // PublicIP that fits `config` (with `guard_shared_ip`: a lease not recorded as ours only
  // when no other host keeps refreshing it -- the store watches it for up to DupIpWindow()
  // and returns kAlreadyExists, saying why, while another host does), (2) `previous_subnet` if free
  // and fitting, (3) a new subnet. New keys are created with a create-if-absent transaction on an
  // etcd lease of `ttl`; a lost race is retried with another subnet. Reservations keep no TTL.
  // Retries while the store is unreachable until `stop`. Errors: kExhausted (out of subnets),
  // kCancelled, others.
  virtual Result<model::Lease> AcquireLease(const model::NetworkConfig& config,
                                            const AcquireRequest& request,
                                            std::stop_token stop) = 0;

  // One renewal attempt: refreshes the etcd lease to its full TTL and returns the lease with
  // the new expiration (a reservation is returned unchanged). kNotFound ("revoked") when our
  // key was deleted, re-assigned, or its etcd lease is gone; kUnavailable when the store did
  // not answer (retry).
  virtual Result<model::Lease> RenewLease(const model::Lease& lease) = 0;

  // A watch over <prefix>/subnets. Our own lease appears in it like any other; a kRemoved
  // event for our subnet means our lease was revoked.
  virtual std::unique_ptr<LeaseWatch> WatchLeases(std::stop_token stop) = 0;
};

struct StoreOptions {
  std::string prefix = "/coreos.com/network";
  LogFn log;  // StderrLog() when empty
  Backoff backoff;
  model::RandomIndex random_index;  // a seeded std::mt19937_64 when empty
  // Attempts to create a new lease before giving up when other nodes keep winning the race.
  int max_create_attempts = 32;
  // The lease heartbeat (SubnetStore::HeartbeatPeriod); 0: the registry's default.
  std::chrono::seconds heartbeat{0};
  // How often an idle lease watch looks at the store for a restore or a wipe (docs/adr/0014).
  std::chrono::milliseconds store_check{std::chrono::seconds(10)};
  // Called on the lease-watch thread once the watch has been quiet for `settle_after` after a
  // listing or a batch of events was handed out: the moment to give back to the system what
  // handling them used (tartand: malloc_trim; see store/release_memory.hpp). `startup` is
  // true once, for the first listing. Afterwards also called (startup false) on each of the
  // idle watch's store checks (every `store_check`), for whatever periodic work the receiver
  // did. Empty: nothing is called.
  std::function<void(bool startup)> on_settled;
  std::chrono::milliseconds settle_after{std::chrono::seconds(2)};
};

// The SubnetStore over any Registry (etcd v3, memory).
std::unique_ptr<SubnetStore> NewSubnetStore(std::shared_ptr<Registry> registry,
                                            StoreOptions options);

// Keeps `lease` alive until `stop`: renews at expiration minus `margin`, and every
// `heartbeat` when that is non-zero (docs/adr/0013), retries failures
// with capped backoff, and returns when the lease was revoked (kNotFound) or `stop` was
// requested (kCancelled). `on_renewed` sees every renewed lease. A reservation never expires;
// it is only re-checked every 5 minutes so that its deletion is still noticed.
Status KeepLeaseAlive(SubnetStore& store, model::Lease lease, std::chrono::seconds margin,
                      std::stop_token stop,
                      const std::function<void(const model::Lease&)>& on_renewed,
                      const LogFn& log = {}, Backoff backoff = {},
                      std::chrono::seconds heartbeat = std::chrono::seconds(0));

// Sleeps `d` unless `stop` is requested first; returns false when stopped.
bool SleepFor(std::chrono::milliseconds d, const std::stop_token& stop);

}  // namespace tartan::store
