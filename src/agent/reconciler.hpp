// Makes the kernel match a backend's desired state: dump, plan (route_plan.hpp), apply, and
// say what changed. Stateless between passes but for what it has already told the operator,
// so a problem is logged when it appears, not on every pass.
#pragma once

#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "agent/route_plan.hpp"
#include "backend/backend.hpp"
#include "common/result.hpp"
#include "kernel/rtnl.hpp"

namespace tartan::agent {

struct ReconcileStats {
  int added = 0;
  int repaired = 0;
  int removed = 0;
  int failed = 0;
  // For /metrics and /status: entries set or removed by kind ("route_added", "route_repaired",
  // "route_removed", "neighbour_set", "neighbour_removed", "fdb_set", "fdb_removed"), the
  // desired entries not in the kernel after the pass (a failure, or a route in the way), and
  // the log lines of what was changed.
  std::map<std::string, int> by_kind;
  int routes_missing = 0;
  int neighbours_missing = 0;
  int fdb_missing = 0;
  std::vector<std::string> changes;
};

class Reconciler {
 public:
  explicit Reconciler(kernel::Rtnl& rtnl) : rtnl_(rtnl) {}

  // One pass. Fails only when the kernel's state could not be read; individual changes that
  // fail are counted in `failed`, logged once each, and retried on the next pass.
  Result<ReconcileStats> Apply(const backend::DesiredState& desired,
                               const std::vector<int>& owned_links);

  // What the last pass could not do and why -- the desired state's problems and the routes
  // not installed because a route tartan did not install is in the way -- sorted; each line
  // was logged once, when it first appeared. Shown as anomalies on /readyz.
  std::vector<std::string> problems() const {
    return {problems_logged_.begin(), problems_logged_.end()};
  }

 private:
  void Report(bool ok, const std::string& what, const Status& status, ReconcileStats& stats);
  // Removes, then sets, the entries of one plan; `noun` and `dev` are for the log lines.
  template <typename Plan, typename Remove, typename Set>
  void ApplyEntries(const Plan& plan, const std::string& noun, const std::string& kind,
                    const std::string& dev, Remove remove, Set set, int& missing,
                    ReconcileStats& stats) {
    for (const auto& e : plan.remove) {
      Status s = remove(e);
      if (s.ok()) {
        ++stats.removed;
        ++stats.by_kind[kind + "_removed"];
      }
      Report(s.ok(), noun + " removed: " + e.ToString(dev), s, stats);
    }
    for (const auto& e : plan.replace) {
      Status s = set(e);
      if (s.ok()) {
        ++stats.added;
        ++stats.by_kind[kind + "_set"];
      } else {
        ++missing;
      }
      Report(s.ok(), noun + " set: " + e.ToString(dev), s, stats);
    }
  }
  std::string Dev(int index);
  std::string Describe(const RouteConflict& c);

  kernel::Rtnl& rtnl_;
  std::set<std::string> problems_logged_;
  std::set<std::string> failures_logged_;
  std::set<std::string> failures_now_;
};

}  // namespace tartan::agent
