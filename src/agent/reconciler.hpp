// Makes the kernel match a backend's desired state: dump, plan (route_plan.hpp), apply, and
// say what changed. Stateless between passes but for what it has already told the operator,
// so a problem is logged when it appears, not on every pass.
#pragma once

#include <array>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "agent/route_plan.hpp"
#include "backend/backend.hpp"
#include "common/result.hpp"
#include "kernel/monitor.hpp"
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

// The number of entries wanted, and of those wanted but not in the kernel as wanted, after the
// last full pass and the incremental changes since (for /metrics without a pass over the peers).
struct EntryTotals {
  size_t routes = 0, neighbours = 0, fdb = 0;
  int routes_missing = 0, neighbours_missing = 0, fdb_missing = 0;
};

class Reconciler {
 public:
  explicit Reconciler(kernel::Rtnl& rtnl) : rtnl_(rtnl) {}

  // One full pass. Fails only when the kernel's state could not be read; individual changes
  // that fail are counted in `failed`, logged once each, and retried on the next pass. Also
  // records what it saw and did, for ApplyDelta() and Unexpected().
  Result<ReconcileStats> Apply(const backend::DesiredState& desired,
                               const std::vector<int>& owned_links);

  // Incremental (docs/adr/0019-incremental-reconcile.md): one peer's entries were `before` and
  // are now `after` (Backend::DesiredPeer, problems included). Changes those entries only,
  // planned against what the last full pass saw plus what tartan did since: no dump, O(log N).
  // A new route goes in with an exclusive add, so a route another program put in its slot since
  // the last pass is never overwritten. What cannot be decided without a dump (another peer
  // wants the same destination, neighbour or MAC; the slot was taken; no full pass yet) sets
  // full_pass_needed() and is left to the next full pass.
  ReconcileStats ApplyDelta(const backend::DesiredState& before,
                            const backend::DesiredState& after);
  bool full_pass_needed() const { return full_pass_needed_; }

  // Whether a kernel notification tells something tartan does not know already, i.e. is not
  // the echo of its own change: another program's route, tartan's route or entry deleted or
  // changed by someone else, a learned neighbour on an owned link. Only those need a full pass.
  // Everything but routes, neighbours and FDB entries is unexpected.
  bool Unexpected(const kernel::KernelEvent& e) const;

  EntryTotals totals() const;
  // Changes whenever problems() does, so the caller re-publishes them only then.
  uint64_t problems_version() const { return problems_version_; }

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
  // Adds `delta` to each problem line's count of sources, logging the lines that appear and
  // the ones that clear.
  void CountProblems(const std::map<std::string, int>& delta);

  // Incremental bookkeeping: an entry tartan wants, how many peers want it (the first one's
  // value wins, as in a full pass) and whether the kernel has it as wanted.
  enum class State : uint8_t { kInstalled, kMissing, kBlocked };
  template <typename E>
  struct Slot {
    E entry;
    uint32_t claims = 0;
    State state = State::kMissing;
  };
  using RouteKey = std::pair<uint32_t, net::Ip4Net>;  // table, destination
  using NeighKey = std::pair<int, net::Ip4>;
  using FdbKey = std::pair<int, net::Mac>;
  // After a full pass over one link's neighbours or FDB: one claim per wanted entry, the
  // first claim's value kept, installed unless setting it failed.
  template <typename Key, typename E>
  static void IndexWanted(std::map<Key, Slot<E>>& index, const std::vector<E>& want,
                          const std::set<Key>& failed, Key (*key_of)(const E&)) {
    for (const E& e : want) {
      auto [it, fresh] = index.try_emplace(key_of(e));
      ++it->second.claims;
      if (!fresh) continue;
      it->second.entry = e;
      it->second.state = failed.count(it->first) ? State::kMissing : State::kInstalled;
    }
  }
  void DeltaRoute(const RouteKey& key, const kernel::Route* old, const kernel::Route* now,
                  std::map<std::string, int>& problems, ReconcileStats& stats);
  void DeltaNeighbour(const NeighKey& key, const kernel::Neighbour* old,
                      const kernel::Neighbour* now, ReconcileStats& stats);
  void DeltaFdb(const FdbKey& key, const kernel::FdbEntry* old, const kernel::FdbEntry* now,
                ReconcileStats& stats);

  kernel::Rtnl& rtnl_;
  bool indexed_ = false;  // a full pass filled what follows
  bool full_pass_needed_ = false;
  std::map<RouteKey, Slot<kernel::Route>> routes_;
  std::map<NeighKey, Slot<kernel::Neighbour>> neighbours_;
  std::map<FdbKey, Slot<kernel::FdbEntry>> fdb_;
  std::map<RouteKey, std::string> conflicts_;  // why a blocked route is not installed
  // Other programs' routes in the main table as the last pass saw them, and the connected ones.
  std::multimap<RouteKey, kernel::Route> foreign_;
  std::vector<kernel::Route> connected_;
  std::set<int> owned_;
  std::array<int, 3> missing_{};  // routes, neighbours, FDB entries not installed
  void CountMissing();
  std::map<int, std::string> dev_names_;  // for log lines; refreshed by every full pass
  std::map<std::string, int> problem_sources_;
  uint64_t problems_version_ = 0;
  std::set<std::string> problems_logged_;
  std::set<std::string> failures_logged_;
  std::set<std::string> failures_now_;
};

}  // namespace tartan::agent
