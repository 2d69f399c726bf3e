// The LeaseWatch implementation over any Registry: list, then watch from the listing's
// revision + 1; on a broken connection or a compaction list again and report only the
// difference against what the caller already has. Between
// events it looks at the store every `store_check` (and at once after an outage): a store
// restored from a backup or wiped (store_reset.hpp) is listed again and the batch says so.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <stop_token>
#include <string>

#include "store/lease_logic.hpp"
#include "store/registry.hpp"
#include "store/subnet_store.hpp"

namespace tartan::store {

class RegistryLeaseWatch : public LeaseWatch {
 public:
  RegistryLeaseWatch(std::shared_ptr<Registry> registry, std::string prefix, LogFn log,
                     Backoff backoff, const std::stop_token& stop,
                     std::chrono::milliseconds store_check = std::chrono::seconds(10),
                     std::function<void(bool startup)> on_settled = {},
                     std::chrono::milliseconds settle_after = std::chrono::seconds(2));
  ~RegistryLeaseWatch() override;

  Result<LeaseBatch> Next() override;

 private:
  // Applies one registry event to known_; appends what the caller must hear to `out`.
  void Apply(const WatchEvent& event, std::vector<LeaseEvent>& out);
  // Replaces known_ with a fresh listing; appends the difference to `out`, and with `all`,
  // every lease listed. Takes the listing's entries so that they are freed as they are parsed.
  void Relist(std::vector<KeyValue> kvs, std::vector<LeaseEvent>& out,
              std::vector<model::Lease>* all);
  bool WaitBackoff();
  // The store is not the one followed so far: drop the watch, list again, say so in the batch.
  void StoreReset(const std::string& why);
  // Registry::Probe when due; true when it found the store reset.
  bool CheckStore();
  void SetWatch(std::unique_ptr<RegistryWatch> watch);
  // A listing or events were handed out: on_settled_ is due once the watch is quiet.
  void SettleLater();

  std::shared_ptr<Registry> registry_;
  std::string prefix_;
  std::string dir_;
  LogFn log_;
  Backoff backoff_;
  std::stop_token stop_;
  GarbageLog garbage_;

  // What the watcher remembers of a lease it reported: enough to tell whether a new value is
  // news and to report the lease's removal (its subnet, and for the receiver's log its public
  // IP and backend type); not the whole lease, which the receiver keeps (~120 instead of
  // ~320 bytes a peer).
  struct Known {
    std::optional<net::Ip4> public_ip;
    std::string backend_type;
    int64_t etcd_lease_id = 0;
    uint64_t fingerprint = 0;  // of what Differs compares
  };
  static Known Remember(const model::Lease& lease);
  static model::Lease Recall(const model::SubnetKey& subnet, const Known& known);

  std::map<model::SubnetKey, Known> known_;  // a subnet has one key
  int64_t revision_ = 0;                     // everything up to here has been applied
  bool snapshot_sent_ = false;
  bool need_list_ = true;
  std::chrono::milliseconds delay_;
  bool outage_logged_ = false;
  std::string cluster_id_;      // as last seen; "" until known
  bool reset_pending_ = false;  // the next batch tells the caller the store was reset
  std::chrono::milliseconds store_check_;
  std::string probe_key_;  // <prefix>/config: small, and there in every network
  std::chrono::steady_clock::time_point next_check_{};
  std::function<void(bool startup)> on_settled_;
  std::chrono::milliseconds settle_after_;
  bool settle_due_ = false;
  bool settled_once_ = false;
  std::chrono::steady_clock::time_point settle_at_{};

  std::mutex watch_mu_;  // guards watch_ against Cancel() from the stop callback
  std::unique_ptr<RegistryWatch> watch_;
  std::stop_callback<std::function<void()>> on_stop_;
};

}  // namespace tartan::store
