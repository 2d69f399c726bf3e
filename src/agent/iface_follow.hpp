// Following the external interface after start. The interface chosen at start (--iface & co)
// can be deleted and made again (a new index, and the kernel deletes a vxlan device bound to
// it), get another address or MTU, or go down and up. The agent runs the start's choice again
// when the kernel says something that may concern it, and DecideIface says what to do: keep
// going, hand the backend the interface as it is now (and write the lease again when the
// public IP moved), or wait, not ready, until the interface is usable again.
#pragma once

#include <string>

#include "agent/iface_select.hpp"
#include "backend/backend.hpp"
#include "common/result.hpp"
#include "kernel/monitor.hpp"
#include "kernel/rtnl.hpp"

namespace tartan::agent {

// What the kernel says now about the choice; gathered by LookAtInterface.
struct IfaceNow {
  // SelectExternalInterface run again with the start's choice.
  Result<backend::ExternalInterface> selected = Error::NotFound("not looked up");
  bool up = false;           // IFF_UP of the selected link (when `selected` is ok)
  bool name_exists = false;  // a link with the in-use interface's name exists
};

struct IfaceDecision {
  enum class Action {
    kKeep,    // usable and as in use: nothing to do
    kResume,  // usable again after a wait, and as in use: reconcile (a down link lost its routes)
    kRebind,  // usable but changed: the backend takes `ext`, then reconcile
    kWait,    // not usable: not ready with `reason`, nothing programmed until it is back
  };
  Action action = Action::kKeep;
  backend::ExternalInterface ext;  // kRebind: the interface as it is now
  std::string reason;              // kWait: for /readyz and the log
  std::string changes;             // kRebind: "index 3 -> 7, address 192.0.2.11 -> 192.0.2.21"
  bool public_ip_changed = false;  // kRebind: the lease must carry the new public IP
};

// `in_use`: the interface the backend works with; `waiting`: the agent is waiting for it.
IfaceDecision DecideIface(const backend::ExternalInterface& in_use, bool waiting,
                          const IfaceNow& now);

// Runs the choice against the kernel (a few netlink requests). A choice named by the operator
// (--iface, --iface-regex) is made again as at start. One made from routes (the default
// route's interface, --iface-can-reach) stays with `in_use` while that link exists: a default
// route that moves for a while (a VPN, a second uplink) must not move the host's public IP.
IfaceNow LookAtInterface(kernel::Rtnl& rtnl, const IfaceChoice& choice,
                         const backend::ExternalInterface& in_use);

// Whether a kernel notification may change what the choice finds: a change to the in-use
// link (by index or name) or its addresses, a lost notification; while waiting, any link,
// address or route change (the interface or its default route coming back). Neighbour and
// FDB churn never does.
bool MayConcernInterface(const kernel::KernelEvent& e, const backend::ExternalInterface& in_use,
                         bool waiting);

}  // namespace tartan::agent
