// What the reconciler must change so the kernel's routes match the desired ones.
//
// Ownership rule (docs/adr/0004-desired-state-and-ownership.md): tartan changes and deletes only
// routes marked with its own protocol number. A route another program installed -- a connected
// network, the default route, a routing daemon's or an operator's route -- is never replaced or
// deleted; a wanted route that would have to replace or sit beside one is not installed and is
// reported instead. The one exception is adoption: a route with flanneld's protocol ("boot") that
// goes to the same destination through the same gateway and device, at the same metric, is what
// flanneld left for the same peer; it is replaced in place (atomically, no gap in traffic) and is
// tartan's from then on.
#pragma once

#include <vector>

#include "kernel/types.hpp"

namespace tartan::agent {

// A wanted route that is not installed because a route tartan did not install is in its way.
struct RouteConflict {
  kernel::Route wanted;
  kernel::Route existing;
  // `existing` is one of the host's connected networks (protocol kernel, scope link), which the
  // wanted route overlaps; otherwise another program's route to the same destination.
  bool connected = false;

  bool operator==(const RouteConflict&) const = default;
};

struct RoutePlan {
  std::vector<kernel::Route> replace;  // add, or overwrite what the kernel has in that slot
  std::vector<kernel::Route> remove;   // tartan's own routes nobody wants any more
  // Routes flanneld left for the same peer, which `replace` takes over in place.
  std::vector<kernel::Route> adopted;
  std::vector<RouteConflict> conflicts;

  bool empty() const { return replace.empty() && remove.empty(); }
};

// `actual` is the kernel's main table (all protocols). Only the fields that make a route
// behave differently are compared: destination, gateway, device, onlink, scope, protocol.
// A wanted route is not installed (and tartan's own route to it removed) when
//  - it overlaps a connected network of the host (the host's own links always win), or
//  - the kernel's slot for it (table, destination, metric) holds another program's route that
//    is not flanneld's route for the same path, or
//  - another program has a route to the same destination at another metric and tartan has
//    none there yet (tartan would otherwise shadow it: a "0.0.0.0/0" peer over the default
//    route). When tartan's route was there first, a route added beside it is left alone.
RoutePlan PlanRoutes(const std::vector<kernel::Route>& desired,
                     const std::vector<kernel::Route>& actual);

// Whether `existing` is the route flanneld installed for the path `wanted` describes.
bool IsAdoptable(const kernel::Route& existing, const kernel::Route& wanted);

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
