// Registry-independent lease logic: key/value codecs for <prefix>/subnets and flannel's
// acquisition order, written over the small Registry interface so that it is unit-tested
// against memory/ and integration-tested against etcd with the same code.
#pragma once

#include <map>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <utility>

#include "common/result.hpp"
#include "model/allocator.hpp"
#include "model/lease.hpp"
#include "model/network_config.hpp"
#include "store/dup_ip.hpp"
#include "store/registry.hpp"
#include "store/subnet_store.hpp"

namespace tartan::store {

// "<prefix>/subnets/" -- flannel lists "<prefix>/subnets"; the slash keeps a sibling such as
// "<prefix>/subnets2" out of the listing.
std::string SubnetsDir(std::string_view prefix);
std::string LeaseKeyPath(std::string_view prefix, const model::SubnetKey& subnet);

// Parses one entry under SubnetsDir(prefix). The subnet comes from the key, the attributes
// from the JSON value, the lease id and revision from the store's metadata.
Result<model::SubnetKey> ParseLeaseKey(std::string_view key, std::string_view subnets_dir);
Result<model::Lease> ParseLease(const KeyValue& kv, std::string_view subnets_dir);

// Whether `subnet` could have been handed out under `config` (both families when dual-stack).
bool LeaseFits(const model::NetworkConfig& config, const model::SubnetKey& subnet);
// Whether an existing lease belongs to the host described by `ours` (flannel matches on the
// public address of the enabled family).
bool SameHost(const model::LeaseAttrs& existing, const model::LeaseAttrs& ours);

// Logs an unparseable entry once per (key, value): a bad key must be visible to the operator
// but must not flood the log on every re-list.
class GarbageLog {
 public:
  explicit GarbageLog(LogFn log) : log_(std::move(log)) {}
  void Report(const KeyValue& kv, const Error& why);

 private:
  LogFn log_;
  std::mutex mu_;
  std::set<std::pair<std::string, std::string>> seen_;
};

// Watches live leases with our public IP that are not recorded as ours, across acquisition
// attempts: one remaining-TTL reading per Check, decided by DecideDupIp.
class SharedIpGuard {
 public:
  SharedIpGuard(std::chrono::seconds heartbeat, std::chrono::seconds granted)
      : heartbeat_(heartbeat), granted_(granted) {}
  // kFailedPrecondition from the registry (it cannot tell) yields kOwnerGone: flannel's reuse.
  Result<DupIpVerdict> Check(Registry& registry, const KeyValue& kv, bool recorded_as_ours);
  // The last Check's verdict, when it was kWatch: the caller waits and tries again.
  const std::optional<DupIpVerdict>& watching() const { return watching_; }
  void ClearWatching() { watching_.reset(); }
  std::chrono::seconds heartbeat() const { return heartbeat_; }
  void set_granted(std::chrono::seconds granted) { granted_ = granted; }

 private:
  std::chrono::seconds heartbeat_;
  std::chrono::seconds granted_;
  std::map<std::pair<std::string, int64_t>, std::vector<TtlSample>> samples_;
  std::optional<DupIpVerdict> watching_;
};

// One acquisition (no retry on kUnavailable; the caller backs off). See
// SubnetStore::AcquireLease for the order. With `guard` and request.guard_shared_ip, a lease
// with our public IP that is not recorded as ours is taken only when its owner is gone; while
// that is not known yet it fails with kFailedPrecondition and guard->watching() set; while
// another host refreshes it, with kAlreadyExists.
Result<model::Lease> AcquireLeaseOnce(Registry& registry, std::string_view prefix,
                                      const model::NetworkConfig& config,
                                      const AcquireRequest& request,
                                      const model::RandomIndex& random_index, int max_attempts,
                                      const LogFn& log, GarbageLog& garbage,
                                      SharedIpGuard* guard = nullptr);

// One renewal attempt; see SubnetStore::RenewLease.
Result<model::Lease> RenewLeaseOnce(Registry& registry, std::string_view prefix,
                                    const model::Lease& lease);

}  // namespace tartan::store
