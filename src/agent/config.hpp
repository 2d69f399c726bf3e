// What the agent is told to do: tartand's flags as the agent needs them, already checked and
// converted by main (src/cmd), so that the agent does not depend on the command line's types
// and a test builds one in a few lines.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "agent/iface_select.hpp"
#include "net/ip.hpp"
#include "store/api_select.hpp"

namespace tartan::agent {

struct Config {
  // For /status and the start-up line only: the store is built (and its endpoints parsed) by
  // main's store factory.
  std::string etcd_endpoints;
  // Which key space(s) --etcd-api looks in, for /readyz while the network config is missing.
  store::EtcdApi etcd_api = store::EtcdApi::kAuto;

  IfaceChoice iface;  // --iface, --iface-regex, --iface-can-reach, --public-ip
  std::string subnet_file = "/run/flannel/subnet.env";
  int subnet_lease_renew_margin_minutes = 60;

  bool ip_masq = false;
  bool ip_masq_fully_random_disable = false;
  bool ip_blackhole_route = false;
  bool keep_pod_source = true;
  int iptables_resync_seconds = 5;
  bool iptables_forward_rules = true;

  // The health server; no server when the port is 0.
  net::Ip4 healthz_ip;
  uint16_t healthz_port = 0;

  // Routes are checked against the kernel at least this often, besides every kernel event.
  std::chrono::milliseconds resync_period = std::chrono::seconds(10);
  // Wait between attempts when the config is missing, invalid or names an unusable backend,
  // and between lease acquisition attempts.
  std::chrono::milliseconds retry_period = std::chrono::seconds(5);
  // How often a running agent re-reads the network config to notice a change. One small GET
  // per host: cheap for etcd even at thousands of hosts, and a change is a rare operator action.
  std::chrono::milliseconds config_recheck = std::chrono::seconds(30);
};

}  // namespace tartan::agent
