// The agent: wiring and lifecycle of tartand (lease, subnet.env, peers, routes, health).
//
//   store ──watch──> inbox ──> peer table ──> backend.Desired() ──> reconciler ──> kernel
//   store <──keep alive── lease                         netlink events / tick ──┘
//
// One thread owns the peer table, the backend and the reconciler; the watch and the lease
// keeper run on their own threads and only post to the inbox. A stop (SIGTERM, SIGINT,
// SIGQUIT) cancels every wait; the agent exits 0 leaving routes and devices in place so that
// a restart does not interrupt pod traffic.
#pragma once

#include <functional>
#include <memory>
#include <stop_token>

#include "cmd/options.hpp"
#include "common/result.hpp"
#include "store/subnet_store.hpp"

namespace tartan::agent {

using StoreFactory = std::function<Result<std::unique_ptr<store::SubnetStore>>()>;

// Runs until `stop` is requested (returns 0) or a fatal error (returns 1, after saying why).
int RunAgent(const cmd::Options& options, const StoreFactory& make_store, std::stop_source stop);

}  // namespace tartan::agent
