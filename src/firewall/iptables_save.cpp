#include "firewall/iptables_save.hpp"

namespace tartan::firewall {
namespace {

bool IsBlank(char c) { return c == ' ' || c == '\t' || c == '\r'; }

std::string_view Trim(std::string_view s) {
  while (!s.empty() && IsBlank(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsBlank(s.back())) s.remove_suffix(1);
  return s;
}

// Splits "NAME rest" at the first blank.
std::pair<std::string_view, std::string_view> FirstWord(std::string_view s) {
  size_t i = 0;
  while (i < s.size() && !IsBlank(s[i])) ++i;
  return {s.substr(0, i), Trim(s.substr(i))};
}

}  // namespace

const std::vector<std::string>& TableDump::Rules(const std::string& chain) const {
  static const std::vector<std::string> kNone;
  auto it = chains.find(chain);
  return it == chains.end() ? kNone : it->second.rules;
}

std::string NormalizeRule(std::string_view rule) {
  std::string out;
  out.reserve(rule.size());
  bool blank = false;
  for (char c : Trim(rule)) {
    if (IsBlank(c)) {
      blank = true;
      continue;
    }
    if (blank && !out.empty()) out.push_back(' ');
    blank = false;
    out.push_back(c);
  }
  return out;
}

Result<TableDump> ParseIptablesSave(std::string_view text, std::string_view table) {
  TableDump dump;
  dump.table = std::string(table);
  bool in_table = false;
  bool seen_table = false;
  size_t line_no = 0;
  while (!text.empty()) {
    size_t nl = text.find('\n');
    std::string_view line = Trim(text.substr(0, nl));
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    ++line_no;
    auto bad = [&](const std::string& why) {
      return Error::InvalidArgument("iptables-save line " + std::to_string(line_no) + ": " + why +
                                    ": " + std::string(line.substr(0, 200)));
    };
    if (line.empty() || line.front() == '#') continue;
    if (line.front() == '*') {
      if (in_table) return bad("table started before COMMIT");
      if (line.substr(1) != table) return bad("unexpected table (asked for " + dump.table + ")");
      if (seen_table) return bad("table listed twice");
      in_table = seen_table = true;
      continue;
    }
    if (!in_table) return bad("outside a table");
    if (line == "COMMIT") {
      in_table = false;
      continue;
    }
    if (line.front() == ':') {
      auto [name, rest] = FirstWord(line.substr(1));
      if (name.empty()) return bad("chain without a name");
      auto [policy, counters] = FirstWord(rest);
      if (policy.empty()) return bad("chain without a policy");
      auto& chain = dump.chains[std::string(name)];
      chain.policy = std::string(policy);
      continue;
    }
    if (line.substr(0, 3) == "-A " || line.substr(0, 3) == "-A\t") {
      auto [name, rule] = FirstWord(Trim(line.substr(3)));
      auto it = dump.chains.find(std::string(name));
      if (it == dump.chains.end()) return bad("rule for an undeclared chain");
      it->second.rules.push_back(NormalizeRule(rule));
      continue;
    }
    return bad("unrecognised line");
  }
  if (in_table) return Error::InvalidArgument("iptables-save output ends without COMMIT");
  return dump;
}

}  // namespace tartan::firewall
