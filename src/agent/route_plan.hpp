// What the reconciler must change so the kernel's routes match the desired ones.
//
// Ownership rule (docs/adr/0004-desired-state.md): tartan replaces a route when its
// destination is one it wants (whatever installed it: a route changed by hand, or left by
// flanneld before tartan took over the host, is repaired), and deletes only routes marked with
// tartan's own protocol number. Routes to any other destination are never touched.
#pragma once

#include <vector>

#include "kernel/types.hpp"

namespace tartan::agent {

struct RoutePlan {
  std::vector<kernel::Route> replace;  // add, or overwrite what the kernel has for that dst
  std::vector<kernel::Route> remove;   // tartan's own routes nobody wants any more

  bool empty() const { return replace.empty() && remove.empty(); }
};

// `actual` is the kernel's main table (all protocols). Only the fields that make a route
// behave differently are compared: destination, gateway, device, onlink, scope, protocol.
RoutePlan PlanRoutes(const std::vector<kernel::Route>& desired,
                     const std::vector<kernel::Route>& actual);

template <typename T>
struct EntryPlan {
  std::vector<T> replace;
  std::vector<T> remove;
  bool empty() const { return replace.empty() && remove.empty(); }
};

// Neighbours and FDB entries live on links the backend owns outright (flannel.1), so every
// entry there that is not desired is stale and goes. Entries are keyed by (link, ip) for
// neighbours and (link, mac) for FDB entries; a changed MAC or destination is a replace --
// and, for FDB, the old MAC's entry is removed (flannel leaves it behind).
EntryPlan<kernel::Neighbour> PlanNeighbours(const std::vector<kernel::Neighbour>& desired,
                                            const std::vector<kernel::Neighbour>& actual);
EntryPlan<kernel::FdbEntry> PlanFdb(const std::vector<kernel::FdbEntry>& desired,
                                    const std::vector<kernel::FdbEntry>& actual);

}  // namespace tartan::agent
