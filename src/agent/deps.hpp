// What the agent's loop is given from outside: the kernel, its notifications, the store, the
// firewall rule keeper and the clock. main wires the real ones (system_deps.hpp); unit tests
// wire FakeRtnl, the in-memory store, a fake keeper, a manual event source and clock.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "firewall/masq_manager.hpp"
#include "kernel/monitor.hpp"
#include "kernel/rtnl.hpp"
#include "net/ip.hpp"
#include "store/subnet_store.hpp"

namespace tartan::agent {

// Kernel change notifications (NetlinkMonitor in production): the loop polls fd() for
// readability, then calls Drain().
class KernelEventSource {
 public:
  virtual ~KernelEventSource() = default;
  virtual int fd() const = 0;
  // Every event queued so far, oldest first; ends with kResyncNeeded when some were lost.
  virtual Result<std::vector<kernel::KernelEvent>> Drain() = 0;
};

// Keeps the node's iptables rules for the current lease in place (MasqManager in production).
class FirewallKeeper {
 public:
  virtual ~FirewallKeeper() = default;
  // Repairs what is missing; the report lists the repairs.
  virtual Result<firewall::EnsureReport> Ensure() = 0;
  // Why MASQUERADE goes without --random-fully although asked; "" otherwise (said once).
  virtual std::string random_fully_note() const { return {}; }
};

// Creates the keeper for `network` and our lease's `subnet`; called again after every
// (re-)acquisition of the lease, since the rules name the subnet.
using FirewallFactory = std::function<Result<std::unique_ptr<FirewallKeeper>>(
    net::Ip4Net network, net::Ip4Net subnet, const firewall::MasqOptions& options)>;

using StoreFactory = std::function<Result<std::unique_ptr<store::SubnetStore>>()>;

// The loop's notion of now, for its periodic checks.
class Clock {
 public:
  using time_point = std::chrono::steady_clock::time_point;
  virtual ~Clock() = default;
  virtual time_point Now() const = 0;
};

class SteadyClock final : public Clock {
 public:
  time_point Now() const override { return std::chrono::steady_clock::now(); }
};

// Non-owning: whoever calls RunAgent keeps these alive until it returns.
struct Deps {
  kernel::Rtnl* rtnl = nullptr;
  KernelEventSource* events = nullptr;  // null: repairs happen on the periodic check only
  StoreFactory make_store;
  FirewallFactory make_firewall;
  const Clock* clock = nullptr;
  // Told every readiness change (besides /readyz): ready, or not with the reason. Optional.
  std::function<void(bool ready, const std::string& reason)> on_readiness;
};

}  // namespace tartan::agent
