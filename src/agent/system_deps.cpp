#include "agent/system_deps.hpp"

#include "common/log.hpp"
#include "kernel/monitor.hpp"
#include "kernel/netlink_rtnl.hpp"

namespace tartan::agent {
namespace {

class NetlinkEvents final : public KernelEventSource {
 public:
  explicit NetlinkEvents(kernel::NetlinkMonitor monitor) : monitor_(std::move(monitor)) {}
  int fd() const override { return monitor_.fd(); }
  Result<std::vector<kernel::KernelEvent>> Drain() override { return monitor_.Drain(); }

 private:
  kernel::NetlinkMonitor monitor_;
};

class MasqKeeper final : public FirewallKeeper {
 public:
  explicit MasqKeeper(firewall::MasqManager m) : m_(std::move(m)) {}
  Result<firewall::EnsureReport> Ensure() override { return m_.Ensure(); }
  std::string random_fully_note() const override { return m_.random_fully_note(); }

 private:
  firewall::MasqManager m_;
};

}  // namespace

Deps SystemDeps::View(StoreFactory make_store) {
  Deps d;
  d.rtnl = rtnl.get();
  d.events = events.get();
  d.make_store = std::move(make_store);
  d.make_firewall = IptablesFirewall();
  d.clock = &clock;
  return d;
}

Result<std::unique_ptr<SystemDeps>> OpenSystemDeps() {
  auto rtnl = kernel::NetlinkRtnl::Open();
  if (!rtnl.ok()) return Error::Unavailable("opening netlink: " + rtnl.error().message);
  auto deps = std::make_unique<SystemDeps>();
  deps->rtnl = std::make_unique<kernel::NetlinkRtnl>(std::move(*rtnl));
  auto monitor = kernel::NetlinkMonitor::Open();
  if (monitor.ok()) {
    deps->events = std::make_unique<NetlinkEvents>(std::move(*monitor));
  } else {
    log::Warning("kernel notifications unavailable (" + monitor.error().message +
                 "); repairs happen on the periodic check only");
  }
  return deps;
}

FirewallFactory IptablesFirewall() {
  return [](net::Ip4Net network, net::Ip4Net subnet,
            const firewall::MasqOptions& options) -> Result<std::unique_ptr<FirewallKeeper>> {
    auto m = firewall::MasqManager::Create(network, subnet, options);
    if (!m.ok()) return m.error();
    return std::unique_ptr<FirewallKeeper>(std::make_unique<MasqKeeper>(std::move(*m)));
  };
}

}  // namespace tartan::agent
