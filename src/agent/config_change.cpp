#include "agent/config_change.hpp"

#include <vector>

namespace tartan::agent {
namespace {

std::string Show(bool b) { return b ? "true" : "false"; }
std::string Show(uint8_t len) { return std::to_string(len); }
template <typename T>
std::string Show(const std::optional<T>& v) {
  return v ? v->ToString() : "(none)";
}
std::string Show(const net::Ip4& ip) { return ip.ToString(); }
std::string Show(const net::Ip6& ip) { return ip.ToString(); }
// The Backend object, cut: it comes from etcd. Dumped ASCII-only, it needs no escaping.
std::string Show(const nlohmann::json& backend) {
  constexpr size_t kMax = 120;
  std::string text = backend.dump(-1, ' ', true, nlohmann::json::error_handler_t::replace);
  if (text.size() <= kMax) return text;
  return text.substr(0, kMax) + "...(" + std::to_string(text.size()) + " bytes)";
}

template <typename T>
void Compare(std::vector<std::string>& changes, const char* field, const T& before,
             const T& after) {
  if (before == after) return;
  changes.push_back(std::string(field) + " " + Show(before) + " -> " + Show(after));
}

std::string Join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : ", ") + s;
  return out;
}

}  // namespace

ConfigChange DecideConfigChange(const model::NetworkConfig& running,
                                const model::NetworkConfig& stored, const net::Ip4Net& own_subnet) {
  // Fields the running host is built on: its subnet, subnet.env, the routes, the masquerade
  // and forward rules, the backend's devices. Changing any of them live would mean moving
  // every pod of the host, which only a restart (and the pods' restart) can do.
  std::vector<std::string> structural;
  Compare(structural, "EnableIPv4", running.enable_ipv4, stored.enable_ipv4);
  Compare(structural, "EnableIPv6", running.enable_ipv6, stored.enable_ipv6);
  Compare(structural, "EnableNFTables", running.enable_nftables, stored.enable_nftables);
  Compare(structural, "Network", running.network, stored.network);
  Compare(structural, "SubnetLen", running.subnet_len, stored.subnet_len);
  Compare(structural, "IPv6Network", running.ipv6_network, stored.ipv6_network);
  Compare(structural, "IPv6SubnetLen", running.ipv6_subnet_len, stored.ipv6_subnet_len);
  if (running.backend != stored.backend || running.backend_type != stored.backend_type) {
    structural.push_back("Backend " + Show(running.backend) + " -> " + Show(stored.backend));
  }

  // The allocation range only decides which subnets new leases get.
  std::vector<std::string> range;
  Compare(range, "SubnetMin", running.subnet_min, stored.subnet_min);
  Compare(range, "SubnetMax", running.subnet_max, stored.subnet_max);
  Compare(range, "IPv6SubnetMin", running.ipv6_subnet_min, stored.ipv6_subnet_min);
  Compare(range, "IPv6SubnetMax", running.ipv6_subnet_max, stored.ipv6_subnet_max);

  if (structural.empty() && range.empty()) return {};

  if (!structural.empty()) {
    std::string why =
        "the running subnet, routes, firewall rules and backend devices were set up from the "
        "old value; the change takes effect when tartand restarts";
    if (!stored.Fits(own_subnet)) {
      why += ", and this host's subnet " + own_subnet.ToString() +
             " does not fit the new config: it will get another subnet then, and its pods new "
             "addresses";
    }
    if (stored.enable_ipv6 || !stored.enable_ipv4 || stored.enable_nftables) {
      why += "; note that tartand would refuse the new config (it runs IPv4 with iptables only)";
    }
    std::vector<std::string> all = structural;
    all.insert(all.end(), range.begin(), range.end());
    return {ConfigChange::Action::kRestartNeeded,
            "network config changed in etcd (" + Join(all) + "): restart needed: " + why};
  }

  if (!stored.Fits(own_subnet)) {
    return {ConfigChange::Action::kRestartNeeded,
            "network config changed in etcd (" + Join(range) + "): this host's subnet " +
                own_subnet.ToString() +
                " is outside the new range; it stays in use (nothing is cut off), and a restart "
                "would move the host to a subnet inside the range, giving its pods new addresses"};
  }
  return {ConfigChange::Action::kApply,
          "network config changed in etcd (" + Join(range) + "): applied; this host's subnet " +
              own_subnet.ToString() + " is inside the new range, which governs leases from now on"};
}

}  // namespace tartan::agent
