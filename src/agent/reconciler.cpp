#include "agent/reconciler.hpp"

#include <map>
#include <set>
#include <tuple>
#include <variant>

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
  if (auto it = dev_names_.find(index); it != dev_names_.end()) return it->second;
  auto link = rtnl_.GetLink(index);
  std::string name = link.ok() ? link->name : "#" + std::to_string(index);
  if (link.ok()) dev_names_.emplace(index, name);
  return name;
}

void Reconciler::CountProblems(const std::map<std::string, int>& delta) {
  for (const auto& [line, n] : delta) {
    if (n == 0) continue;
    int& count = problem_sources_[line];
    const int was = count;
    count += n;
    if (count <= 0) {
      problem_sources_.erase(line);
      if (was > 0) {
        log::Info("resolved: " + line);
        problems_logged_.erase(line);
        ++problems_version_;
      }
    } else if (was <= 0) {
      log::Warning(line);
      problems_logged_.insert(line);
      ++problems_version_;
    }
  }
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
  dev_names_.clear();
  indexed_ = false;  // until this pass has read everything

  auto routes = rtnl_.ListRoutes({});
  if (!routes.ok()) return routes.error().Context("reading the kernel's routes");
  RoutePlan plan = PlanRoutes(desired.routes, *routes);

  // Each problem is said when it appears, not on every pass, and when it clears, once.
  // Counted by source, so that an incremental change can take back one peer's lines.
  std::map<std::string, int> sources;
  for (const auto& p : desired.problems) ++sources[p];
  conflicts_.clear();
  for (const RouteConflict& c : plan.conflicts) {
    std::string line = Describe(c);
    ++sources[line];
    conflicts_.emplace(RouteKey{c.wanted.table, c.wanted.dst}, std::move(line));
  }
  std::map<std::string, int> delta;
  for (const auto& [line, n] : problem_sources_) delta[line] -= n;
  for (const auto& [line, n] : sources) delta[line] += n;
  CountProblems(delta);
  stats.routes_missing = static_cast<int>(plan.conflicts.size());

  using SlotKey = std::tuple<uint32_t, net::Ip4Net, uint32_t>;
  auto slot = [](const kernel::Route& r) { return SlotKey{r.table, r.dst, r.metric}; };
  std::map<SlotKey, const kernel::Route*> existing;
  for (const auto& r : *routes) existing.emplace(slot(r), &r);
  std::set<SlotKey> adopted;
  for (const auto& r : plan.adopted) adopted.insert(slot(r));

  std::set<SlotKey> failed;  // wanted, but the kernel refused it
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
      failed.insert(slot(r));
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

  // Nexthops of tartan's that no route uses any more (a peer gone or moved since the last
  // pass; ADR 0021). Harmless while they stay, so a failure here is only reported.
  if (Status d = rtnl_.DropUnusedNexthops(); !d.ok()) {
    Report(false, "unused nexthops removed", d, stats);
  }

  // What the pass leaves in the kernel, for the incremental changes until the next one.
  routes_.clear();
  for (const kernel::Route& r : desired.routes) {
    const RouteKey key{r.table, r.dst};
    auto [it, fresh] = routes_.try_emplace(key);
    ++it->second.claims;
    if (!fresh) continue;  // the first wins, as in PlanRoutes
    it->second.entry = r;
    it->second.state = conflicts_.count(key)   ? State::kBlocked
                       : failed.count(slot(r)) ? State::kMissing
                                               : State::kInstalled;
  }
  foreign_.clear();
  connected_.clear();
  for (const kernel::Route& r : *routes) {
    if (r.protocol == kernel::kTartanRouteProtocol) continue;
    if (r.protocol == kernel::kRouteProtocolKernel && r.scope == kernel::RouteScope::kLink &&
        !r.gateway) {
      connected_.push_back(r);
    }
    // An adopted route is tartan's now.
    auto it = routes_.find(RouteKey{r.table, r.dst});
    if (adopted.count(slot(r)) && it != routes_.end() && it->second.state == State::kInstalled) {
      continue;
    }
    foreign_.emplace(RouteKey{r.table, r.dst}, r);
  }
  neighbours_.clear();
  fdb_.clear();
  owned_ = std::set<int>(owned_links.begin(), owned_links.end());

  for (int link : owned_links) {
    const std::string dev = Dev(link);
    auto have_n = rtnl_.ListNeighbours(link);
    if (!have_n.ok()) return have_n.error().Context("reading the neighbours of " + dev);
    const auto want_n = OnLink(desired.neighbours, link);
    std::set<NeighKey> failed_n;
    ApplyEntries(
        PlanNeighbours(want_n, *have_n), "neighbour", "neighbour", dev,
        [this](const kernel::Neighbour& n) { return rtnl_.DeleteNeighbour(n); },
        [this, &failed_n](const kernel::Neighbour& n) {
          Status s = rtnl_.ReplaceNeighbour(n);
          if (!s.ok()) failed_n.insert({n.link_index, n.ip});
          return s;
        },
        stats.neighbours_missing, stats);
    IndexWanted<NeighKey, kernel::Neighbour>(neighbours_, want_n, failed_n,
                                             [](const kernel::Neighbour& n) {
                                               return NeighKey{n.link_index, n.ip};
                                             });

    auto have_f = rtnl_.ListFdb(link);
    if (!have_f.ok()) return have_f.error().Context("reading the FDB of " + dev);
    const auto want_f = OnLink(desired.fdb, link);
    std::set<FdbKey> failed_f;
    ApplyEntries(
        PlanFdb(want_f, *have_f), "fdb entry", "fdb", dev,
        [this](const kernel::FdbEntry& e) { return rtnl_.DeleteFdb(e); },
        [this, &failed_f](const kernel::FdbEntry& e) {
          Status s = rtnl_.ReplaceFdb(e);
          if (!s.ok()) failed_f.insert({e.link_index, e.mac});
          return s;
        },
        stats.fdb_missing, stats);
    IndexWanted<FdbKey, kernel::FdbEntry>(fdb_, want_f, failed_f, [](const kernel::FdbEntry& e) {
      return FdbKey{e.link_index, e.mac};
    });
  }
  CountMissing();
  indexed_ = true;
  full_pass_needed_ = false;

  for (const auto& f : failures_logged_) {
    if (!failures_now_.count(f)) log::Info("recovered: " + f.substr(0, f.find(" failed: ")));
  }
  failures_logged_ = failures_now_;
  return stats;
}

EntryTotals Reconciler::totals() const {
  EntryTotals t;
  t.routes = routes_.size();
  t.neighbours = neighbours_.size();
  t.fdb = fdb_.size();
  t.routes_missing = missing_[0];
  t.neighbours_missing = missing_[1];
  t.fdb_missing = missing_[2];
  return t;
}

void Reconciler::CountMissing() {
  missing_ = {0, 0, 0};
  for (const auto& [k, v] : routes_) missing_[0] += v.state != State::kInstalled;
  for (const auto& [k, v] : neighbours_) missing_[1] += v.state != State::kInstalled;
  for (const auto& [k, v] : fdb_) missing_[2] += v.state != State::kInstalled;
}

namespace {

// Keeps a count of the slots not installed right across one change of one slot, whatever path
// the change takes out.
template <typename Map>
class MissingGuard {
 public:
  MissingGuard(const Map& map, const typename Map::key_type& key, int& count)
      : map_(map), key_(key), count_(count), was_(Missing()) {}
  ~MissingGuard() { count_ += Missing() - was_; }
  MissingGuard(const MissingGuard&) = delete;
  MissingGuard& operator=(const MissingGuard&) = delete;

 private:
  int Missing() const {
    auto it = map_.find(key_);
    return it != map_.end() && it->second.state != decltype(it->second.state)::kInstalled;
  }
  const Map& map_;
  const typename Map::key_type& key_;
  int& count_;
  int was_;
};

// Pairs up one peer's entries before and after by key: (old, new), either may be null.
template <typename E, typename Key, typename KeyOf>
std::map<Key, std::pair<const E*, const E*>> Pair(const std::vector<E>& before,
                                                  const std::vector<E>& after, KeyOf key_of) {
  std::map<Key, std::pair<const E*, const E*>> out;
  for (const E& e : before) out[key_of(e)].first = &e;
  for (const E& e : after) out[key_of(e)].second = &e;
  return out;
}

}  // namespace

ReconcileStats Reconciler::ApplyDelta(const backend::DesiredState& before,
                                      const backend::DesiredState& after) {
  ReconcileStats stats;
  std::map<std::string, int> problems;
  for (const auto& p : before.problems) --problems[p];
  for (const auto& p : after.problems) ++problems[p];
  if (!indexed_) {
    // Nothing to plan against yet: the first full pass does it all.
    full_pass_needed_ = true;
    CountProblems(problems);
    return stats;
  }
  auto route_pairs =
      Pair<kernel::Route, RouteKey>(before.routes, after.routes, [](const kernel::Route& r) {
        return RouteKey{r.table, r.dst};
      });
  auto neigh_pairs = Pair<kernel::Neighbour, NeighKey>(before.neighbours, after.neighbours,
                                                       [](const kernel::Neighbour& n) {
                                                         return NeighKey{n.link_index, n.ip};
                                                       });
  auto fdb_pairs =
      Pair<kernel::FdbEntry, FdbKey>(before.fdb, after.fdb, [](const kernel::FdbEntry& e) {
        return FdbKey{e.link_index, e.mac};
      });
  // Removals first, as a full pass does: a MAC that moved to another peer is free again.
  for (int removals = 1; removals >= 0; --removals) {
    for (const auto& [key, p] : route_pairs) {
      if ((p.second == nullptr) == (removals == 1))
        DeltaRoute(key, p.first, p.second, problems, stats);
    }
    for (const auto& [key, p] : neigh_pairs) {
      if ((p.second == nullptr) == (removals == 1)) DeltaNeighbour(key, p.first, p.second, stats);
    }
    for (const auto& [key, p] : fdb_pairs) {
      if ((p.second == nullptr) == (removals == 1)) DeltaFdb(key, p.first, p.second, stats);
    }
  }
  CountProblems(problems);
  failures_logged_.insert(failures_now_.begin(), failures_now_.end());
  failures_now_.clear();
  return stats;
}

void Reconciler::DeltaRoute(const RouteKey& key, const kernel::Route* old, const kernel::Route* now,
                            std::map<std::string, int>& problems, ReconcileStats& stats) {
  if (old != nullptr && now != nullptr && *old == *now) return;
  MissingGuard guard(routes_, key, missing_[0]);
  auto it = routes_.find(key);
  if (old != nullptr && it == routes_.end()) old = nullptr;  // not counted: nothing to undo
  // Another peer wants the same destination: which one wins is the full pass's decision.
  const uint32_t others = it == routes_.end() ? 0 : it->second.claims - (old != nullptr ? 1 : 0);
  if (others > 0) {
    full_pass_needed_ = true;
    if (old != nullptr) --it->second.claims;
    if (now != nullptr) ++it->second.claims;
    return;
  }
  auto unblock = [&] {
    if (auto c = conflicts_.find(key); c != conflicts_.end()) {
      --problems[c->second];
      conflicts_.erase(c);
    }
  };
  if (now == nullptr) {
    // Withdrawn: ours goes, a blocked one stops being a problem.
    unblock();
    if (it->second.state == State::kInstalled) {
      const kernel::Route& r = it->second.entry;
      Status s = rtnl_.DeleteRoute(r);
      if (s.ok() || s.error().code == Error::Code::kNotFound) {
        ++stats.removed;
        ++stats.by_kind["route_removed"];
        s = Status::Ok();
      }
      Report(s.ok(), "route removed: " + r.ToString(Dev(r.link_index)), s, stats);
    }
    routes_.erase(it);
    return;
  }
  if (it == routes_.end()) it = routes_.emplace(key, Slot<kernel::Route>{}).first;
  Slot<kernel::Route>& slot = it->second;
  slot.claims = 1;
  // What the kernel has there as far as the last pass and our changes since know.
  std::vector<kernel::Route> actual = connected_;
  const bool ours_in = slot.state == State::kInstalled;
  if (ours_in) actual.push_back(slot.entry);
  auto [lo, hi] = foreign_.equal_range(key);
  for (auto f = lo; f != hi; ++f) actual.push_back(f->second);
  const kernel::Route was = slot.entry;
  RoutePlan plan = PlanRoutes({*now}, actual);
  unblock();
  slot.entry = *now;
  for (const kernel::Route& r : plan.remove) {
    // Ours, at another metric or in the way of nothing we may install.
    Status s = rtnl_.DeleteRoute(r);
    if (s.ok() || s.error().code == Error::Code::kNotFound) {
      ++stats.removed;
      ++stats.by_kind["route_removed"];
      s = Status::Ok();
    }
    Report(s.ok(), "route removed: " + r.ToString(Dev(r.link_index)), s, stats);
  }
  if (!plan.conflicts.empty()) {
    std::string line = Describe(plan.conflicts.front());
    ++problems[line];
    conflicts_.emplace(key, std::move(line));
    slot.state = State::kBlocked;
    ++stats.routes_missing;
    return;
  }
  if (plan.replace.empty()) {
    slot.state = State::kInstalled;  // already there as wanted
    return;
  }
  const kernel::Route& r = plan.replace.front();
  const bool adopt = !plan.adopted.empty();
  const bool repair = ours_in && was.metric == r.metric;
  // Into a slot we believe empty: exclusively, so that another program's route put there since
  // the last pass is not overwritten; the next full pass sorts it out.
  Status s = adopt || repair ? rtnl_.ReplaceRoute(r) : rtnl_.AddRoute(r);
  if (!s.ok() && s.error().code == Error::Code::kAlreadyExists) {
    full_pass_needed_ = true;
    slot.state = State::kMissing;
    ++stats.routes_missing;
    return;
  }
  if (s.ok()) {
    slot.state = State::kInstalled;
    ++(repair || adopt ? stats.repaired : stats.added);
    ++stats.by_kind[repair || adopt ? "route_repaired" : "route_added"];
    if (adopt) {
      for (auto f = foreign_.lower_bound(key); f != foreign_.upper_bound(key); ++f) {
        if (f->second == plan.adopted.front()) {
          foreign_.erase(f);
          break;
        }
      }
    }
  } else {
    slot.state = State::kMissing;
    ++stats.routes_missing;
  }
  std::string what = "route added: " + r.ToString(Dev(r.link_index));
  if (adopt) {
    what = "route adopted: " + r.ToString(Dev(r.link_index)) + " (was " +
           plan.adopted.front().ToString(Dev(plan.adopted.front().link_index)) +
           ": the same path, as flanneld installs it; replaced in place)";
  } else if (repair) {
    what = "route repaired: " + r.ToString(Dev(r.link_index)) +
           " (was: " + was.ToString(Dev(was.link_index)) + ")";
  }
  Report(s.ok(), what, s, stats);
}

void Reconciler::DeltaNeighbour(const NeighKey& key, const kernel::Neighbour* old,
                                const kernel::Neighbour* now, ReconcileStats& stats) {
  if (old != nullptr && now != nullptr && *old == *now) return;
  if (!owned_.count(key.first)) return;  // a full pass would not touch that link either
  MissingGuard guard(neighbours_, key, missing_[1]);
  auto it = neighbours_.find(key);
  if (old != nullptr && it == neighbours_.end()) old = nullptr;
  const uint32_t others =
      it == neighbours_.end() ? 0 : it->second.claims - (old != nullptr ? 1 : 0);
  if (others > 0) {
    full_pass_needed_ = true;
    if (old != nullptr) --it->second.claims;
    if (now != nullptr) ++it->second.claims;
    return;
  }
  const std::string dev = Dev(key.first);
  if (now == nullptr) {
    if (it->second.state == State::kInstalled) {
      Status s = rtnl_.DeleteNeighbour(it->second.entry);
      if (s.ok() || s.error().code == Error::Code::kNotFound) {
        ++stats.removed;
        ++stats.by_kind["neighbour_removed"];
        s = Status::Ok();
      }
      Report(s.ok(), "neighbour removed: " + it->second.entry.ToString(dev), s, stats);
    }
    neighbours_.erase(it);
    return;
  }
  if (it == neighbours_.end()) it = neighbours_.emplace(key, Slot<kernel::Neighbour>{}).first;
  Slot<kernel::Neighbour>& slot = it->second;
  slot.claims = 1;
  const bool satisfied = slot.state == State::kInstalled && slot.entry.mac == now->mac;
  slot.entry = *now;
  if (satisfied) return;
  Status s = rtnl_.ReplaceNeighbour(*now);
  if (s.ok()) {
    ++stats.added;
    ++stats.by_kind["neighbour_set"];
  } else {
    ++stats.neighbours_missing;
  }
  slot.state = s.ok() ? State::kInstalled : State::kMissing;
  Report(s.ok(), "neighbour set: " + now->ToString(dev), s, stats);
}

void Reconciler::DeltaFdb(const FdbKey& key, const kernel::FdbEntry* old,
                          const kernel::FdbEntry* now, ReconcileStats& stats) {
  if (old != nullptr && now != nullptr && *old == *now) return;
  if (!owned_.count(key.first)) return;
  MissingGuard guard(fdb_, key, missing_[2]);
  auto it = fdb_.find(key);
  if (old != nullptr && it == fdb_.end()) old = nullptr;
  const uint32_t others = it == fdb_.end() ? 0 : it->second.claims - (old != nullptr ? 1 : 0);
  if (others > 0) {
    // Two peers announce one MAC (a cloned VM): the full pass picks, as PlanFdb does.
    full_pass_needed_ = true;
    if (old != nullptr) --it->second.claims;
    if (now != nullptr) ++it->second.claims;
    return;
  }
  const std::string dev = Dev(key.first);
  auto remove = [&](const kernel::FdbEntry& e) {
    Status s = rtnl_.DeleteFdb(e);
    if (s.ok() || s.error().code == Error::Code::kNotFound) {
      ++stats.removed;
      ++stats.by_kind["fdb_removed"];
      s = Status::Ok();
    }
    Report(s.ok(), "fdb entry removed: " + e.ToString(dev), s, stats);
  };
  if (now == nullptr) {
    if (it->second.state == State::kInstalled) remove(it->second.entry);
    fdb_.erase(it);
    return;
  }
  if (it == fdb_.end()) it = fdb_.emplace(key, Slot<kernel::FdbEntry>{}).first;
  Slot<kernel::FdbEntry>& slot = it->second;
  slot.claims = 1;
  if (slot.state == State::kInstalled) {
    if (slot.entry == *now) return;
    remove(slot.entry);  // the same MAC pointing elsewhere (the peer moved)
  }
  slot.entry = *now;
  Status s = rtnl_.ReplaceFdb(*now);
  if (s.ok()) {
    ++stats.added;
    ++stats.by_kind["fdb_set"];
  } else {
    ++stats.fdb_missing;
  }
  slot.state = s.ok() ? State::kInstalled : State::kMissing;
  Report(s.ok(), "fdb entry set: " + now->ToString(dev), s, stats);
}

bool Reconciler::Unexpected(const kernel::KernelEvent& e) const {
  using Kind = kernel::KernelEvent::Kind;
  if (!indexed_) return true;
  switch (e.kind) {
    case Kind::kRoute: {
      const auto* r = std::get_if<kernel::Route>(&e.object);
      if (r == nullptr) return true;
      if (r->table != kernel::kMainTable) return false;  // tartan works in the main table only
      // Another program's route may block or free one of ours.
      if (r->protocol != kernel::kTartanRouteProtocol) return true;
      auto it = routes_.find(RouteKey{r->table, r->dst});
      const bool ours_as_wanted =
          it != routes_.end() && it->second.state == State::kInstalled && it->second.entry == *r;
      // Added: unexpected unless it is what we installed. Deleted: unexpected when it was.
      return e.removed ? ours_as_wanted : !ours_as_wanted;
    }
    case Kind::kNeighbour: {
      const auto* n = std::get_if<kernel::Neighbour>(&e.object);
      if (n == nullptr) return true;
      if (!owned_.count(n->link_index)) return false;
      auto it = neighbours_.find(NeighKey{n->link_index, n->ip});
      const bool as_wanted = it != neighbours_.end() && it->second.state == State::kInstalled &&
                             it->second.entry.mac == n->mac;
      return e.removed ? as_wanted : !(as_wanted && n->permanent());
    }
    case Kind::kNexthop: {
      // The kernel takes the routes through a nexthop away with it, silently: unless it was
      // one no route used (dropped by us), the kernel must be read again.
      const auto* nh = std::get_if<kernel::Nexthop>(&e.object);
      if (nh == nullptr) return true;
      if (!e.removed || nh->protocol != kernel::kTartanRouteProtocol) return false;
      return !rtnl_.NexthopRemovalExpected(nh->id);
    }
    case Kind::kFdb: {
      const auto* f = std::get_if<kernel::FdbEntry>(&e.object);
      if (f == nullptr) return true;
      if (!owned_.count(f->link_index)) return false;
      auto it = fdb_.find(FdbKey{f->link_index, f->mac});
      const bool as_wanted = it != fdb_.end() && it->second.state == State::kInstalled &&
                             it->second.entry.dst == f->dst;
      return e.removed ? as_wanted : !as_wanted;
    }
    default:
      return true;
  }
}

}  // namespace tartan::agent
