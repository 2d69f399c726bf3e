#include "firewall/rules.hpp"

#include <algorithm>

namespace tartan::firewall {
namespace {

std::string Comment(std::string_view text) {
  return "-m comment --comment \"" + std::string(text) + "\"";
}

std::string Net(net::Ip4Net n) { return n.Network().ToString(); }

size_t Count(const std::vector<std::string>& rules, const std::string& rule) {
  return static_cast<size_t>(std::count(rules.begin(), rules.end(), rule));
}

bool EndsWithJumpTo(const std::string& rule, const std::string& chain) {
  const std::string suffix = "-j " + chain;
  if (rule.size() < suffix.size()) return false;
  if (rule.compare(rule.size() - suffix.size(), suffix.size(), suffix) != 0) return false;
  return rule.size() == suffix.size() || rule[rule.size() - suffix.size() - 1] == ' ';
}

// Builds one restore script: chain declarations first (a rule may jump to a chain only once
// it is declared), then deletions, then additions, in the order they were asked for.
class ScriptBuilder {
 public:
  void Declare(const std::string& chain) { decls_.push_back(":" + chain + " - [0:0]"); }
  void Delete(const std::string& chain, const std::string& rule) {
    deletes_.push_back("-D " + chain + " " + rule);
  }
  void Insert(const std::string& chain, const std::string& rule) {
    adds_.push_back("-I " + chain + " 1 " + rule);
  }
  void Append(const std::string& chain, const std::string& rule) {
    adds_.push_back(rule.empty() ? "-A " + chain : "-A " + chain + " " + rule);
  }
  void Flush(const std::string& chain) { adds_.push_back("-F " + chain); }
  void DeleteChain(const std::string& chain) { adds_.push_back("-X " + chain); }

  std::string Build(const std::string& table) const {
    if (decls_.empty() && deletes_.empty() && adds_.empty()) return {};
    std::string s = "*" + table + "\n";
    for (const auto* part : {&decls_, &deletes_, &adds_}) {
      for (const auto& line : *part) s += line + "\n";
    }
    s += "COMMIT\n";
    return s;
  }

 private:
  std::vector<std::string> decls_, deletes_, adds_;
};

}  // namespace

TableRules NatRules(net::Ip4Net network, net::Ip4Net pod_subnet, const NatRuleOptions& options) {
  const std::string cluster = Net(network);
  const std::string pod = Net(pod_subnet);
  const std::string masq = Comment(kMasqComment);
  const std::string masquerade =
      options.random_fully ? "-j MASQUERADE --random-fully" : "-j MASQUERADE";
  TableRules t{.table = "nat", .chains = {}, .shared = {}};
  if (options.keep_pod_source) {
    // Pod-to-pod traffic leaves the nat table unchanged before any other POSTROUTING rule can
    // masquerade it: flannel's RETURNs only leave FLANNEL-POSTRTG, so a MASQUERADE placed
    // directly in POSTROUTING (docker's "-s <bip> ! -o docker0") would still SNAT it and the
    // far pod would see the node's address. Packets kube-proxy marked for masquerade
    // (hairpin service traffic) are left to kube-proxy's own rule.
    t.shared.push_back(SharedRule{
        .chain = "POSTROUTING",
        .rule = "-s " + cluster + " -d " + cluster + " -m mark ! --mark " +
                std::string(kKubeProxyMark) + " " + Comment(kKeepSourceComment) + " -j ACCEPT",
        .position = SharedRule::Position::kFirst,
        .owner_marker = Comment(kKeepSourceComment),
        .label = "keep-pod-source rule",
    });
  }
  if (options.masquerade) {
    const std::string chain(kMasqChain);
    t.shared.push_back(SharedRule{
        .chain = "POSTROUTING",
        .rule = masq + " -j " + chain,
        .position = SharedRule::Position::kAnywhere,
        .owner_marker = {},
        .label = "jump to " + chain,
    });
    t.chains.push_back(OwnedChain{
        .name = chain,
        .rules =
            {
                "-m mark --mark " + std::string(kKubeProxyMark) + " " + masq + " -j RETURN",
                "-s " + pod + " -d " + cluster + " " + masq + " -j RETURN",
                "-s " + cluster + " -d " + pod + " " + masq + " -j RETURN",
                "! -s " + cluster + " -d " + pod + " " + masq + " -j RETURN",
                "-s " + cluster + " ! -d 224.0.0.0/4 " + masq + " " + masquerade,
                "! -s " + cluster + " -d " + cluster + " " + masq + " " + masquerade,
            },
    });
  }
  return t;
}

TableRules ForwardRules(net::Ip4Net network) {
  const std::string cluster = Net(network);
  const std::string fwd = Comment(kForwardComment);
  const std::string chain(kForwardChain);
  return TableRules{
      .table = "filter",
      .chains = {OwnedChain{
          .name = chain,
          .rules = {"-s " + cluster + " " + fwd + " -j ACCEPT",
                    "-d " + cluster + " " + fwd + " -j ACCEPT"},
      }},
      .shared = {SharedRule{
          .chain = "FORWARD",
          .rule = fwd + " -j " + chain,
          .position = SharedRule::Position::kAnywhere,
          .owner_marker = {},
          .label = "jump to " + chain,
      }},
  };
}

TablePlan PlanEnsure(const TableRules& want, const TableDump& have) {
  TablePlan plan{.table = want.table, .repairs = {}, .script = {}};
  ScriptBuilder script;
  auto report = [&](const std::string& chain, const std::string& what) {
    plan.repairs.push_back(want.table + " " + chain + ": " + what);
  };

  for (const auto& chain : want.chains) {
    const auto& now = have.Rules(chain.name);
    if (have.HasChain(chain.name) && now == chain.rules) continue;
    if (!have.HasChain(chain.name)) {
      report(chain.name, "chain missing, created");
    } else {
      size_t kept = 0;
      for (const auto& r : chain.rules) kept += Count(now, r) > 0 ? 1 : 0;
      report(chain.name, "rules differ (" + std::to_string(now.size()) + " rules, " +
                             std::to_string(kept) + " of " + std::to_string(chain.rules.size()) +
                             " wanted), rewritten");
    }
    script.Declare(chain.name);
    for (const auto& r : chain.rules) script.Append(chain.name, r);
  }

  for (const auto& s : want.shared) {
    const auto& now = have.Rules(s.chain);
    if (!s.owner_marker.empty()) {
      for (const auto& r : now) {
        if (r != s.rule && r.find(s.owner_marker) != std::string::npos) {
          script.Delete(s.chain, r);
          report(s.chain, "stale " + s.label + " removed: " + r);
        }
      }
    }
    const size_t count = Count(now, s.rule);
    if (s.position == SharedRule::Position::kFirst) {
      if (count == 1 && now.front() == s.rule) continue;
      for (size_t i = 0; i < count; ++i) script.Delete(s.chain, s.rule);
      script.Insert(s.chain, s.rule);
      if (count == 0) {
        report(s.chain, s.label + " missing, inserted at position 1");
      } else if (now.front() != s.rule) {
        const auto pos = std::find(now.begin(), now.end(), s.rule) - now.begin();
        report(s.chain, s.label + " moved back to position 1 (" + std::to_string(pos) +
                            " rule(s) above it, first: " + now.front() + ")");
      } else {
        report(s.chain, s.label + " present " + std::to_string(count) + " times, de-duplicated");
      }
      continue;
    }
    if (count == 0) {
      script.Append(s.chain, s.rule);
      report(s.chain, s.label + " missing, appended");
    } else if (count > 1) {
      for (size_t i = 1; i < count; ++i) script.Delete(s.chain, s.rule);
      report(s.chain, s.label + " present " + std::to_string(count) + " times, de-duplicated");
    }
  }
  plan.script = script.Build(want.table);
  return plan;
}

TablePlan PlanRemove(const TableRules& want, const TableDump& have) {
  TablePlan plan{.table = want.table, .repairs = {}, .script = {}};
  ScriptBuilder script;
  auto report = [&](const std::string& chain, const std::string& what) {
    plan.repairs.push_back(want.table + " " + chain + ": " + what);
  };
  for (const auto& s : want.shared) {
    for (const auto& r : have.Rules(s.chain)) {
      const bool ours =
          r == s.rule || (!s.owner_marker.empty() && r.find(s.owner_marker) != std::string::npos);
      // Jumps to an owned chain are removed below, whatever their comment.
      bool jump = false;
      for (const auto& c : want.chains) jump = jump || EndsWithJumpTo(r, c.name);
      if (ours && !jump) {
        script.Delete(s.chain, r);
        report(s.chain, s.label + " removed");
      }
    }
  }
  for (const auto& c : want.chains) {
    if (!have.HasChain(c.name)) continue;
    for (const auto& [name, chain] : have.chains) {
      if (name == c.name) continue;
      for (const auto& r : chain.rules) {
        if (EndsWithJumpTo(r, c.name)) {
          script.Delete(name, r);
          report(name, "jump to " + c.name + " removed");
        }
      }
    }
    script.Flush(c.name);
    script.DeleteChain(c.name);
    report(c.name, "chain removed");
  }
  plan.script = script.Build(want.table);
  return plan;
}

}  // namespace tartan::firewall
