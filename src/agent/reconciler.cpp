#include "agent/reconciler.hpp"

#include <map>
#include <set>
#include <tuple>

#include "agent/route_plan.hpp"
#include "common/log.hpp"

namespace tartan::agent {
namespace {

template <typename T>
std::vector<T> OnLink(const std::vector<T>& entries, int link) {
  std::vector<T> out;
  for (const T& e : entries) {
    if (e.link_index == link) out.push_back(e);
  }
  return out;
}

}  // namespace

std::string Reconciler::Dev(int index) {
  auto link = rtnl_.GetLink(index);
  return link.ok() ? link->name : "#" + std::to_string(index);
}

void Reconciler::Report(bool ok, const std::string& what, const Status& status,
                        ReconcileStats& stats) {
  if (ok) {
    log::Info(what);
    stats.changes.push_back(what);
    return;
  }
  ++stats.failed;
  std::string line = what + " failed: " + status.error().message;
  failures_now_.insert(line);
  if (!failures_logged_.count(line)) log::Error(line);
}

std::string Reconciler::Describe(const RouteConflict& c) {
  const std::string wanted = c.wanted.ToString(Dev(c.wanted.link_index));
  const std::string existing = c.existing.ToString(Dev(c.existing.link_index));
  if (c.connected) {
    return "route " + wanted + " not installed: it overlaps " + existing +
           ", a network on one of this host's links, which tartan leaves alone";
  }
  return "route " + wanted + " not installed: the kernel has " + existing +
         ", which tartan did not install and leaves alone (delete it to let tartan route there)";
}

Result<ReconcileStats> Reconciler::Apply(const backend::DesiredState& desired,
                                         const std::vector<int>& owned_links) {
  ReconcileStats stats;
  failures_now_.clear();

  auto routes = rtnl_.ListRoutes({});
  if (!routes.ok()) return routes.error().Context("reading the kernel's routes");
  RoutePlan plan = PlanRoutes(desired.routes, *routes);

  // Each problem is said when it appears, not on every pass.
  std::set<std::string> problems(desired.problems.begin(), desired.problems.end());
  for (const RouteConflict& c : plan.conflicts) problems.insert(Describe(c));
  for (const auto& p : problems) {
    if (!problems_logged_.count(p)) log::Warning(p);
  }
  // ... and when it clears, once.
  for (const auto& p : problems_logged_) {
    if (!problems.count(p)) log::Info("resolved: " + p);
  }
  problems_logged_ = std::move(problems);
  stats.routes_missing = static_cast<int>(plan.conflicts.size());

  using SlotKey = std::tuple<uint32_t, net::Ip4Net, uint32_t>;
  auto slot = [](const kernel::Route& r) { return SlotKey{r.table, r.dst, r.metric}; };
  std::map<SlotKey, const kernel::Route*> existing;
  for (const auto& r : *routes) existing.emplace(slot(r), &r);
  std::set<SlotKey> adopted;
  for (const auto& r : plan.adopted) adopted.insert(slot(r));

  for (const kernel::Route& r : plan.remove) {
    Status s = rtnl_.DeleteRoute(r);
    if (s.ok()) {
      ++stats.removed;
      ++stats.by_kind["route_removed"];
    }
    Report(s.ok(), "route removed: " + r.ToString(Dev(r.link_index)), s, stats);
  }
  for (const kernel::Route& r : plan.replace) {
    auto it = existing.find(slot(r));
    const bool repair = it != existing.end();
    Status s = rtnl_.ReplaceRoute(r);
    if (s.ok()) {
      ++(repair ? stats.repaired : stats.added);
      ++stats.by_kind[repair ? "route_repaired" : "route_added"];
    } else {
      ++stats.routes_missing;
    }
    std::string what = "route added: " + r.ToString(Dev(r.link_index));
    if (repair) {
      const std::string was = it->second->ToString(Dev(it->second->link_index));
      what = adopted.count(slot(r))
                 ? "route adopted: " + r.ToString(Dev(r.link_index)) + " (was " + was +
                       ": the same path, as flanneld installs it; replaced in place)"
                 : "route repaired: " + r.ToString(Dev(r.link_index)) + " (was: " + was + ")";
    }
    Report(s.ok(), what, s, stats);
  }

  for (int link : owned_links) {
    const std::string dev = Dev(link);
    auto have_n = rtnl_.ListNeighbours(link);
    if (!have_n.ok()) return have_n.error().Context("reading the neighbours of " + dev);
    ApplyEntries(
        PlanNeighbours(OnLink(desired.neighbours, link), *have_n), "neighbour", "neighbour", dev,
        [this](const kernel::Neighbour& n) { return rtnl_.DeleteNeighbour(n); },
        [this](const kernel::Neighbour& n) { return rtnl_.ReplaceNeighbour(n); },
        stats.neighbours_missing, stats);

    auto have_f = rtnl_.ListFdb(link);
    if (!have_f.ok()) return have_f.error().Context("reading the FDB of " + dev);
    ApplyEntries(
        PlanFdb(OnLink(desired.fdb, link), *have_f), "fdb entry", "fdb", dev,
        [this](const kernel::FdbEntry& e) { return rtnl_.DeleteFdb(e); },
        [this](const kernel::FdbEntry& e) { return rtnl_.ReplaceFdb(e); }, stats.fdb_missing,
        stats);
  }

  for (const auto& f : failures_logged_) {
    if (!failures_now_.count(f)) log::Info("recovered: " + f.substr(0, f.find(" failed: ")));
  }
  failures_logged_ = failures_now_;
  return stats;
}

}  // namespace tartan::agent
