#include "agent/route_plan.hpp"

#include <algorithm>
#include <map>
#include <set>
#include <tuple>

namespace tartan::agent {
namespace {

// Routes in the main table are identified by destination (tartan installs no TOS); the metric
// tells apart routes to one destination, and a replace overwrites only the one at its metric.
using RouteKey = std::tuple<uint32_t, net::Ip4Net>;
RouteKey KeyOf(const kernel::Route& r) { return {r.table, r.dst}; }

bool SameBehaviour(const kernel::Route& a, const kernel::Route& b) {
  return a.dst == b.dst && a.gateway == b.gateway && a.link_index == b.link_index &&
         a.onlink == b.onlink && a.scope == b.scope && a.protocol == b.protocol &&
         a.table == b.table && a.metric == b.metric && a.type == b.type;
}

bool Ours(const kernel::Route& r) { return r.protocol == kernel::kTartanRouteProtocol; }

// A network on one of the host's links, as the kernel adds it for an address.
bool Connected(const kernel::Route& r) {
  return r.protocol == kernel::kRouteProtocolKernel && r.scope == kernel::RouteScope::kLink &&
         !r.gateway;
}

}  // namespace

bool IsAdoptable(const kernel::Route& existing, const kernel::Route& wanted) {
  return existing.protocol == kernel::kRouteProtocolBoot && existing.type == wanted.type &&
         existing.table == wanted.table && existing.dst == wanted.dst &&
         existing.metric == wanted.metric && existing.gateway == wanted.gateway &&
         existing.link_index == wanted.link_index;
}

RoutePlan PlanRoutes(const std::vector<kernel::Route>& desired,
                     const std::vector<kernel::Route>& actual) {
  std::multimap<RouteKey, const kernel::Route*> have;
  std::vector<const kernel::Route*> connected;
  for (const auto& r : actual) {
    have.emplace(KeyOf(r), &r);
    if (Connected(r)) connected.push_back(&r);
  }

  RoutePlan plan;
  std::map<RouteKey, const kernel::Route*> want;
  for (const auto& r : desired) want.emplace(KeyOf(r), &r);
  std::set<RouteKey> blocked;  // wanted, but not ours to install: our own route there goes

  for (const auto& entry : want) {
    // Named, not structured bindings: lambdas below capture them (clang before 16 refuses).
    const RouteKey& key = entry.first;
    const kernel::Route* route = entry.second;
    auto conflict = [&](const kernel::Route& existing) {
      plan.conflicts.push_back({*route, existing, Connected(existing)});
      blocked.insert(key);
    };
    auto [lo, hi] = have.equal_range(key);
    bool satisfied = false, ours_at_dst = false;
    const kernel::Route* in_slot = nullptr;  // another program's route at our metric
    const kernel::Route* beside = nullptr;   // another program's route at another metric
    for (auto it = lo; it != hi; ++it) {
      const kernel::Route& h = *it->second;
      if (Ours(h)) {
        ours_at_dst = true;
        satisfied |= SameBehaviour(h, *route);
      } else if (h.metric == route->metric) {
        in_slot = &h;
      } else if (beside == nullptr) {
        beside = &h;
      }
    }
    // A blackhole (--ip-blackhole-route) is a fallback at a high metric for our own subnet: it
    // is meant to sit beside the pod bridge's connected route and never shadows any other route,
    // so only another program's route in its exact slot blocks it.
    const bool fallback = route->type == kernel::kRouteTypeBlackhole;
    // Ours there as wanted: whatever another program added beside it stays, untouched.
    if (!satisfied) {
      if (in_slot != nullptr && !IsAdoptable(*in_slot, *route)) {
        conflict(*in_slot);
        continue;
      }
      if (in_slot == nullptr && beside != nullptr && !ours_at_dst && !fallback) {
        conflict(*beside);
        continue;
      }
    }
    // A device route with no gateway that strictly covers a connected network (udp's whole
    // Network into flannel0, around the pod bridge's own subnet) is meant to: the link's more
    // specific route keeps its traffic, so it is no conflict.
    const bool covering = !route->gateway && route->link_index != 0;
    auto on_link = std::find_if(connected.begin(), connected.end(), [&](const kernel::Route* c) {
      if (covering && route->dst.prefix_len() < c->dst.prefix_len() &&
          route->dst.Contains(c->dst)) {
        return false;
      }
      return c->table == route->table && c->dst.Overlaps(route->dst);
    });
    if (on_link != connected.end() && !fallback) {
      conflict(**on_link);
      continue;
    }
    if (satisfied) continue;
    if (in_slot != nullptr) plan.adopted.push_back(*in_slot);
    plan.replace.push_back(*route);
  }
  for (const auto& r : actual) {
    if (!Ours(r)) continue;
    // Not wanted at all, not ours to install, or wanted at another metric: a replace of the
    // wanted route would not overwrite one at a different metric, so it must go explicitly.
    auto it = want.find(KeyOf(r));
    if (it == want.end() || blocked.count(KeyOf(r)) || r.metric != it->second->metric) {
      plan.remove.push_back(r);
    }
  }
  return plan;
}

EntryPlan<kernel::Neighbour> PlanNeighbours(const std::vector<kernel::Neighbour>& desired,
                                            const std::vector<kernel::Neighbour>& actual) {
  using Key = std::pair<int, net::Ip4>;
  std::map<Key, const kernel::Neighbour*> have;
  for (const auto& n : actual) have.emplace(Key{n.link_index, n.ip}, &n);
  std::map<Key, const kernel::Neighbour*> want;
  for (const auto& n : desired) want.emplace(Key{n.link_index, n.ip}, &n);

  EntryPlan<kernel::Neighbour> plan;
  for (const auto& [key, n] : want) {
    auto it = have.find(key);
    if (it == have.end() || it->second->mac != n->mac || !it->second->permanent()) {
      plan.replace.push_back(*n);
    }
  }
  for (const auto& [key, n] : have) {
    if (!want.count(key)) plan.remove.push_back(*n);
  }
  return plan;
}

EntryPlan<kernel::FdbEntry> PlanFdb(const std::vector<kernel::FdbEntry>& desired,
                                    const std::vector<kernel::FdbEntry>& actual) {
  using Key = std::pair<int, net::Mac>;
  std::multimap<Key, const kernel::FdbEntry*> have;
  for (const auto& e : actual) have.emplace(Key{e.link_index, e.mac}, &e);
  std::map<Key, const kernel::FdbEntry*> want;
  for (const auto& e : desired) want.emplace(Key{e.link_index, e.mac}, &e);

  EntryPlan<kernel::FdbEntry> plan;
  for (const auto& [key, e] : want) {
    auto [lo, hi] = have.equal_range(key);
    bool satisfied = false;
    for (auto it = lo; it != hi; ++it) {
      const kernel::FdbEntry& h = *it->second;
      if (h.dst == e->dst && h.permanent == e->permanent && h.self == e->self) {
        satisfied = true;
      } else {
        plan.remove.push_back(h);  // same MAC pointing elsewhere (the peer moved)
      }
    }
    if (!satisfied) plan.replace.push_back(*e);
  }
  for (const auto& [key, e] : have) {
    if (!want.count(key)) plan.remove.push_back(*e);
  }
  return plan;
}

}  // namespace tartan::agent
