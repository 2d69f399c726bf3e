// Taking our lease off the agent's loop: while etcd is unreachable, or another host keeps our
// public IP (docs/adr/0013), the loop goes on reading kernel events, repairing routes and
// devices from the last known peers, checking firewall rules and answering /readyz; the
// acquisition posts each failed attempt and, in the end, the lease (docs/adr/0018).
#pragma once

#include <chrono>
#include <functional>
#include <stop_token>
#include <thread>
#include <vector>

#include "common/result.hpp"
#include "model/lease.hpp"
#include "model/network_config.hpp"
#include "store/subnet_store.hpp"

namespace tartan::agent {

class LeaseAcquisition {
 public:
  struct Params {
    store::SubnetStore* store = nullptr;
    model::NetworkConfig config;
    store::AcquireRequest request;
    // The previous lease's watch and keeper, already asked to stop: joined here before the
    // first attempt, so that nothing renews or watches the old lease while the new one is
    // taken, and the loop never waits for a store call in flight to end.
    std::vector<std::jthread> retired;
    std::chrono::milliseconds retry{5000};         // between failed attempts
    std::stop_token stop;                          // the agent's: ends the attempts (and the waits)
    std::function<void(model::Lease)> on_lease;    // once, from the worker thread
    std::function<void(const Error&)> on_failure;  // per failed attempt (not a cancellation)
  };

  // Starts the worker thread. It ends after on_lease, or when `stop` (or the destructor) asks.
  explicit LeaseAcquisition(Params params);
  // Asks the worker to stop and joins it: prompt once the agent's stop cancelled the store's
  // calls (SubnetStore::Shutdown), immediate when it already posted its lease.
  ~LeaseAcquisition() = default;
  LeaseAcquisition(const LeaseAcquisition&) = delete;
  LeaseAcquisition& operator=(const LeaseAcquisition&) = delete;

 private:
  static void Run(Params& p, const std::stop_token& own);
  std::jthread thread_;
};

}  // namespace tartan::agent
