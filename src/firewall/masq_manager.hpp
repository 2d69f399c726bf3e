// The node's iptables rules for --ip-masq and --iptables-forward-rules, kept in place.
//
//   auto m = MasqManager::Create(network, lease_subnet, {.forward_rules = opts.forward});
//   if (!m.ok()) ...;                       // iptables-save / iptables-restore not in PATH
//   auto r = m->Ensure();                   // at start, then every --iptables-resync seconds
//   for (auto& line : r->repairs) log::Info("iptables repaired: " + line);
//
// Ensure() reads each table once (iptables-save -t <table>) and writes only when something is
// missing or out of place, with one `iptables-restore --noflush` per table that needs it:
// flannel's own chains are replaced atomically, shared rules (the jumps from the built-in
// chains, tartan's keep-pod-source rule) are added only when missing and never duplicated.
// Rules are deliberately not removed when the agent exits (as flannel): a restart must not
// interrupt traffic. Remove() is for tests and tooling.
//
// Not thread-safe: one caller (the agent loop) at a time.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "firewall/command.hpp"
#include "firewall/random_fully.hpp"
#include "firewall/rules.hpp"
#include "net/ip.hpp"

namespace tartan::firewall {

struct MasqOptions {
  bool masquerade = true;       // --ip-masq: flannel's FLANNEL-POSTRTG (nat)
  bool forward_rules = true;    // --iptables-forward-rules: flannel's FLANNEL-FWD (filter)
  bool keep_pod_source = true;  // tartan's first nat POSTROUTING rule (see rules.cpp)
  // MASQUERADE --random-fully when the tools and the kernel support it (checked at Create,
  // see random_fully.hpp); false: never (--ip-masq-fully-random-disable).
  bool random_fully = true;
  // Tool names, looked up in PATH at Create (Debian 12 points these at iptables-nft; the
  // iptables-legacy-* pair works the same).
  std::string save_command = "iptables-save";
  std::string restore_command = "iptables-restore";
  // How long iptables-restore waits for the xtables lock (legacy backend; nft ignores it).
  int lock_wait_seconds = 5;

  // False when no rule is to be kept: then no manager is needed and no tool need be run.
  bool keeps_anything() const { return masquerade || forward_rules || keep_pod_source; }
};

struct EnsureReport {
  std::vector<std::string> repairs;  // empty when everything was in place
  int restores = 0;                  // iptables-restore calls made
  bool changed() const { return restores > 0; }
};

class MasqManager {
 public:
  // `network` is the flannel Network, `pod_subnet` this node's lease; both must be IPv4
  // networks, the subnet inside the network. With no `runner`, the tools are found in PATH
  // (FailedPrecondition naming the missing one otherwise) and run with posix_spawn; an
  // injected runner (tests) gets the tool names as given.
  static Result<MasqManager> Create(net::Ip4Net network, net::Ip4Net pod_subnet,
                                    MasqOptions options = {},
                                    std::unique_ptr<CommandRunner> runner = nullptr);

  // Reads every table with rules to keep and repairs what is missing. On failure nothing is
  // half-applied within one table (iptables-restore commits a table atomically); a table
  // repaired before the failing one stays repaired. Errors name the command and its stderr.
  Result<EnsureReport> Ensure();
  // The plans Ensure() would apply now, without applying them.
  Result<std::vector<TablePlan>> Plan();
  // Deletes everything Ensure() manages. Idempotent.
  Result<EnsureReport> Remove();

  const std::vector<TableRules>& tables() const { return tables_; }
  const std::string& save_command() const { return save_; }
  // Why MASQUERADE goes without --random-fully although it was asked for (the tool or the
  // kernel is too old); empty when it is used or was not asked for. For the log, once.
  const std::string& random_fully_note() const { return random_fully_note_; }
  const std::string& restore_command() const { return restore_; }

 private:
  MasqManager(std::vector<TableRules> tables, std::string save, std::string restore, int lock_wait,
              std::unique_ptr<CommandRunner> runner)
      : tables_(std::move(tables)),
        save_(std::move(save)),
        restore_(std::move(restore)),
        lock_wait_(lock_wait),
        runner_(std::move(runner)) {}

  Result<TableDump> Read(const std::string& table);
  Status Apply(const TablePlan& plan);
  Result<EnsureReport> Run(bool remove);

  std::vector<TableRules> tables_;
  std::string save_;
  std::string restore_;
  int lock_wait_;
  std::unique_ptr<CommandRunner> runner_;
  std::string random_fully_note_;
};

}  // namespace tartan::firewall
