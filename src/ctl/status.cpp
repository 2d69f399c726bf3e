#include "ctl/status.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <map>
#include <set>

#include "model/lease.hpp"
#include "model/lease_filter.hpp"

namespace tartan::ctl {
namespace {

std::string LastSegment(const std::string& key) {
  const size_t slash = key.rfind('/');
  return slash == std::string::npos ? key : key.substr(slash + 1);
}

// A top-level member of a JSON object matched as Go's decoder would (case-insensitively).
const nlohmann::json* Member(const nlohmann::json& object, std::string_view name) {
  if (!object.is_object()) return nullptr;
  const nlohmann::json* found = nullptr;
  for (auto it = object.begin(); it != object.end(); ++it) {
    if (model::JsonNameMatches(it.key(), name)) found = &it.value();  // the last one wins
  }
  return found;
}

std::string ShapeOf(const std::string& value) {
  auto j = nlohmann::json::parse(value, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return "";
  return Member(j, "PublicIPv6") != nullptr ? "v0.12+" : "v0.11";
}

std::string VtepMacOf(const std::string& backend_data) {
  if (backend_data.empty()) return "";
  auto j = nlohmann::json::parse(backend_data, nullptr, false);
  const nlohmann::json* mac = j.is_discarded() ? nullptr : Member(j, "VtepMAC");
  return mac != nullptr && mac->is_string() ? mac->get<std::string>() : "";
}

std::string Quoted(const std::string& s) { return "\"" + s + "\""; }

}  // namespace

std::string FormatTtl(int64_t seconds) {
  if (seconds <= 0) return "expired";
  const int64_t h = seconds / 3600;
  const int64_t m = (seconds % 3600) / 60;
  const int64_t s = seconds % 60;
  if (h > 0) return std::to_string(h) + "h" + std::to_string(m) + "m";
  if (m > 0) return std::to_string(m) + "m" + std::to_string(s) + "s";
  return std::to_string(s) + "s";
}

StatusReport AnalyzeStatus(const StatusInput& input) {
  StatusReport r;
  r.api = input.api;
  r.endpoint = input.endpoint;
  r.prefix = input.prefix;
  if (!input.config_text) {
    r.config_error = "no network config at " + input.prefix + "/config" +
                     (input.api.empty() ? "" : " (etcd " + input.api + " API)");
  } else {
    r.config_text = *input.config_text;
    auto c = model::NetworkConfig::Parse(*input.config_text);
    if (c.ok()) {
      r.config = std::move(*c);
    } else {
      r.config_error =
          "invalid network config at " + input.prefix + "/config: " + c.error().message;
    }
  }
  if (!r.config_error.empty()) r.anomalies.push_back(r.config_error);

  std::map<std::string, std::vector<size_t>> by_ip;   // public IP -> rows
  std::map<std::string, std::vector<size_t>> by_mac;  // VtepMAC -> rows
  for (const RawEntry& e : input.entries) {
    LeaseRow row;
    row.key = LastSegment(e.key);
    row.reservation = !e.has_ttl;
    row.ttl_seconds = e.ttl_seconds;
    auto problem = [&](std::string text) {
      row.problems.push_back(text);
      r.anomalies.push_back(Quoted(e.key) + ": " + std::move(text));
    };
    auto subnet = model::SubnetKey::Parse(row.key);
    if (!subnet.ok()) {
      problem("unparseable key: " + subnet.error().message);
    } else {
      row.subnet = subnet->ipv4.ToString();
      if (subnet->ipv6) row.subnet += "," + subnet->ipv6->ToString();
      if (r.config) {
        if (auto why = model::LeaseSubnetProblem(*r.config, *subnet)) problem(*why);
      }
    }
    auto attrs = model::LeaseAttrs::Parse(e.value);
    if (!attrs.ok()) {
      problem("unparseable value: " + attrs.error().message);
    } else {
      row.shape = ShapeOf(e.value);
      row.public_ip = attrs->public_ip ? attrs->public_ip->ToString() : "";
      row.backend = attrs->backend_type.empty() ? "udp" : attrs->backend_type;
      row.vtep_mac = VtepMacOf(attrs->backend_data);
    }
    if (e.has_ttl && e.ttl_seconds) {
      if (*e.ttl_seconds <= 0) {
        problem("lease expired (its etcd lease is gone; the key goes with it)");
      } else if (*e.ttl_seconds < kExpiringSeconds) {
        problem("lease expires in " + FormatTtl(*e.ttl_seconds) +
                " (an agent renews an hour before the end: is it running and reaching etcd?)");
      }
    }
    const size_t index = r.leases.size();
    if (!row.public_ip.empty()) by_ip[row.public_ip].push_back(index);
    if (!row.vtep_mac.empty()) by_mac[row.vtep_mac].push_back(index);
    r.leases.push_back(std::move(row));
  }

  // Shared facts: said once per group, and on each row concerned.
  auto group = [&](const std::map<std::string, std::vector<size_t>>& groups,
                   const std::string& what, const std::string& consequence) {
    for (const auto& [value, rows] : groups) {
      if (rows.size() < 2) continue;
      std::string keys;
      for (size_t i : rows) keys += (keys.empty() ? "" : ", ") + r.leases[i].key;
      std::string text = what + " " + value;
      text += " has " + std::to_string(rows.size()) + " leases (" + keys + "): ";
      text += consequence;
      r.anomalies.push_back(text);
      for (size_t i : rows) r.leases[i].problems.push_back(text);
    }
  };
  group(by_ip, "public IP", "peers route both subnets to one host; delete the stale key");
  group(by_mac, "VtepMAC",
        "vxlan peers cannot tell the hosts apart; restart one host's agent "
        "after deleting its flannel.1 device");
  return r;
}

std::string FormatStatusTable(const StatusReport& r) {
  std::string out;
  out += "etcd:     " + (r.endpoint.empty() ? std::string("-") : r.endpoint) + " (API " +
         (r.api.empty() ? std::string("-") : r.api) + ", prefix " + r.prefix + ")\n";
  if (r.config) {
    const auto& c = *r.config;
    out += "network:  " + (c.network ? c.network->ToString() : std::string("-")) + ", SubnetLen " +
           std::to_string(c.subnet_len) + ", SubnetMin " + c.subnet_min.ToString() +
           ", SubnetMax " + c.subnet_max.ToString() + "\n";
    out += "backend:  " + c.backend.dump() + " (type " + c.backend_type + ")\n";
  } else {
    out += "network:  " + r.config_error + "\n";
  }
  out += "leases:   " + std::to_string(r.leases.size()) + "\n\n";

  const std::vector<std::string> head = {"SUBNET", "PUBLIC IP", "BACKEND", "VTEPMAC",
                                         "TTL",    "SHAPE",     "NOTE"};
  std::vector<std::vector<std::string>> rows;
  for (const LeaseRow& l : r.leases) {
    std::string ttl = l.reservation ? "reserved" : l.ttl_seconds ? FormatTtl(*l.ttl_seconds) : "?";
    std::string note = l.problems.empty()
                           ? ""
                           : "! " + std::to_string(l.problems.size()) +
                                 (l.problems.size() == 1 ? " anomaly" : " anomalies");
    rows.push_back({l.subnet.empty() ? l.key : l.subnet, l.public_ip.empty() ? "-" : l.public_ip,
                    l.backend.empty() ? "?" : l.backend, l.vtep_mac.empty() ? "-" : l.vtep_mac, ttl,
                    l.shape.empty() ? "?" : l.shape, note});
  }
  std::vector<size_t> width(head.size());
  for (size_t i = 0; i < head.size(); ++i) width[i] = head[i].size();
  for (const auto& row : rows) {
    for (size_t i = 0; i < row.size(); ++i) width[i] = std::max(width[i], row[i].size());
  }
  auto line = [&](const std::vector<std::string>& cells) {
    std::string s;
    for (size_t i = 0; i < cells.size(); ++i) {
      s += cells[i];
      if (i + 1 < cells.size()) s += std::string(width[i] - cells[i].size() + 2, ' ');
    }
    while (!s.empty() && s.back() == ' ') s.pop_back();
    return s + "\n";
  };
  out += line(head);
  for (const auto& row : rows) out += line(row);
  out += "\n";
  if (r.anomalies.empty()) {
    out += "no anomalies\n";
  } else {
    for (const auto& a : r.anomalies) out += "anomaly: " + a + "\n";
  }
  return out;
}

std::string FormatStatusJson(const StatusReport& r) {
  nlohmann::json j;
  j["api"] = r.api;
  j["endpoint"] = r.endpoint;
  j["prefix"] = r.prefix;
  if (r.config) {
    const auto& c = *r.config;
    j["config"] = {{"network", c.network ? c.network->ToString() : ""},
                   {"subnetLen", c.subnet_len},
                   {"subnetMin", c.subnet_min.ToString()},
                   {"subnetMax", c.subnet_max.ToString()},
                   {"backendType", c.backend_type},
                   {"backend", c.backend}};
  } else {
    j["config"] = nullptr;
  }
  j["configError"] = r.config_error;
  j["leases"] = nlohmann::json::array();
  for (const LeaseRow& l : r.leases) {
    nlohmann::json row = {{"key", l.key},
                          {"subnet", l.subnet},
                          {"publicIP", l.public_ip},
                          {"backendType", l.backend},
                          {"vtepMAC", l.vtep_mac},
                          {"reservation", l.reservation},
                          {"shape", l.shape},
                          {"problems", l.problems}};
    row["ttlSeconds"] = l.ttl_seconds ? nlohmann::json(*l.ttl_seconds) : nlohmann::json(nullptr);
    j["leases"].push_back(std::move(row));
  }
  j["anomalies"] = r.anomalies;
  // Invalid UTF-8 in a garbage key must not make the whole report fail.
  return j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

}  // namespace tartan::ctl
