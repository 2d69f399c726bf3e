#include "agent/reconciler.hpp"

#include <map>

#include "agent/route_plan.hpp"
#include "common/log.hpp"

namespace tartan::agent {

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
  std::map<net::Ip4Net, const kernel::Route*> existing;
  for (const auto& r : *routes) existing.emplace(r.dst, &r);

  for (const kernel::Route& r : plan.remove) {
    Status s = rtnl_.DeleteRoute(r);
    if (s.ok()) ++stats.removed;
    Report(s.ok(), "route removed: " + r.ToString(Dev(r.link_index)), s, stats);
  }
  for (const kernel::Route& r : plan.replace) {
    auto it = existing.find(r.dst);
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
    std::vector<kernel::Neighbour> want_n;
    for (const auto& n : desired.neighbours) {
      if (n.link_index == link) want_n.push_back(n);
    }
    auto have_n = rtnl_.ListNeighbours(link);
    if (!have_n.ok()) return have_n.error().Context("reading the neighbours of " + Dev(link));
    auto nplan = PlanNeighbours(want_n, *have_n);
    for (const auto& n : nplan.remove) {
      Status s = rtnl_.DeleteNeighbour(n);
      if (s.ok()) ++stats.removed;
      Report(s.ok(), "neighbour removed: " + n.ToString(Dev(link)), s, stats);
    }
    for (const auto& n : nplan.replace) {
      Status s = rtnl_.ReplaceNeighbour(n);
      if (s.ok()) ++stats.added;
      Report(s.ok(), "neighbour set: " + n.ToString(Dev(link)), s, stats);
    }

    std::vector<kernel::FdbEntry> want_f;
    for (const auto& e : desired.fdb) {
      if (e.link_index == link) want_f.push_back(e);
    }
    auto have_f = rtnl_.ListFdb(link);
    if (!have_f.ok()) return have_f.error().Context("reading the FDB of " + Dev(link));
    auto fplan = PlanFdb(want_f, *have_f);
    for (const auto& e : fplan.remove) {
      Status s = rtnl_.DeleteFdb(e);
      if (s.ok()) ++stats.removed;
      Report(s.ok(), "fdb entry removed: " + e.ToString(Dev(link)), s, stats);
    }
    for (const auto& e : fplan.replace) {
      Status s = rtnl_.ReplaceFdb(e);
      if (s.ok()) ++stats.added;
      Report(s.ok(), "fdb entry set: " + e.ToString(Dev(link)), s, stats);
    }
  }

  for (const auto& f : failures_logged_) {
    if (!failures_now_.count(f)) log::Info("recovered: " + f.substr(0, f.find(" failed: ")));
  }
  failures_logged_ = failures_now_;
  return stats;
}

}  // namespace tartan::agent
