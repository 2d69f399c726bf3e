// The real things the agent runs on: netlink, its notifications, iptables, the steady clock.
#pragma once

#include <memory>

#include "agent/deps.hpp"
#include "common/result.hpp"

namespace tartan::agent {

struct SystemDeps {
  std::unique_ptr<kernel::Rtnl> rtnl;
  std::unique_ptr<KernelEventSource> events;  // null when notifications are unavailable
  SteadyClock clock;

  // The view RunAgent takes; valid while this object lives.
  Deps View(StoreFactory make_store);
};

// Opens netlink (fails when it cannot) and its notifications (a warning when they are
// unavailable: the periodic check still repairs).
Result<std::unique_ptr<SystemDeps>> OpenSystemDeps();

// MasqManager behind FirewallKeeper, with the tools found in PATH.
FirewallFactory IptablesFirewall();

}  // namespace tartan::agent
