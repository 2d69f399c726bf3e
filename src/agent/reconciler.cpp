#include "agent/reconciler.hpp"

#include <map>

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
    return;
  }
  ++stats.failed;
  std::string line = what + " failed: " + status.error().message;
  failures_now_.insert(line);
  if (!failures_logged_.count(line)) log::Error(line);
}

Result<ReconcileStats> Reconciler::Apply(const backend::DesiredState& desired,
                                         const std::vector<int>& owned_links) {
  ReconcileStats stats;
  failures_now_.clear();

  std::set<std::string> problems(desired.problems.begin(), desired.problems.end());
  for (const auto& p : problems) {
    if (!problems_logged_.count(p)) log::Warning(p);
  }
  problems_logged_ = std::move(problems);

  auto routes = rtnl_.ListRoutes({});
  if (!routes.ok()) return routes.error().Context("reading the kernel's routes");
  RoutePlan plan = PlanRoutes(desired.routes, *routes);
  // By destination and metric: a route at another metric (a bridge's connected route beside a
  // --ip-blackhole-route) is not the one a replace overwrites.
  std::map<std::pair<net::Ip4Net, uint32_t>, const kernel::Route*> existing;
  for (const auto& r : *routes) existing.emplace(std::pair{r.dst, r.metric}, &r);

  for (const kernel::Route& r : plan.remove) {
    Status s = rtnl_.DeleteRoute(r);
    if (s.ok()) ++stats.removed;
    Report(s.ok(), "route removed: " + r.ToString(Dev(r.link_index)), s, stats);
  }
  for (const kernel::Route& r : plan.replace) {
    auto it = existing.find(std::pair{r.dst, r.metric});
    bool repair = it != existing.end();
    Status s = rtnl_.ReplaceRoute(r);
    if (s.ok()) ++(repair ? stats.repaired : stats.added);
    std::string what = repair
                           ? "route repaired: " + r.ToString(Dev(r.link_index)) +
                                 " (was: " + it->second->ToString(Dev(it->second->link_index)) + ")"
                           : "route added: " + r.ToString(Dev(r.link_index));
    Report(s.ok(), what, s, stats);
  }

  for (int link : owned_links) {
    const std::string dev = Dev(link);
    auto have_n = rtnl_.ListNeighbours(link);
    if (!have_n.ok()) return have_n.error().Context("reading the neighbours of " + dev);
    ApplyEntries(
        PlanNeighbours(OnLink(desired.neighbours, link), *have_n), "neighbour", dev,
        [this](const kernel::Neighbour& n) { return rtnl_.DeleteNeighbour(n); },
        [this](const kernel::Neighbour& n) { return rtnl_.ReplaceNeighbour(n); }, stats);

    auto have_f = rtnl_.ListFdb(link);
    if (!have_f.ok()) return have_f.error().Context("reading the FDB of " + dev);
    ApplyEntries(
        PlanFdb(OnLink(desired.fdb, link), *have_f), "fdb entry", dev,
        [this](const kernel::FdbEntry& e) { return rtnl_.DeleteFdb(e); },
        [this](const kernel::FdbEntry& e) { return rtnl_.ReplaceFdb(e); }, stats);
  }

  for (const auto& f : failures_logged_) {
    if (!failures_now_.count(f)) log::Info("recovered: " + f.substr(0, f.find(" failed: ")));
  }
  failures_logged_ = failures_now_;
  return stats;
}

}  // namespace tartan::agent
