// What tartand's main hands the agent: its Config from the flags, and the store factory.
#pragma once

#include <memory>

#include "agent/config.hpp"
#include "cmd/options.hpp"
#include "common/result.hpp"
#include "store/subnet_store.hpp"

namespace tartan::cmd {

// The agent's view of the (validated) flags, plus the TARTAN_CONFIG_RECHECK_SECONDS test knob.
// Fails on what the agent cannot serve (an IPv6 --healthz-ip).
Result<agent::Config> AgentConfig(const Options& options);

// The store over the etcd key spaces --etcd-api may use, given the endpoints ParseOptions
// already parsed. Fails only on bad options (unreadable TLS files); connecting happens lazily,
// retried by the store's calls.
Result<std::unique_ptr<store::SubnetStore>> MakeStore(const Options& options);

}  // namespace tartan::cmd
