// `tartanctl status`: what etcd holds for the network, as an operator reads it -- the config,
// one row per key under <prefix>/subnets, and the anomalies a person would otherwise find by
// comparing etcdctl output in their head.
//
// Split in two: reading etcd (status_read.hpp) fills a StatusInput with raw keys, values and
// TTLs; everything else here is a pure function of that input, unit-tested on canned data.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "model/network_config.hpp"

namespace tartan::ctl {

// Leases closer than this to their end are flagged: a healthy agent renews an hour before
// (flanneld's default --subnet-lease-renew-margin), so one that got here is not renewing.
inline constexpr int64_t kExpiringSeconds = 3600;

// One key under <prefix>/subnets as etcd holds it.
struct RawEntry {
  std::string key;    // full key
  std::string value;  // as stored
  // Whether the key expires (a v3 key attached to an etcd lease, a v2 key with a TTL). A key
  // that does not is a reservation.
  bool has_ttl = false;
  // Seconds left when read; 0 when the etcd lease is already gone. Unset when unknown.
  std::optional<int64_t> ttl_seconds;
};

struct StatusInput {
  std::string api;                         // "v2" or "v3": the key space read
  std::string endpoint;                    // the etcd endpoint that answered
  std::string prefix;                      // --etcd-prefix
  std::optional<std::string> config_text;  // <prefix>/config; nullopt when absent
  std::vector<RawEntry> entries;
};

struct LeaseRow {
  std::string key;     // last segment of the key, as written
  std::string subnet;  // "10.5.52.0/24"; "" when the key is not a subnet key
  std::string public_ip;
  std::string backend;   // BackendType; "udp" when absent (flannel's udp writes none)
  std::string vtep_mac;  // vxlan's BackendData.VtepMAC; "" otherwise
  bool reservation = false;
  std::optional<int64_t> ttl_seconds;
  // The flannel era whose JSON shape the value has: "v0.11" (no PublicIPv6 field, as flanneld
  // <= v0.11 on etcd v2 writes it), "v0.12+" (PublicIPv6 always present), "" when unparseable.
  std::string shape;
  std::vector<std::string> problems;  // this row's anomalies, also in StatusReport::anomalies
};

struct StatusReport {
  std::string api;
  std::string endpoint;
  std::string prefix;
  std::optional<model::NetworkConfig> config;
  std::string config_text;   // as stored ("" when absent)
  std::string config_error;  // why the config is missing or invalid; "" when fine
  std::vector<LeaseRow> leases;
  // Every anomaly, one line each, naming the key(s) concerned.
  std::vector<std::string> anomalies;
};

StatusReport AnalyzeStatus(const StatusInput& input);

// "23h59m", "45m10s", "expired".
std::string FormatTtl(int64_t seconds);
// The human form: config summary, the lease table, then "anomaly: ..." lines (or "no anomalies").
std::string FormatStatusTable(const StatusReport& report);
// --output=json: one object {api, endpoint, prefix, config, config_error, leases[], anomalies[]}.
std::string FormatStatusJson(const StatusReport& report);

}  // namespace tartan::ctl
