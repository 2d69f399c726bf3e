// The parts of `iptables-save -t <table>` output tartan decides on: which chains exist and the
// rules of each chain, in order, in the tool's own canonical text.
//
// Rules are kept as the text after "-A <chain> " with runs of blanks collapsed, which is the
// form tartan writes its desired rules in (rules.hpp), so "is this rule there" is a string
// compare. That holds because iptables-save prints a rule the same way whatever order its
// options were given in (addresses first, then matches in order, then the target), for both
// the nf_tables and the legacy backends.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"

namespace tartan::firewall {

struct ChainDump {
  std::string policy;  // "ACCEPT"/"DROP" for built-in chains, "-" for user chains
  std::vector<std::string> rules;
};

struct TableDump {
  std::string table;                        // "nat"
  std::map<std::string, ChainDump> chains;  // every chain declared, even empty ones

  bool HasChain(const std::string& chain) const { return chains.count(chain) != 0; }
  // The chain's rules; empty when the chain does not exist.
  const std::vector<std::string>& Rules(const std::string& chain) const;
};

// Parses the output of `iptables-save -t <table>`. Empty output (the table is not loaded in
// this namespace, which iptables-nft reports by printing nothing) yields an empty dump of
// `table`. Errors: a different table, a rule for an undeclared chain, or a malformed line.
Result<TableDump> ParseIptablesSave(std::string_view text, std::string_view table);

// Collapses blank runs to one space and trims; applied to both sides of every comparison.
std::string NormalizeRule(std::string_view rule);

}  // namespace tartan::firewall
