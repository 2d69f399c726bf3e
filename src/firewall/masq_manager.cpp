#include "firewall/masq_manager.hpp"

#include <cstdlib>

namespace tartan::firewall {
namespace {

// The first lines of a tool's stderr, enough to act on without flooding the log.
std::string Quote(const std::string& err) {
  std::string s = err.substr(0, 500);
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  for (char& c : s) {
    if (c == '\n') c = ';';
  }
  return s.empty() ? "(no message)" : s;
}

}  // namespace

Result<MasqManager> MasqManager::Create(net::Ip4Net network, net::Ip4Net pod_subnet,
                                        MasqOptions options,
                                        std::unique_ptr<CommandRunner> runner) {
  if (network.prefix_len() == 0) {
    // iptables-save drops "-s 0.0.0.0/0", so such rules could never be found again.
    return Error::InvalidArgument("ip-masq: Network " + network.ToString() + " is too wide");
  }
  if (!network.Contains(pod_subnet)) {
    return Error::InvalidArgument("ip-masq: subnet " + pod_subnet.ToString() +
                                  " is not inside Network " + network.ToString());
  }
  std::string save = options.save_command;
  std::string restore = options.restore_command;
  if (!runner) {
    const char* path = std::getenv("PATH");
    const std::string p = path ? path : "/usr/sbin:/usr/bin:/sbin:/bin";
    for (std::string* tool : {&save, &restore}) {
      auto found = FindExecutable(*tool, p);
      if (!found) {
        return Error::FailedPrecondition("ip-masq: " + *tool +
                                         " not found in PATH (Debian: apt install iptables)");
      }
      *tool = *found;
    }
    runner = std::make_unique<SpawnCommandRunner>();
  }
  // Asked only when a MASQUERADE rule is to be written: a rule the tool cannot parse would
  // fail the whole nat table's restore, and the node would keep no masquerade rule at all.
  bool random_fully = options.random_fully && options.masquerade;
  std::string note;
  if (random_fully) {
    const RandomFullySupport support = DetectRandomFully(*runner, restore);
    if (!support.supported) {
      random_fully = false;
      note = "MASQUERADE without --random-fully: " + support.why_not;
    }
  }
  std::vector<TableRules> tables;
  if (options.masquerade || options.keep_pod_source) {
    tables.push_back(NatRules(network, pod_subnet,
                              NatRuleOptions{.masquerade = options.masquerade,
                                             .keep_pod_source = options.keep_pod_source,
                                             .random_fully = random_fully}));
  }
  if (options.forward_rules) tables.push_back(ForwardRules(network));
  MasqManager m(std::move(tables), std::move(save), std::move(restore), options.lock_wait_seconds,
                std::move(runner));
  m.random_fully_note_ = std::move(note);
  return m;
}

Result<TableDump> MasqManager::Read(const std::string& table) {
  auto out = runner_->Run({save_, "-t", table}, {});
  if (!out.ok()) return out.error();
  if (out->exit_code != 0) {
    return Error::Unavailable(save_ + " -t " + table + " exited " + std::to_string(out->exit_code) +
                              ": " + Quote(out->err));
  }
  auto dump = ParseIptablesSave(out->out, table);
  if (!dump.ok()) return dump.error().Context(save_ + " -t " + table);
  return dump;
}

Status MasqManager::Apply(const TablePlan& plan) {
  auto out =
      runner_->Run({restore_, "--noflush", "--wait=" + std::to_string(lock_wait_)}, plan.script);
  if (!out.ok()) return out.error();
  if (out->exit_code != 0) {
    return Error::Unavailable(restore_ + " --noflush (table " + plan.table + ") exited " +
                              std::to_string(out->exit_code) + ": " + Quote(out->err));
  }
  return {};
}

Result<std::vector<TablePlan>> MasqManager::Plan() {
  std::vector<TablePlan> plans;
  for (const auto& t : tables_) {
    auto dump = Read(t.table);
    if (!dump.ok()) return dump.error();
    plans.push_back(PlanEnsure(t, *dump));
  }
  return plans;
}

Result<EnsureReport> MasqManager::Run(bool remove) {
  EnsureReport report;
  for (const auto& t : tables_) {
    auto dump = Read(t.table);
    if (!dump.ok()) return dump.error();
    TablePlan plan = remove ? PlanRemove(t, *dump) : PlanEnsure(t, *dump);
    if (plan.empty()) continue;
    Status st = Apply(plan);
    if (!st.ok()) return st.error();
    ++report.restores;
    report.repairs.insert(report.repairs.end(), plan.repairs.begin(), plan.repairs.end());
  }
  return report;
}

Result<EnsureReport> MasqManager::Ensure() { return Run(false); }
Result<EnsureReport> MasqManager::Remove() { return Run(true); }

}  // namespace tartan::firewall
