// The agent: wiring and lifecycle of tartand (lease, subnet.env, peers, routes, health).
//
//   store ──watch──> inbox ──> peer table ──> backend.Desired() ──> reconciler ──> kernel
//   store <──keep alive── lease                         netlink events / tick ──┘
//
// One thread owns the peer table, the backend and the reconciler; the watch and the lease
// keeper run on their own threads and only post to the inbox. A stop (SIGTERM, SIGINT,
// SIGQUIT) cancels every wait; the agent exits 0 leaving routes and devices in place so that
// a restart does not interrupt pod traffic.
//
// The kernel, its notifications, the store, the firewall keeper and the clock come from
// outside (deps.hpp): main wires the real ones, unit tests fakes.
#pragma once

#include <stop_token>

#include "agent/config.hpp"
#include "agent/deps.hpp"

namespace tartan::agent {

// Runs until `stop` is requested (returns 0) or a fatal error (returns 1, after saying why).
int RunAgent(const Config& config, const Deps& deps, std::stop_source stop);

}  // namespace tartan::agent
