// What a running agent does when the network config in etcd changes under it.
//
// flanneld reads the config once and never looks again, so a change is silently ignored until
// the next restart -- when it can move every pod of the host to another subnet. tartand
// re-reads the config periodically and says, once per change, what it does about it: nothing
// needs doing, it applies the change (only what is safe live), or a restart is needed and why.
// The decision is a pure function, so every field's rule is unit-tested.
#pragma once

#include <string>

#include "model/network_config.hpp"
#include "net/ip.hpp"

namespace tartan::agent {

struct ConfigChange {
  enum class Action {
    kNone,           // nothing tartand acts on changed (e.g. an unknown field, or formatting)
    kApply,          // safe live: the running agent takes the new config as its own
    kRestartNeeded,  // the running state keeps the old config until tartand restarts
  };
  Action action = Action::kNone;
  // One line for the log: which fields changed from what to what, and what tartand does.
  std::string message;
};

// `running` is the config the agent set itself up with, `stored` the one now in etcd,
// `own_subnet` this host's lease.
ConfigChange DecideConfigChange(const model::NetworkConfig& running,
                                const model::NetworkConfig& stored, const net::Ip4Net& own_subnet);

}  // namespace tartan::agent
