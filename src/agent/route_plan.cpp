#include "agent/route_plan.hpp"

#include <map>
#include <tuple>

namespace tartan::agent {
namespace {

// Routes in the main table are identified by destination (tartan installs no metrics or TOS).
using RouteKey = std::tuple<uint32_t, net::Ip4Net>;
RouteKey KeyOf(const kernel::Route& r) { return {r.table, r.dst}; }

bool SameBehaviour(const kernel::Route& a, const kernel::Route& b) {
  return a.dst == b.dst && a.gateway == b.gateway && a.link_index == b.link_index &&
         a.onlink == b.onlink && a.scope == b.scope && a.protocol == b.protocol &&
         a.table == b.table && a.metric == b.metric && a.blackhole == b.blackhole;
}

}  // namespace

RoutePlan PlanRoutes(const std::vector<kernel::Route>& desired,
                     const std::vector<kernel::Route>& actual) {
  std::multimap<RouteKey, const kernel::Route*> have;
  for (const auto& r : actual) have.emplace(KeyOf(r), &r);

  RoutePlan plan;
  std::map<RouteKey, const kernel::Route*> want;
  for (const auto& r : desired) want.emplace(KeyOf(r), &r);

  for (const auto& [key, route] : want) {
    auto [lo, hi] = have.equal_range(key);
    bool satisfied = false;
    for (auto it = lo; it != hi; ++it) satisfied |= SameBehaviour(*it->second, *route);
    if (!satisfied) plan.replace.push_back(*route);
  }
  for (const auto& r : actual) {
    if (r.protocol != kernel::kTartanRouteProtocol) continue;
    // Not wanted at all, or wanted at another metric: a replace of the wanted route would not
    // overwrite one at a different metric, so it must go explicitly.
    auto it = want.find(KeyOf(r));
    if (it == want.end() || r.metric != it->second->metric) plan.remove.push_back(r);
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
