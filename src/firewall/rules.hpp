// flannel's --ip-masq and forward rules, and tartan's keep-pod-source rule, as data; and the
// pure planning step that turns "what iptables-save shows" into the iptables-restore --noflush
// script that repairs only what is missing.
//
// Every rule is written in iptables-save's canonical text (see iptables_save.hpp), so a rule
// is present exactly when that string appears in the chain.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "firewall/iptables_save.hpp"
#include "net/ip.hpp"

namespace tartan::firewall {

// flannel's names, kept so a node can switch between flanneld and tartand without leaving
// two rule sets behind.
inline constexpr std::string_view kMasqChain = "FLANNEL-POSTRTG";
inline constexpr std::string_view kForwardChain = "FLANNEL-FWD";
inline constexpr std::string_view kMasqComment = "flanneld masq";
inline constexpr std::string_view kForwardComment = "flanneld forward";
// kube-proxy's masquerade mark (KUBE-MARK-MASQ); flannel returns such packets untouched so
// kube-proxy's own POSTROUTING rule masquerades them.
inline constexpr std::string_view kKubeProxyMark = "0x4000/0x4000";
inline constexpr std::string_view kKeepSourceComment = "tartan: keep pod source addresses";

// A chain tartan owns outright: its whole contents are `rules`, in order. Any difference
// makes the chain be rewritten as a whole (declaring a user chain in an iptables-restore
// --noflush script empties it, atomically with the rules that follow).
struct OwnedChain {
  std::string name;
  std::vector<std::string> rules;
};

// One rule tartan keeps in a chain it shares with others (a built-in chain).
struct SharedRule {
  enum class Position {
    kAnywhere,  // appended when missing; duplicates removed
    kFirst,     // must be rule 1 of the chain, exactly once
  };
  std::string chain;
  std::string rule;
  Position position = Position::kAnywhere;
  // Rules of `chain` that carry this text but are not `rule` are tartan's own from an older
  // configuration (another Network) and are deleted. Empty: no such marker.
  std::string owner_marker;
  std::string label;  // for repair reports: "jump to FLANNEL-POSTRTG"
};

struct TableRules {
  std::string table;
  std::vector<OwnedChain> chains;
  std::vector<SharedRule> shared;  // applied in this order
};

struct NatRuleOptions {
  bool masquerade = true;       // flannel's FLANNEL-POSTRTG chain and the jump to it
  bool keep_pod_source = true;  // tartan's ACCEPT at the top of POSTROUTING
  // MASQUERADE --random-fully (iptables >= 1.6.2, Linux >= 3.13), as flannel does when the
  // tool supports it: avoids source-port collisions between pods in conntrack.
  bool random_fully = true;
};

// The nat table: flannel's FLANNEL-POSTRTG rules for `network` and this node's
// `pod_subnet`, and the keep-pod-source rule. Both networks are used in canonical form.
TableRules NatRules(net::Ip4Net network, net::Ip4Net pod_subnet, const NatRuleOptions& options);
// The filter table: flannel's FLANNEL-FWD accepting forwarded traffic from and to `network`.
TableRules ForwardRules(net::Ip4Net network);

// What one iptables-restore call must do to one table.
struct TablePlan {
  std::string table;
  std::vector<std::string> repairs;  // one line per thing found missing or out of place
  std::string script;                // complete iptables-restore --noflush input; empty: no-op
  bool empty() const { return script.empty(); }
};

// The repair of `have` towards `want`: owned chains created or rewritten when they differ,
// shared rules added when missing, moved back to the top when kFirst and something sits above
// them, de-duplicated, stale variants deleted. Nothing else in the table is touched.
TablePlan PlanEnsure(const TableRules& want, const TableDump& have);
// Deletes tartan's shared rules (and their stale variants), every rule jumping to an owned
// chain, and the owned chains themselves; only what `have` shows exists.
TablePlan PlanRemove(const TableRules& want, const TableDump& have);

}  // namespace tartan::firewall
